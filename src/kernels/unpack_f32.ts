/** `SparsityUnpackBlockSparseF32`: the dense `[K, N]` weight of f32 strips (`unpackBlockSparse`). */
import {KernelDef} from './bridge';
import {UnpackAttrs} from './strips';

export const UNPACK_F32 = 'SparsityUnpackBlockSparseF32';

export const unpackF32Kernel: KernelDef = {
  kernelName: UNPACK_F32,
  run(ctx, {colptr, rowoff, vals}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.f32_unpack_strips__scalar(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), bw, k, n, out.ptr);
    return out;
  },
};
