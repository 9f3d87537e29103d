/**
 * `Conv2DBackpropFilter` for the wasm backend. tfjs-wasm 4.22 registers no such kernel, so the
 * gradient of every Conv2D fails there ("Kernel 'Conv2DBackpropFilter' not registered for backend
 * 'wasm'") and no convolutional model can be trained on it. We register ours under tfjs's own
 * kernel name, only where tfjs has none, so tfjs's Conv2D gradient finds it.
 */
import {backend_util, getKernel, NamedAttrMap} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';

const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';

interface BackpropFilterAttrs {
  strides: [number, number]|number;
  pad: 'valid'|'same'|number|backend_util.ExplicitPadding;
  dataFormat: 'NHWC'|'NCHW';
  dimRoundingMode?: 'floor'|'round'|'ceil';
  filterShape: [number, number, number, number];
}

export const conv2dBackpropFilterKernel: KernelDef = {
  kernelName: CONV2D_BACKPROP_FILTER,
  backends: ['wasm'],
  run(ctx, {x, dy}, attrs: NamedAttrMap) {
    const {strides, pad, dataFormat, dimRoundingMode, filterShape} = attrs as unknown as BackpropFilterAttrs;
    if (dataFormat !== 'NHWC') {
      throw new Error(`Conv2DBackpropFilter on the wasm backend supports dataFormat 'NHWC' only, but got '${dataFormat}'`);
    }
    const info = backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const out = ctx.output(filterShape, 'float32');
    ctx.kernels.f32_conv2d_backprop_filter_nhwc__simd128(
        ctx.input(x), ctx.input(dy), out.ptr, info.batchSize, info.inHeight, info.inWidth, info.inChannels,
        info.outHeight, info.outWidth, info.outChannels, info.filterHeight, info.filterWidth,
        info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
    return out;
  },
};

/** True when the wasm backend lacks the kernel (so registering ours overrides nothing of tfjs's). */
export function wasmLacksConv2DBackpropFilter(): boolean {
  return getKernel(CONV2D_BACKPROP_FILTER, 'wasm') === undefined;
}
