/**
 * The channel-major depthwise 3x3 convolution (`assembly/dwconv_nchw_f32.ts`): x `[B, C, H, W]`,
 * weights `[C, 9]`, optional bias `[C]`, stride 1 or 2, zero padding before the first row and
 * column (the rest follows from the output size), fused clamp; y `[B, C, OH, OW]`.
 */
import {KernelDef} from './bridge';

export const DWCONV_NCHW = 'DwConvNCHW';

/** Attributes: stride, padding before, output size, the clamp of the fused activation. */
export interface DwConvNchwAttrs {stride: number; padTop: number; padLeft: number; oh: number; ow: number;
  vmin: number; vmax: number}

export const dwConvNchwKernel: KernelDef = {
  kernelName: DWCONV_NCHW,
  run(ctx, {x, weights, bias}, attrs) {
    const {stride, padTop, padLeft, oh, ow, vmin, vmax} = attrs as unknown as DwConvNchwAttrs;
    const [b, c, h, w] = x.shape;
    const y = ctx.output([b, c, oh, ow], 'float32');
    const kern = ctx.kernels;
    const scratch = ctx.scratch(kern.f32_dwconv2d_nchw_scratch_bytes(oh, ow, stride));
    const conv = stride === 1 ? kern.f32_dwconv2d_nchw_3x3s1__simd128 : kern.f32_dwconv2d_nchw_3x3s2__simd128;
    conv(ctx.input(x), b, c, 0, c, h, w, oh, ow, padTop, padLeft, ctx.input(weights), bias ? ctx.input(bias) : 0,
        vmin, vmax, y.ptr, scratch);
    return y;
  },
};
