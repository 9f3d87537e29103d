/**
 * Block-sparse and dense matmul kernels: `Y = X · W (+ bias)`, optional relu, with W either in the
 * strip layout of `src/sparse/format.ts` (f32 or int8) or dense. The public op is
 * `blockSparseMatMul` (`src/sparse/matmul.ts`), which picks among these kernels and `tf.matMul`.
 */
import {engine, NamedAttrMap, registerGradient, Tensor} from '@tensorflow/tfjs-core';
import {KernelContext, KernelDef, KernelInputs} from './bridge';
import {DWCONV_NCHW} from './dwconv_nchw';
import {SPMM_NCHW} from './spmm_nchw';
import {evenSplits, KernelCall} from './threads';

// The inference kernels have short names: tfjs looks a kernel up by the string `${backend}_${name}`
// on every call, and V8 hashes a concatenation of 13 characters or more only after flattening it
// (0.28 µs more per call, measured; about 4 % of a 90 %-sparse 1024x1024 layer at batch 1).
export const SPMM_F32 = 'SpMMF32';
export const SPMM_I8 = 'SpMMI8';
export const DENSE_MATMUL = 'SpGEMM';
export const UNPACK_F32 = 'SparsityUnpackBlockSparseF32';
export const UNPACK_I8 = 'SparsityUnpackBlockSparseI8';

/**
 * Attributes of the matmul kernels: output width and strip width (a `[K, N]` W), fused relu, and
 * the threads the dispatcher wants (strip kernels split rows).
 */
interface MatMulAttrs {n: number; bw: number; relu: boolean; threads?: number}

const TMP_BYTES = 64;

function biasPtr(ctx: KernelContext, inputs: KernelInputs): number {
  return inputs.bias ? ctx.input(inputs.bias) : 0;
}

/**
 * Row ranges for the strip kernels, one per thread: whole pairs of rows (their 2-row tiles), the odd
 * last row in the last range. Each row is computed as on one thread, so the split changes no bit.
 */
function rowRanges(ctx: KernelContext, m: number): number[] {
  const cuts = evenSplits(m & ~1, ctx.threads, 2);
  cuts[cuts.length - 1] = m;
  return cuts;
}

/** The kernel names of one strip width, 2-row and 1-row. */
type StripKernels = [KernelCall[0], KernelCall[0]];
const F32_STRIPS: Record<number, StripKernels> = {
  16: ['f32_spmm_2x16__simd128', 'f32_spmm_1x16__simd128'],
  8: ['f32_spmm_2x8__simd128', 'f32_spmm_1x8__simd128'],
  4: ['f32_spmm_2x4__simd128', 'f32_spmm_1x4__simd128'],
};
const I8_STRIPS: Record<number, StripKernels> = {
  16: ['i8_spmm_2x16__simd128', 'i8_spmm_1x16__simd128'],
  8: ['i8_spmm_2x8__simd128', 'i8_spmm_1x8__simd128'],
  4: ['i8_spmm_2x4__simd128', 'i8_spmm_1x4__simd128'],
};

export const spmmF32Kernel: KernelDef = {
  kernelName: SPMM_F32,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals} = inputs;
    const {n, bw, relu} = attrs as unknown as MatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    const xp = ctx.input(x);
    const w = [ctx.weight(colptr), ctx.weight(rowoff), ctx.weight(vals)] as const;
    const b = inputs.bias ? ctx.weight(inputs.bias) : 0, r = relu ? 1 : 0;
    const cuts = rowRanges(ctx, m);
    ctx.parallel(cuts.slice(1).map((r1, t) => {
      const r0 = cuts[t], x0 = xp + r0 * k * 4, y0 = y.ptr + r0 * n * 4;
      const strips = F32_STRIPS[bw];
      if (!strips) return [['f32_spmm_2xw__scalar', x0, r1 - r0, k, ...w, bw, n, b, r, y0]];
      // Rows in pairs, then an odd last row through the one-row kernel.
      const pairs = (r1 - r0) & ~1, tmp = ctx.scratch(TMP_BYTES);
      const calls: KernelCall[] = [];
      if (pairs > 0) calls.push([strips[0], x0, pairs, k, ...w, n, b, r, y0, tmp]);
      if (pairs < r1 - r0) calls.push([strips[1], x0 + pairs * k * 4, ...w, n, b, r, y0 + pairs * n * 4, tmp]);
      return calls;
    }));
    return y;
  },
};

export const spmmI8Kernel: KernelDef = {
  kernelName: SPMM_I8,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals, scales} = inputs;
    const {n, bw, relu} = attrs as unknown as MatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    // One scratch block for the activation tables and the row scales (each allocation is two more
    // calls into wasm); each range quantizes its own rows.
    const xq = ctx.scratch(m * k * 8 + m * 4), sx = xq + m * k * 8;
    const xp = ctx.input(x);
    const w = [ctx.weight(colptr), ctx.weight(rowoff), ctx.weight(vals), ctx.weight(scales)] as const;
    const b = inputs.bias ? ctx.weight(inputs.bias) : 0, r = relu ? 1 : 0;
    const cuts = rowRanges(ctx, m);
    ctx.parallel(cuts.slice(1).map((r1, t) => {
      const r0 = cuts[t], rows = r1 - r0, q0 = xq + r0 * k * 8, s0 = sx + r0 * 4, y0 = y.ptr + r0 * n * 4;
      const calls: KernelCall[] = [['i8_quantize_rows__simd128', xp + r0 * k * 4, rows, k, q0, s0]];
      const strips = I8_STRIPS[bw];
      if (!strips) {
        calls.push(['i8_spmm_1xw__scalar', q0, s0, rows, k, ...w, bw, n, b, r, y0]);
        return calls;
      }
      // Rows in pairs, then an odd last row through the one-row kernel.
      const pairs = rows & ~1, tmp = ctx.scratch(TMP_BYTES);
      if (pairs > 0) calls.push([strips[0], q0, s0, pairs, k, ...w, n, b, r, y0, tmp]);
      if (pairs < rows) calls.push([strips[1], q0 + pairs * k * 8, s0 + pairs * 4, k, ...w, n, b, r, y0 + pairs * n * 4, tmp]);
      return calls;
    }));
    return y;
  },
};

export const denseMatMulKernel: KernelDef = {
  kernelName: DENSE_MATMUL,
  run(ctx, inputs, attrs) {
    const {x, w} = inputs;
    const relu = (attrs as unknown as MatMulAttrs).relu ? 1 : 0;
    const [m, k] = x.shape;
    const n = w.shape[1];
    const y = ctx.output([m, n], 'float32');
    const b = biasPtr(ctx, inputs);
    if (m === 1) {
      ctx.kernels.f32_gemv_rows__simd128(ctx.input(x), k, ctx.input(w), n, b, relu, y.ptr);
    } else {
      const tmp = ctx.scratch(TMP_BYTES + k * 32);
      ctx.kernels.f32_gemm_4x8__simd128(ctx.input(x), m, k, ctx.input(w), n, b, relu, y.ptr, tmp);
    }
    return y;
  },
};

/** Attributes of the unpack kernels: the dense shape and the strip width. */
interface UnpackAttrs {k: number; n: number; bw: number}

export const unpackF32Kernel: KernelDef = {
  kernelName: UNPACK_F32,
  run(ctx, {colptr, rowoff, vals}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.f32_unpack_strips(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), bw, k, n, out.ptr);
    return out;
  },
};

export const unpackI8Kernel: KernelDef = {
  kernelName: UNPACK_I8,
  run(ctx, {colptr, rowoff, vals, scales}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.i8_unpack_strips(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), ctx.input(scales),
        bw, k, n, out.ptr);
    return out;
  },
};

/** True while a gradient tape records ops (inside tf.grad, variableGrads, a training step). */
export function taping(): boolean {
  const state = engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** The message of the gradient guard, shared with the op's own check. */
export const NO_GRADIENT_MESSAGE = 'blockSparseMatMul is inference-only: it has no gradient (nor have channelMajorSparseMatMul ' +
    'and depthwiseConv2dChannelsFirst). ' +
    'Train with the dense, masked weight (pruneLowMagnitude) and pack the weights for inference ' +
    'after stripping the pruning wrappers.';

/**
 * Registers a gradient for each matmul kernel that throws: a tape that reaches one of them must fail
 * loudly, never produce a zero or partial gradient.
 */
export function registerNoGradients(): void {
  for (const kernelName of [SPMM_F32, SPMM_I8, DENSE_MATMUL, SPMM_NCHW, DWCONV_NCHW]) {
    registerGradient({
      kernelName,
      gradFunc: (_dy: Tensor|Tensor[], _saved: Tensor[], _attrs: NamedAttrMap): {[input: string]: () => Tensor} => {
        throw new Error(NO_GRADIENT_MESSAGE);
      },
    });
  }
}
