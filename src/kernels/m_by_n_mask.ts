/** `SparsityMByNMask`: tfmot's M:N mask of a rank-2 or rank-4 weight, in its own layout (`assembly/nm.ts`). */
import {KernelDef} from './bridge';

export const M_BY_N_MASK = 'SparsityMByNMask';

export const mByNMaskKernel: KernelDef = {
  kernelName: M_BY_N_MASK,
  run(ctx, {w}, attrs) {
    const {m, n} = attrs as {m: number; n: number};
    const s = w.shape;
    // [in, out] or [h, w, in, out]: the kernel groups along `in`, one output channel per lane.
    const spatial = s.length === 4 ? s[0] * s[1] : 1;
    const cin = s[s.length - 2];
    // A group longer than the input channels is one group of all of them, keeping at most all:
    // the same mask, with arguments that fit the kernel's int32s.
    const group = Math.min(n, Math.max(cin, 1));
    const keep = Math.min(n - m, group);
    const out = ctx.output(s, 'float32');
    ctx.kernels.f32_m_by_n_mask__simd128(ctx.input(w), spatial, cin, s[s.length - 1], group - keep, group, out.ptr);
    return out;
  },
};
