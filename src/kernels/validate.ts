/** Argument checks shared by the kernel ops; every message names the op, the argument and what is allowed. */
import {Tensor, TensorLike, tensor} from '@tensorflow/tfjs-core';

/** A tensor argument as a float32 tensor; TensorLike values are converted (callers run inside `tidy`). */
export function float32Arg(x: Tensor|TensorLike, arg: string, op: string): Tensor {
  if (x instanceof Tensor) {
    if (x.isDisposed) throw new Error(`Argument '${arg}' passed to '${op}' is a disposed tensor`);
    if (x.dtype !== 'float32') {
      throw new Error(`Argument '${arg}' passed to '${op}' must be a float32 tensor, but got a ${x.dtype} tensor`);
    }
    return x;
  }
  if (x == null || typeof x === 'string' || (typeof x !== 'number' && typeof x !== 'object')) {
    throw new Error(`Argument '${arg}' passed to '${op}' must be a Tensor or TensorLike, but got ${typeof x}`);
  }
  return tensor(x, undefined, 'float32');
}

/**
 * An optional float32 vector argument of `length` entries (a bias), or undefined; a tensor made
 * from a TensorLike is pushed onto `made` for the caller to dispose.
 */
export function vectorArg(v: Tensor|TensorLike|undefined, length: number, arg: string, op: string,
                          made: Tensor[]): Tensor|undefined {
  if (v === undefined) return undefined;
  const $v = float32Arg(v, arg, op);
  if ($v !== v) made.push($v);
  checkRank($v, [1], arg, op);
  if ($v.shape[0] !== length) throw new Error(`Argument '${arg}' passed to '${op}' must have shape [${length}], but got [${$v.shape}]`);
  return $v;
}

/** Checks that a tensor argument has one of the allowed ranks. */
export function checkRank(x: Tensor, ranks: number[], arg: string, op: string): void {
  if (!ranks.includes(x.rank)) {
    throw new Error(`Argument '${arg}' passed to '${op}' must have rank ${ranks.join(' or ')}, ` +
        `but got rank ${x.rank} (shape [${x.shape}])`);
  }
}

/** Checks a target sparsity: a number in [0, 1). */
export function checkSparsity(sparsity: number, op: string, arg = 'sparsity'): void {
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
    throw new Error(`Argument '${arg}' passed to '${op}' must be a number in [0, 1), but got ${sparsity}`);
  }
}

/** Checks a positive integer argument. */
export function checkPositiveInt(value: unknown, arg: string, op: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`Argument '${arg}' passed to '${op}' must be a positive integer, but got ${String(value)}`);
  }
}

/** Checks a `[height, width]` block size of positive integers and returns it as a pair. */
/** Whether `v` is a pair of positive integers (a block, kernel or stride size). */
export function isPositiveIntPair(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every(x => typeof x === 'number' && Number.isInteger(x) && x >= 1);
}

export function blockSizeArg(blockSize: unknown, op: string, arg = 'blockSize'): [number, number] {
  if (!isPositiveIntPair(blockSize)) {
    throw new Error(`Argument '${arg}' passed to '${op}' must be a pair of positive integers ` +
        `[height, width], but got ${JSON.stringify(blockSize)}`);
  }
  return [blockSize[0], blockSize[1]];
}

/** Checks that two tensors have the same shape. */
export function checkSameShape(a: Tensor, b: Tensor, argA: string, argB: string, op: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`Arguments '${argA}' and '${argB}' passed to '${op}' must have the same shape, ` +
        `but got [${a.shape}] and [${b.shape}]`);
  }
}
