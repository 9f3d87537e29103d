// Conv2D filter gradient for NHWC float32, which tfjs-wasm 4.22 does not implement (training any
// Conv2D model on the wasm backend fails with "Kernel 'Conv2DBackpropFilter' not registered").
//
// dW[fh, fw, ci, co] = sum over b, oh, ow of x[b, oh*sh + fh - padTop, ow*sw + fw - padLeft, ci] * dy[b, oh, ow, co]
// computed as rank-1 updates of dW rows, vectorised over output channels.

/**
 * @param x       float32 [batch, inH, inW, inC]
 * @param dy      float32 [batch, outH, outW, outC]
 * @param dw      float32 [fH, fW, inC, outC] output (overwritten)
 * @param batch   batch size
 * @param inH     input height
 * @param inW     input width
 * @param inC     input channels
 * @param outH    output height
 * @param outW    output width
 * @param outC    output channels
 * @param fH      filter height
 * @param fW      filter width
 * @param strideH vertical stride
 * @param strideW horizontal stride
 * @param padTop  rows of implicit zero padding above the input
 * @param padLeft columns of implicit zero padding left of the input
 */
export function f32_conv2d_backprop_filter_nhwc__simd128(
    x: usize, dy: usize, dw: usize, batch: i32, inH: i32, inW: i32, inC: i32, outH: i32, outW: i32,
    outC: i32, fH: i32, fW: i32, strideH: i32, strideW: i32, padTop: i32, padLeft: i32): void {
  memory.fill(dw, 0, <usize>(fH * fW * inC * outC) << 2);
  const outC4 = outC & ~3;
  const rowBytes = <usize>outC << 2;
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const dyRow = dy + ((<usize>((b * outH + oh) * outW + ow) * <usize>outC) << 2);
        for (let fh = 0; fh < fH; fh++) {
          const ih = oh * strideH + fh - padTop;
          if (<u32>ih >= <u32>inH) continue;
          for (let fw = 0; fw < fW; fw++) {
            const iw = ow * strideW + fw - padLeft;
            if (<u32>iw >= <u32>inW) continue;
            const xRow = x + ((<usize>((b * inH + ih) * inW + iw) * <usize>inC) << 2);
            let dwRow = dw + ((<usize>((fh * fW + fw) * inC) * <usize>outC) << 2);
            for (let ci = 0; ci < inC; ci++, dwRow += rowBytes) {
              const xs = load<f32>(xRow + (<usize>ci << 2));
              const xv = f32x4.splat(xs);
              let co = 0;
              for (; co < outC4; co += 4) {
                const o = <usize>co << 2;
                v128.store(dwRow + o, f32x4.add(v128.load(dwRow + o), f32x4.mul(xv, v128.load(dyRow + o))));
              }
              for (; co < outC; co++) {
                const o = <usize>co << 2;
                store<f32>(dwRow + o, load<f32>(dwRow + o) + xs * load<f32>(dyRow + o));
              }
            }
          }
        }
      }
    }
  }
}
