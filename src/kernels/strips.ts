/**
 * What the strip kernels (`SpMMF32`, `SpMMI8`, and the unpack kernels) share: the attributes of the
 * strip layout (`src/sparse/format.ts`) and the choice of a SIMD variant by strip width.
 */
import {KernelContext, KernelInputs} from './bridge';

/** Attributes of the strip matmul kernels: output width, strip width (a `[K, N]` W), fused relu. */
export interface StripMatMulAttrs {n: number; bw: number; relu: boolean}

/** Attributes of the unpack kernels: the dense shape `[k, n]` and the strip width. */
export interface UnpackAttrs {k: number; n: number; bw: number}

/** The bytes a strip kernel stores a partial strip's outputs in before copying them out. */
export const STRIP_TAIL_BYTES = 64;

/** The optional bias input's address, or 0 (the kernels' "no bias"). */
export function biasPtr(ctx: KernelContext, inputs: KernelInputs): number {
  return inputs.bias ? ctx.input(inputs.bias) : 0;
}

/** The SIMD variant of a strip kernel for strip width `bw` (16, 8 or 4), or null: the scalar kernel runs. */
export function stripVariant<T>(bw: number, variants: {16: T; 8: T; 4: T}): T|null {
  return bw === 16 || bw === 8 || bw === 4 ? variants[bw] : null;
}
