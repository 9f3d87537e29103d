// The multiply-add of every f32 kernel, acc + a·b. In the relaxed-SIMD build (scripts/build-wasm.mjs
// builds the module twice) it is `f32x4.relaxed_madd`: a fused multiply-add where the CPU has one
// (one rounding instead of two, so results differ from the baseline build in the last bits), and
// the baseline mul + add where it does not. The choice is made at compile time: no branch at run time.

/** acc + a·b, fused in the relaxed-SIMD build. */
// @ts-ignore: decorator
@inline export function f32x4_madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}
