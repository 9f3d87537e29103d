/** `SparsityUnpackBlockSparseI8`: the dense `[K, N]` weight of int8 strips, dequantized (`unpackBlockSparse`). */
import {KernelDef} from './bridge';
import {UnpackAttrs} from './strips';

export const UNPACK_I8 = 'SparsityUnpackBlockSparseI8';

export const unpackI8Kernel: KernelDef = {
  kernelName: UNPACK_I8,
  run(ctx, {colptr, rowoff, vals, scales}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.i8_unpack_strips__scalar(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), ctx.input(scales),
        bw, k, n, out.ptr);
    return out;
  },
};
