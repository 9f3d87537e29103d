// Magnitude keys, shared by the mask, M:N, pooling and selection kernels: a float32's bits with the
// sign cleared, `bits & ABS_MASK`. Signed i32 compares on keys are exact (keys < 2^31) and order them
// as |w| orders finite values and ±Infinity; every NaN key is above +Infinity's, so NaN ranks as the
// largest magnitude and is never pruned (our NaN policy).

/** Clears a float32's sign bit: its magnitude key. */
// @ts-ignore: decorator
@inline export const ABS_MASK: i32 = 0x7fffffff;
