/**
 * The channel-major depthwise 3x3 convolution (`assembly/dwconv_nchw_f32.ts`): x `[B, C, H, W]`,
 * weights `[C, 9]`, optional bias `[C]`, stride 1 or 2, zero padding before the first row and
 * column (the rest follows from the output size), fused clamp; y `[B, C, OH, OW]`. On threads the
 * channels are split, each thread with its own scratch (each plane is computed as on one thread).
 */
import {KernelDef} from './bridge';
import {evenSplits} from './splits';
import {KernelCall} from './thread_pool';

export const DWCONV_NCHW = 'DwConvNCHW';

/** Attributes: stride, padding before, output size, the clamp of the fused activation. */
export interface DwConvNchwAttrs {stride: number; padTop: number; padLeft: number; oh: number; ow: number;
  vmin: number; vmax: number; threads?: number}

export const dwConvNchwKernel: KernelDef = {
  kernelName: DWCONV_NCHW,
  run(ctx, {x, weights, bias}, attrs) {
    const {stride, padTop, padLeft, oh, ow, vmin, vmax} = attrs as unknown as DwConvNchwAttrs;
    const [b, c, h, w] = x.shape;
    const y = ctx.output([b, c, oh, ow], 'float32');
    const kern = ctx.kernels;
    const scratchBytes = kern.f32_dwconv2d_nchw_scratch_bytes(oh, ow, stride);
    const conv = stride === 1 ? 'f32_dwconv2d_nchw_3x3s1__simd128' : 'f32_dwconv2d_nchw_3x3s2__simd128';
    const xp = ctx.input(x), wp = ctx.weight(weights), bp = bias ? ctx.weight(bias) : 0;
    // Quads of channels go through the lanes together (assembly/dwconv_nchw_f32.ts): split in fours.
    const cuts = evenSplits(c, ctx.threads, 4);
    ctx.parallel(cuts.slice(1).map((c1, t): KernelCall[] => [[conv, xp, b, c, cuts[t], c1, h, w, oh, ow, padTop, padLeft,
      wp, bp, vmin, vmax, y.ptr, ctx.scratch(scratchBytes)]]));
    return y;
  },
};
