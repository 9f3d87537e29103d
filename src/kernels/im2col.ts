/** The im2col kernel behind `extractPatches` (`src/ops/patches.ts`). */
import {KernelDef} from './bridge';

export const IM2COL = 'SpIm2Col';

/** Attributes: kernel, strides, padding before the first row and column, output size. */
export interface Im2ColAttrs {kh: number; kw: number; sh: number; sw: number; top: number; left: number; oh: number; ow: number}

export const im2colKernel: KernelDef = {
  kernelName: IM2COL,
  run(ctx, {x}, attrs) {
    const {kh, kw, sh, sw, top, left, oh, ow} = attrs as unknown as Im2ColAttrs;
    const [b, h, w, c] = x.shape;
    const out = ctx.output([b, oh, ow, kh * kw * c], 'float32');
    ctx.kernels.f32_im2col_nhwc__scalar(ctx.input(x), b, h, w, c, kh, kw, sh, sw, top, left, oh, ow, out.ptr);
    return out;
  },
};
