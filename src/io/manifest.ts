/**
 * The weights manifest of a model.json, checked field by field before any weights file is opened: a
 * malformed manifest is refused with a message naming the model file and the field, and every group's
 * byte count is known before its files are read.
 *
 * Besides tfjs's `{paths, weights}`, a group written by `fileSystem` records each file's byte length and
 * CRC-32C (`byteLengths`, `crc32c`, parallel to `paths`), so a loader can refuse a weights file that does
 * not belong to its model.json. tfjs and other tools ignore the two fields; groups without them (files
 * from tfjs-node, the tensorflowjs converter, older saves) load with the size check only.
 */
import {io} from '@tensorflow/tfjs-core';
import {describeValue} from '../util/validate';

/** Bytes per element of each weight dtype and quantized storage dtype (tfjs-core io/types.ts). */
const DTYPE_BYTES: Record<string, number> =
    {float32: 4, int32: 4, bool: 1, complex64: 8, float16: 2, uint16: 2, uint8: 1};

/** One checked manifest group. */
export interface CheckedGroup {
  paths: string[];
  weights: io.WeightsManifestEntry[];
  /** The bytes its files hold together, or null when a string weight makes it variable. */
  bytes: number|null;
  /** Per file, when the manifest records them. */
  byteLengths?: number[];
  crc32c?: number[];
}

/** A manifest group as `fileSystem` saves it. */
export type ChecksummedGroup = io.WeightsManifestConfig[number] & {byteLengths: number[]; crc32c: number[]};

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Checks `manifest` (the `weightsManifest` of `modelFile`) and returns its groups with their sizes.
 * @throws Error naming `modelFile` and the first malformed field.
 */
export function checkManifest(manifest: unknown, modelFile: string): CheckedGroup[] {
  const fail = (field: string, want: string, got: unknown): never => {
    throw new Error(`fileSystem.load: '${modelFile}': ${field} must be ${want}, but got ${describeValue(got)}`);
  };
  if (!Array.isArray(manifest)) fail('weightsManifest', 'an array of {paths, weights} groups', manifest);
  return (manifest as unknown[]).map((group, g) => {
    const at = `weightsManifest[${g}]`;
    if (group == null || typeof group !== 'object' || Array.isArray(group)) fail(at, 'an object {paths, weights}', group);
    const {paths, weights, byteLengths, crc32c} = group as Record<string, unknown>;
    if (!Array.isArray(paths)) fail(`${at}.paths`, 'an array of weights file names', paths);
    (paths as unknown[]).forEach((p, i) => {
      if (typeof p !== 'string' || p.length === 0) fail(`${at}.paths[${i}]`, 'a non-empty file name', p);
    });
    if (!Array.isArray(weights)) fail(`${at}.weights`, 'an array of weight specs {name, shape, dtype}', weights);
    let bytes: number|null = 0;
    (weights as unknown[]).forEach((w, i) => {
      const wat = `${at}.weights[${i}]`;
      if (w == null || typeof w !== 'object') fail(wat, 'a weight spec {name, shape, dtype}', w);
      const {name, shape, dtype, quantization} = w as Record<string, unknown>;
      if (typeof name !== 'string') fail(`${wat}.name`, 'a string', name);
      if (!Array.isArray(shape) || !shape.every(d => isUint(d))) fail(`${wat}.shape`, 'an array of non-negative integers', shape);
      if (typeof dtype !== 'string') fail(`${wat}.dtype`, 'a dtype name', dtype);
      const stored = (quantization as {dtype?: unknown}|undefined)?.dtype ?? dtype;
      if (stored === 'string') {
        bytes = null;
      } else if (typeof stored === 'string' && stored in DTYPE_BYTES) {
        if (bytes !== null) bytes += (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[stored];
      } else {
        fail(`${wat}.dtype`, `one of ${[...Object.keys(DTYPE_BYTES), 'string'].join(', ')}`, stored);
      }
    });
    const checked: CheckedGroup = {paths: paths as string[], weights: weights as io.WeightsManifestEntry[], bytes};
    const n = (paths as unknown[]).length;
    if (byteLengths !== undefined || crc32c !== undefined) {
      if (!Array.isArray(byteLengths) || byteLengths.length !== n || !byteLengths.every(v => isUint(v))) {
        fail(`${at}.byteLengths`, `an array of ${n} byte counts (one per path)`, byteLengths);
      }
      if (!Array.isArray(crc32c) || crc32c.length !== n || !crc32c.every(v => isUint(v, 0xffffffff))) {
        fail(`${at}.crc32c`, `an array of ${n} CRC-32C values (one per path)`, crc32c);
      }
      const total = (byteLengths as number[]).reduce((a, b) => a + b, 0);
      if (bytes !== null && total !== bytes) {
        throw new Error(`fileSystem.load: '${modelFile}': ${at}.byteLengths add up to ${total} bytes, but its ` +
            `weights need ${bytes}`);
      }
      checked.byteLengths = byteLengths as number[];
      checked.crc32c = crc32c as number[];
    }
    return checked;
  });
}
