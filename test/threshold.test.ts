import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {keepCount, kthLargestMagnitude, magnitudeThreshold} from '../src/index';
import {kernelsOn} from '../src/kernels/module';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, BackendName, noLeak, normal, rng, SHAPES, useBackend, valueCases} from './helpers';

// tfmot 0.8.1's kept counts and rounding cases (see fixtures/masks.json `source`).
const golden = JSON.parse(readFileSync(new URL('./fixtures/masks.json', import.meta.url), 'utf8')) as {
  weight_sets: Array<{id: string; shape: number[]}>;
  cases: Array<{weights: string; sparsity: number; block_size: number[]; k_derived?: number}>;
  rounding: Array<{n: number; sparsity: number; k_derived: number}>;
};

/** float32 values from raw bit patterns (NaN payloads survive in a Float32Array). */
function fromBits(bits: number[]): Float32Array {
  return new Float32Array(Int32Array.from(bits).buffer);
}

/** NaNs of several payloads and signs among ordinary values. */
function nanCase(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const nans = fromBits([0x7fc00000, 0xffc00000 | 0, 0x7f800001, 0x7fffffff, 0xffc00001 | 0]);
  return Float32Array.from({length: n}, (_, i) => (i % 5 === 2 ? nans[i % nans.length] : (r() - 0.5) * 4));
}

/**
 * Tiny values exactly where the op samples (runs of 16 at j * (n - 16) / (chunks - 1), chunks =
 * round(2 n^(2/3) / 16), as in src/kernels/kth_largest_magnitude.ts) and large ones elsewhere, so every sampled band
 * misses. Should the sampling change, this stays a valid (if milder) correctness case.
 */
function sampleBlind(n: number, seed: number): Float32Array {
  const values = normal(n, seed, 100);
  const chunks = Math.max(2, Math.round(2 * Math.pow(n, 2 / 3) / 16));
  for (let j = 0; j < chunks; j++) {
    const start = Math.floor((j * (n - 16)) / (chunks - 1));
    for (let i = start; i < start + 16; i++) values[i] = (i % 3) * 1e-3;
  }
  return values;
}

/** Distributions meant to make a sampled band miss or overflow (n large enough to sample). */
function adversarialCases(n: number, seed: number): Array<[string, Float32Array]> {
  const r = rng(seed);
  const pick = (f: (i: number) => number) => Float32Array.from({length: n}, (_, i) => f(i));
  const sorted = normal(n, seed).sort();
  return [
    ['normal', normal(n, seed)],
    ['sorted_ascending', sorted],
    ['sorted_descending', sorted.slice().reverse()],
    ['sorted_magnitudes', pick((i) => (i % 2 ? -i : i) * 1e-3)],
    ['few_huge_outliers', pick((i) => (i % 9973 === 17 ? 1e30 * (1 + r()) : r() - 0.5))],
    ['all_equal', pick(() => 3.25)],
    ['two_valued', pick((i) => (i % 3 === 0 ? -2 : 1))],
    ['two_valued_blocks', pick((i) => (i < n / 2 ? 1 : -2))],
    ['mostly_zero', pick((i) => (i % 1000 === 7 ? r() : (i % 2 ? -0 : 0)))],
    ['ties_and_nan', pick((i) => (i % 101 === 0 ? NaN : Math.floor(r() * 7) - 3))],
    ['infinities_subnormals', pick((i) => (i % 13 === 0 ? -Infinity : i % 5 === 0 ? Infinity : (r() - 0.5) * 1e-40))],
    ['periodic_16', pick((i) => ((i >> 4) % 2 ? 1e3 + (i % 16) : (i % 16) * 1e-3))],
    // Already pruned: n >> 1 nonzeros among ±0, so k = n >> 1 is the smallest nonzero, next to a huge tie.
    ['pruned', pick((i) => (i % 2 ? 1 + r() : i % 4 ? -0 : 0))],
    ['sample_blind', sampleBlind(n, seed)],
  ];
}

/**
 * `ref.kthLargestMagnitude(values, ·)` for many k from one sort (the reference sorts per call);
 * checked against the reference at the middle k.
 */
function sortedOracle(values: Float32Array): (k: number) => Float32Array {
  const keys = Int32Array.from(new Int32Array(values.buffer, values.byteOffset, values.length), (b) => b & 0x7fffffff).sort();
  const kth = (k: number) => fromBits([keys[keys.length - k]]);
  const mid = (values.length + 1) >> 1;
  assertBitsEqual(kth(mid), ref.kthLargestMagnitude(values, mid), 'oracle agrees with the reference');
  return kth;
}

/** Threshold bits of `kthLargestMagnitude(values, k)` on a backend, checked against the sort. */
function checkKth(values: Float32Array, shape: number[], ks: number[], what: string): void {
  const w = tf.tensor(values, shape);
  const expected = sortedOracle(values);
  for (const k of ks) {
    const t = noLeak(() => kthLargestMagnitude(w, k), 'kthLargestMagnitude');
    assert.equal(t.shape, []);
    assert.is(t.dtype, 'float32');
    assertBitsEqual(t.dataSync() as Float32Array, expected(k), `${what} k=${k}`);
    t.dispose();
  }
  w.dispose();
}

/** Every k edge: first, last, middle (both sides), a few in between. */
function edgeKs(n: number, seed: number): number[] {
  const r = rng(seed);
  const ks = [1, 2, n - 1, n, n >> 1, (n >> 1) + 1, keepCount(n, 0.9), keepCount(n, 0.99), 1 + Math.floor(r() * n)];
  return [...new Set(ks.filter(k => k >= 1 && k <= n))];
}

// ---

const keepSuite = suite('keepCount');

keepSuite('keepCount(n, s) equals tfmot on every rounding case', () => {
  for (const c of golden.rounding) {
    assert.is(keepCount(c.n, c.sparsity), c.k_derived, `n=${c.n} s=${c.sparsity}`);
  }
});

keepSuite('keepCount(n, s) equals tfmot on every mask case (n = weights or blocks)', () => {
  const shapes = new Map(golden.weight_sets.map(w => [w.id, w.shape]));
  let checked = 0;
  for (const c of golden.cases) {
    if (c.k_derived === undefined) continue;
    const shape = shapes.get(c.weights)!;
    const [bh, bw] = c.block_size;
    const n = bh === 1 && bw === 1 ? shape.reduce((a, b) => a * b, 1) :
        Math.ceil(shape[0] / bh) * Math.ceil(shape[1] / bw);
    assert.is(keepCount(n, c.sparsity), c.k_derived, `${c.weights} s=${c.sparsity} block=${c.block_size}`);
    checked++;
  }
  assert.ok(checked > 400, `only ${checked} cases carry k_derived`);
});

keepSuite('keepCount follows tfmot test vectors (pruning_impl_test)', () => {
  assert.is(keepCount(10, 0.200000018), 8);  // testConstructsMaskAndThresholdCorrectly
  assert.is(keepCount(100, 0.9999), 1);      // testExtremelySparseMask: max(..., 1)
  assert.is(keepCount(100, 0.5), 50);        // testUpdateSingleMask
  assert.is(keepCount(10, 0.25), 8);         // 7.5 rounds to even
  assert.is(keepCount(10, 0.35), 6);         // 6.5 rounds to even
  assert.is(keepCount(1, 0), 1);
});

keepSuite.run();

// ---

const kthSuite = suite('kthLargestMagnitude');

for (const backend of BACKENDS) {
  kthSuite(`kthLargestMagnitude(w, k) equals a full sort on ${backend}: edge shapes x value cases x k edges`, async () => {
    await useBackend(backend);
    for (const [shapeName, shape] of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      const cases: Array<[string, Float32Array]> = [...valueCases(n, 11 * n), ['nan', nanCase(n, n)]];
      for (const [valueName, values] of cases) {
        checkKth(values, shape, edgeKs(n, n), `${backend} ${shapeName} ${valueName}`);
      }
    }
  });

  kthSuite(`kthLargestMagnitude(w, k) equals a full sort on ${backend}: n = 200003, sampled path, adversarial inputs`, async () => {
    await useBackend(backend);
    const n = 200003;
    for (const [name, values] of adversarialCases(n, 5)) {
      checkKth(values, [n], edgeKs(n, 9), `${backend} ${name}`);
    }
  });
}

kthSuite('kthLargestMagnitude sizes around the sampling cutover and tails of 4 and 16', async () => {
  await useBackend('wasm');
  for (const n of [1, 2, 4, 5, 15, 16, 17, 63, 64, 65, 16383, 16384, 16385, 16399, 40000]) {
    checkKth(normal(n, n), [n], edgeKs(n, n), `n=${n}`);
  }
});

kthSuite('kthLargestMagnitude ranks NaN above Infinity and orders ±0, subnormals, Infinity', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const w = [-0, 1e-45, -Infinity, NaN, 2, 0];
    const expect = [NaN, Infinity, 2, Math.fround(1e-45), 0, 0];
    for (let k = 1; k <= w.length; k++) {
      const t = kthLargestMagnitude(w, k);
      const v = t.dataSync()[0];
      assert.ok(Object.is(v, expect[k - 1]), `${backend} k=${k}: got ${v}, expected ${expect[k - 1]}`);
      t.dispose();
    }
  }
});

kthSuite('the harness fails a selection that is off by one rank', async () => {
  await useBackend('wasm');
  const values = normal(20000, 12);
  const expected = sortedOracle(values);
  const t = kthLargestMagnitude(values, 101);
  // uvu's assert.throws rethrows assertion failures, so catch this one by hand.
  let failure = '';
  try {
    assertBitsEqual(t.dataSync() as Float32Array, expected(100), 'k=100');
  } catch (e) {
    failure = (e as Error).message;
  }
  assert.match(failure, /k=100: index 0 of 1: got/);
  assertBitsEqual(t.dataSync() as Float32Array, expected(101), 'k=101');
  t.dispose();
});

kthSuite('kthLargestMagnitude gives bit-identical thresholds on both backends', async () => {
  const bits: Record<string, Int32Array[]> = {};
  for (const backend of BACKENDS) {
    await useBackend(backend);
    bits[backend] = [];
    for (const [, values] of adversarialCases(50000, 3)) {
      for (const k of edgeKs(values.length, 4)) {
        const t = kthLargestMagnitude(values, k);
        bits[backend].push(new Int32Array((t.dataSync() as Float32Array).slice().buffer));
        t.dispose();
      }
    }
  }
  assert.equal(bits.wasm.map(b => b[0]), bits.cpu.map(b => b[0]));
});

kthSuite('kthLargestMagnitude rejects bad arguments without leaking', async () => {
  for (const backend of BACKENDS as readonly BackendName[]) {
    await useBackend(backend);
    const i32 = tf.tensor([1, 2], [2], 'int32');
    const bool = tf.tensor([1, 0], [2], 'bool');
    const empty = tf.tensor([], [0, 3]);
    const before = tf.memory().numTensors;
    assert.throws(() => kthLargestMagnitude(i32, 1), /'w' passed to 'kthLargestMagnitude' must be a float32 tensor, but got a int32/);
    assert.throws(() => kthLargestMagnitude(bool, 1), /'w' passed to 'kthLargestMagnitude' must be a float32 tensor, but got a bool/);
    assert.throws(() => kthLargestMagnitude(empty, 1), /'w' passed to 'kthLargestMagnitude' must not be empty, but got shape \[0,3\]/);
    for (const k of [0, 3, 1.5, NaN, -1, Infinity]) {
      assert.throws(() => kthLargestMagnitude([1, 2], k), /'k' passed to 'kthLargestMagnitude' must be an integer in \[1, 2\]/);
    }
    assert.throws(() => kthLargestMagnitude([1, 2], '1' as unknown as number), /'k' .* must be an integer/);
    assert.is(tf.memory().numTensors, before);
    tf.dispose([i32, bool, empty]);
  }
});

kthSuite.run();

// ---

const thresholdSuite = suite('magnitudeThreshold');

for (const backend of BACKENDS) {
  thresholdSuite(`magnitudeThreshold(w, s) is the keepCount-th largest |w| on ${backend}`, async () => {
    await useBackend(backend);
    for (const [shapeName, shape] of [...SHAPES, ['sampled', [129, 257]] as [string, number[]]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const [valueName, values] of [...valueCases(n, 5 * n), ['nan', nanCase(n, 3)] as [string, Float32Array]]) {
        const w = tf.tensor(values, shape);
        const expected = sortedOracle(values);
        for (const s of [0, 0.1, 0.5, 0.8, 0.9, 0.99, 0.999999]) {
          const t = noLeak(() => magnitudeThreshold(w, s), 'magnitudeThreshold');
          assertBitsEqual(t.dataSync() as Float32Array, expected(keepCount(n, s)),
              `${backend} ${shapeName} ${valueName} s=${s}`);
          t.dispose();
        }
        w.dispose();
      }
    }
  });
}

thresholdSuite('magnitudeThreshold follows tfmot test vectors (pruning_impl_test)', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const t1 = magnitudeThreshold([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.200000018);
    assert.is(t1.dataSync()[0], 3);
    const t2 = magnitudeThreshold(Float32Array.from({length: 100}, (_, i) => 1 + i), 0.9999);
    assert.is(t2.dataSync()[0], 100);
    tf.dispose([t1, t2]);
  }
});

thresholdSuite('magnitudeThreshold rejects bad arguments without leaking', () => {
  const i32 = tf.tensor([1, 2], [2], 'int32');
  const before = tf.memory().numTensors;
  for (const s of [-0.1, 1, 1.5, NaN, Infinity]) {
    assert.throws(() => magnitudeThreshold([1, 2], s), /'sparsity' passed to 'magnitudeThreshold' must be a number in \[0, 1\)/);
  }
  assert.throws(() => magnitudeThreshold([1, 2], '0.5' as unknown as number), /'sparsity' .* must be a number in \[0, 1\)/);
  assert.throws(() => magnitudeThreshold(i32, 0.5), /'w' passed to 'magnitudeThreshold' must be a float32 tensor, but got a int32/);
  assert.throws(() => magnitudeThreshold([], 0.5), /'w' passed to 'magnitudeThreshold' must not be empty/);
  assert.is(tf.memory().numTensors, before);
  i32.dispose();
});

thresholdSuite.run();

// ---

const kernelSuite = suite('select kernels');

/** The kernel exports on a private memory of `bytes`, with typed views. */
function privateKernels(bytes: number) {
  const memory = new WebAssembly.Memory({initial: Math.ceil(bytes / 65536)});
  return {k: kernelsOn(memory), f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer)};
}

kernelSuite('f32_magnitude_band__simd128 counts exactly and compacts in order, also past its capacity', () => {
  const n = 1037;
  const values = valueCases(n, 1).find(([name]) => name === 'huge_tiny')![1];
  const keys = Array.from(new Int32Array(values.buffer), (b) => b & 0x7fffffff);
  const sorted = keys.slice().sort((a, b) => a - b);
  const {k, f32, i32} = privateKernels(1 << 16);
  f32.set(values, 0);
  const dst = 8192, aboveOut = 16384;
  for (const [lo, hi] of [[sorted[300], sorted[700]], [0, 0x7fffffff], [sorted[500], sorted[500]], [sorted[1036], 0x7fffffff]]) {
    const inBand = keys.filter(x => x >= lo && x <= hi);
    for (const cap of [n + 16, inBand.length + 16, inBand.length, 20]) {
      i32.fill(-1, dst / 4, dst / 4 + n + 16);
      const c = k.f32_magnitude_band__simd128(0, n, lo, hi, dst, cap, aboveOut);
      assert.is(c, inBand.length, `count lo=${lo} hi=${hi} cap=${cap}`);
      assert.is(i32[aboveOut / 4], keys.filter(x => x > hi).length, `above lo=${lo} hi=${hi}`);
      if (c <= cap - 16) assert.equal(Array.from(i32.subarray(dst / 4, dst / 4 + c)), inBand, `compacted lo=${lo} hi=${hi}`);
      assert.ok(i32.subarray(dst / 4 + cap, dst / 4 + n + 16).every(x => x === -1), `wrote past cap ${cap}`);
    }
  }
});

kernelSuite('the radix selections find the k-th largest key inside [lo, hi] only', () => {
  const n = 777;
  const {k, f32, i32} = privateKernels(1 << 16);
  for (const [name, values] of [...valueCases(n, 2), ['nan', nanCase(n, 8)] as [string, Float32Array]]) {
    const keys = Array.from(new Int32Array(values.buffer), (b) => b & 0x7fffffff);
    const sorted = keys.slice().sort((a, b) => a - b);
    for (const [lo, hi] of [[0, 0x7fffffff], [sorted[100], sorted[600]], [sorted[0], sorted[0]], [sorted[400], 0x7fffffff]]) {
      const inRange = sorted.filter(x => x >= lo && x <= hi);
      for (const rank of [1, 2, inRange.length >> 1, inRange.length].filter(r => r >= 1 && r <= inRange.length)) {
        const want = inRange[inRange.length - rank];
        f32.set(values, 0);
        assert.is(k.f32_kth_largest_magnitude_in_range__radix(0, n, rank, lo, hi, 8192), want, `${name} source rank=${rank}`);
        assertBitsEqual(f32.subarray(0, n), values, 'source unchanged');
        i32.set(keys, 4096 / 4);
        assert.is(k.i32_kth_largest_in_range__radix(4096, n, rank, lo, hi, 8192), want, `${name} keys rank=${rank}`);
      }
    }
  }
});

kernelSuite.run();
