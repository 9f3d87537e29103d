/**
 * What the strip kernels (`SpMMF32`, `SpMMI8`, and the unpack kernels) share: the attributes of the
 * strip layout (`src/sparse/format.ts`), the choice of a SIMD variant by strip width, and the split
 * of their rows between threads.
 */
import {KernelContext, KernelInputs} from './bridge';
import {evenSplits} from './splits';

/**
 * Attributes of the strip matmul kernels: output width, strip width (a `[K, N]` W), fused relu, and
 * the threads the dispatcher wants (the strip kernels split rows).
 */
export interface StripMatMulAttrs {n: number; bw: number; relu: boolean; threads?: number}

/** Attributes of the unpack kernels: the dense shape `[k, n]` and the strip width. */
export interface UnpackAttrs {k: number; n: number; bw: number}

/** The bytes a strip kernel stores a partial strip's outputs in before copying them out. */
export const STRIP_TAIL_BYTES = 64;

/**
 * The optional bias input's address, or 0 (the kernels' "no bias"). A bias never changes between
 * calls: it is a weight (resident in our shared memory when calls run there).
 */
export function biasPtr(ctx: KernelContext, inputs: KernelInputs): number {
  return inputs.bias ? ctx.weight(inputs.bias) : 0;
}

/** The SIMD variant of a strip kernel for strip width `bw` (16, 8 or 4), or null: the scalar kernel runs. */
export function stripVariant<T>(bw: number, variants: {16: T; 8: T; 4: T}): T|null {
  return bw === 16 || bw === 8 || bw === 4 ? variants[bw] : null;
}

/**
 * Row ranges for the strip kernels, one per thread: whole pairs of rows (their 2-row tiles), the odd
 * last row in the last range. Each row is computed as on one thread, so the split changes no bit.
 */
export function rowRanges(ctx: KernelContext, m: number): number[] {
  const cuts = evenSplits(m & ~1, ctx.threads, 2);
  cuts[cuts.length - 1] = m;
  return cuts;
}
