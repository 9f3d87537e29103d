// im2col for channels-last f32 images: the patches that turn a k×k convolution into one matmul
// (src/ops/patches.ts). For each output pixel and kernel row, the in-bounds kernel columns are
// kw·C contiguous floats of the input row: one memory.copy, zero fill for the padding around it.

/**
 * dst[n, oy, ox, (i·kw + j)·c + ch] = x[n, oy·sh + i - top, ox·sw + j - left, ch], 0 outside.
 * @param x    float32[b·h·w·c]
 * @param top  padding rows before the first input row
 * @param left padding columns before the first input column
 * @param oh   output rows
 * @param ow   output columns
 * @param dst  float32[b·oh·ow·kh·kw·c]
 */
export function f32_im2col_nhwc__scalar(x: usize, b: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32,
    top: i32, left: i32, oh: i32, ow: i32, dst: usize): void {
  const pixel = <usize>c << 2;
  const image = <usize>h * <usize>w * pixel;
  let o = dst;
  for (let n = 0; n < b; n++) {
    const src = x + <usize>n * image;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - left;
        // The kernel columns j in [j0, j1) fall inside the image.
        const j0 = max(0, -x0), j1 = min(kw, w - x0);
        for (let i = 0; i < kh; i++) {
          const y = oy * sh + i - top;
          if (y < 0 || y >= h || j0 >= j1) {
            memory.fill(o, 0, <usize>kw * pixel);
          } else {
            if (j0 > 0) memory.fill(o, 0, <usize>j0 * pixel);
            memory.copy(o + <usize>j0 * pixel, src + (<usize>y * <usize>w + <usize>(x0 + j0)) * pixel, <usize>(j1 - j0) * pixel);
            if (j1 < kw) memory.fill(o + <usize>j1 * pixel, 0, <usize>(kw - j1) * pixel);
          }
          o += <usize>kw * pixel;
        }
      }
    }
  }
}
