/**
 * Argument checks shared by every layer of the library. One describer shows values in messages, and
 * each kind of check exists once: an options object holding only known names (tfjs-layers and tfmot
 * take keyword arguments; a misspelt or snake_case name must not be ignored silently), a string-union
 * option (tfjs-layers' `checkStringTypeUnionValue`), a pair of positive integers, a sparsity, and the
 * tensor arguments of ops. Every message names the owner, the argument and what is allowed.
 */
import {Tensor, TensorLike, tensor} from '@tensorflow/tfjs-core';

/** Arrays and strings longer than this are shown by their size: input may be a corrupt file's JSON. */
const MAX_SHOWN_CHARS = 80;

/**
 * A value as an error message shows it: strings quoted, arrays as JSON, other primitives as written,
 * objects by class name (a tfjs `className` first). With `as: 'type'`, a primitive's type instead of
 * its value (`'number'`), for messages that name what kind of thing was passed.
 */
export function describeValue(value: unknown, as: 'value'|'type' = 'value'): string {
  if (value === null) return 'null';
  if (typeof value === 'object' || typeof value === 'function') {
    if (Array.isArray(value) && as === 'value') {
      const json = JSON.stringify(value) ?? 'an array';
      return json.length <= MAX_SHOWN_CHARS ? json : `an array of ${value.length} entries`;
    }
    const ctor = (value as object).constructor as {className?: string, name?: string}|undefined;
    return ctor?.className ?? ctor?.name ?? 'object';
  }
  if (as === 'type') return typeof value;
  if (typeof value !== 'string') return String(value);
  return value.length <= MAX_SHOWN_CHARS ? `'${value}'` : `a string of ${value.length} characters`;
}

/** How messages name an argument: `Argument 'x' passed to 'op'`, or `name` alone without an owner. */
function subject(name: string, owner?: string): string {
  return owner === undefined ? name : `Argument '${name}' passed to '${owner}'`;
}

/**
 * Checks that `options` is a plain object whose keys are all in `names`, and returns it; undefined
 * gives `{}` unless `required`.
 * @param owner the function or class, as messages name it.
 * @throws Error `<owner> options must be an object {a, b}, but got <value>` or
 *     `<owner> got an unknown option '<key>'; valid options are a, b`.
 */
export function checkOptions<T extends object>(options: T|undefined, names: readonly string[], owner: string,
                                               required = false): T {
  if (options === undefined && !required) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${owner} options must be an object {${names.join(', ')}}, but got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!names.includes(key)) {
      throw new Error(`${owner} got an unknown option '${key}'; valid options are ${names.join(', ')}`);
    }
  }
  return options;
}

/**
 * Checks a string-union value against its valid values (a union type's runtime list, `VALID_*`).
 * @param name the argument; with `owner`, messages say `Argument '<name>' passed to '<owner>'`.
 * @throws Error `<name> must be one of 'a', 'b', but got <value>`.
 */
export function checkChoice<T extends string>(value: unknown, valid: readonly T[], name: string, owner?: string): T {
  if (!valid.includes(value as T)) {
    throw new Error(`${subject(name, owner)} must be one of ${valid.map(v => `'${v}'`).join(', ')}, ` +
        `but got ${describeValue(value)}`);
  }
  return value as T;
}

/**
 * Checks an optional boolean option.
 * @throws Error `Argument '<name>' passed to '<owner>' must be true or false, but got <value>`.
 */
export function booleanOption(value: unknown, name: string, owner: string): boolean|undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new Error(`${subject(name, owner)} must be true or false, but got ${describeValue(value)}`);
}

/** Whether `v` is a pair of positive integers (a block, kernel or stride size, a shape). */
export function isPositiveIntPair(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every(x => typeof x === 'number' && Number.isInteger(x) && x >= 1);
}

/**
 * Checks a pair of positive integers and returns a copy.
 * @param name the argument; with `owner`, messages say `Argument '<name>' passed to '<owner>'`.
 * @param form how the pair reads, for the message (`[height, width]`, `[m, n]`).
 * @throws Error `<name> must be a pair of positive integers <form>, but got <value>`.
 */
export function positiveIntPair(value: unknown, name: string, owner?: string, form = '[height, width]'): [number, number] {
  if (!isPositiveIntPair(value)) {
    throw new Error(`${subject(name, owner)} must be a pair of positive integers ${form}, but got ${describeValue(value)}`);
  }
  return [value[0], value[1]];
}

/** Checks a sparsity: a number in [0, 1), or in [0, 1] with `upToOne` (a threshold rather than a target). */
export function checkSparsity(sparsity: number, op: string, arg = 'sparsity', upToOne = false): void {
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && (upToOne ? sparsity <= 1 : sparsity < 1))) {
    throw new Error(`Argument '${arg}' passed to '${op}' must be a number in [0, 1${upToOne ? ']' : ')'}, ` +
        `but got ${describeValue(sparsity)}`);
  }
}

// --- tensor arguments of ops ---------------------------------------------------------------------

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

/** Checks that two tensors have the same shape. */
export function checkSameShape(a: Tensor, b: Tensor, argA: string, argB: string, op: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`Arguments '${argA}' and '${argB}' passed to '${op}' must have the same shape, ` +
        `but got [${a.shape}] and [${b.shape}]`);
  }
}
