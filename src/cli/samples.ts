/**
 * Calibration samples for the CLI: the MNIST digits of the `mnist` package, or the user's own
 * samples in a NumPy `.npy` file (read with `npyjs`), shaped to the model's input.
 */
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {parse} from 'npyjs';
import {IMAGE_SIZE, loadMnist} from './mnist';
import {UsageError} from './usage';

/** Where calibration samples come from: `'mnist'` or a path ending in `.npy`. */
export type SampleSource = string;

/**
 * Loads up to `count` samples from `source` as a float32 tensor shaped `[n, ...inputShape]` (the
 * model's input without the batch; null dimensions are taken from the data). MNIST gives the
 * first training digits of the seeded split, pixels in [0, 1]; a `.npy` file gives its first
 * axis as samples, its values as they are (integers converted to float32).
 * @throws UsageError naming the flag when the file is missing or unreadable, or a sample's size
 *     does not match the model's input.
 */
export function loadSamples(source: SampleSource, inputShape: Array<number|null>, count: number|undefined,
                            flag: string): tf.Tensor {
  let values: Float32Array, shape: number[];
  if (source === 'mnist') {
    const {train} = loadMnist();
    const n = Math.min(count ?? train.count, train.count);
    values = train.images.subarray(0, n * IMAGE_SIZE * IMAGE_SIZE);
    shape = [n, IMAGE_SIZE, IMAGE_SIZE, 1];
  } else if (source.endsWith('.npy')) {
    ({values, shape} = readNpy(source, flag));
    const n = Math.min(count ?? shape[0], shape[0]);
    values = values.subarray(0, n * (values.length / Math.max(shape[0], 1)));
    shape = [n, ...shape.slice(1)];
  } else {
    throw new UsageError(`${flag} must be 'mnist' or a .npy file, but got '${source}'`);
  }
  const sample = shape.slice(1);
  const fits = inputShape.some(d => d == null) ?
      sample.length === inputShape.length && inputShape.every((d, i) => d == null || d === sample[i]) :
      sample.reduce((a, b) => a * b, 1) === (inputShape as number[]).reduce((a, b) => a * b, 1);
  if (!fits) {
    throw new UsageError(`${flag}: each sample of '${source}' has shape [${sample}], but the model takes ` +
        `[${inputShape.map(d => d ?? 'null')}]`);
  }
  // A sample of the right size is reshaped to the model's input (MNIST's 28x28x1 digits feed an MLP's 784).
  const target = inputShape.some(d => d == null) ? sample : inputShape as number[];
  return tf.tensor(values, [shape[0], ...target], 'float32');
}

/** Reads a .npy file as float32 values and its shape. */
export function readNpy(path: string, flag: string): {values: Float32Array; shape: number[]} {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new UsageError(`${flag}: cannot read '${path}'`);
  }
  let array: ReturnType<typeof parse>;
  try {
    array = parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (e) {
    throw new UsageError(`${flag}: '${path}' is not a valid .npy file (${e instanceof Error ? e.message : String(e)})`);
  }
  if (array.fortranOrder) throw new UsageError(`${flag}: '${path}' is in Fortran order; save it with C order`);
  const data = array.data as unknown as ArrayLike<number|bigint>;
  if (array.shape.length < 1 || array.shape[0] < 1) {
    throw new UsageError(`${flag}: '${path}' must have samples along its first axis, but has shape [${array.shape}]`);
  }
  if (typeof data[0] === 'bigint' || typeof data[0] === 'string' || array.dtype.startsWith('c')) {
    throw new UsageError(`${flag}: '${path}' has dtype ${array.dtype}; use float32, float64 or an integer type up to 32 bits`);
  }
  return {values: Float32Array.from(data as ArrayLike<number>), shape: array.shape};
}
