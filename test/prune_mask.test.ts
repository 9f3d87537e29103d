import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {keepCount, pruneMask} from '../src/index';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, normal, useBackend, valueCases} from './helpers';

// One mask update of the real tfmot 0.8.1 (tf_keras 2.21.0, TensorFlow 2.21.0) per case; see the
// fixture's `source`. Masks are stored as strings of 0/1.
interface GoldenCase {
  weights: string;
  sparsity: number;
  block_size: [number, number];
  pooling: 'AVG'|'MAX';
  threshold?: number;
  mask?: string;
  error?: string;
  message?: string;
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/masks.json', import.meta.url), 'utf8')) as {
  weight_sets: Array<{id: string; shape: number[]; data: number[]}>;
  cases: GoldenCase[];
  errors: Array<{case: string; error: string|null; message?: string}>;
};
const weightSets = new Map(golden.weight_sets.map(w => [w.id, {shape: w.shape, data: Float32Array.from(w.data)}]));

const is1x1 = (c: GoldenCase) => c.block_size[0] === 1 && c.block_size[1] === 1;
const divides = (c: GoldenCase) => {
  const {shape} = weightSets.get(c.weights)!;
  return shape.length === 2 && shape[0] % c.block_size[0] === 0 && shape[1] % c.block_size[1] === 0;
};

/** pruneMask composed from the plain references: pool, k-th largest by sort, mask, expand. */
function refPruneMask(values: Float32Array, shape: number[], sparsity: number, [bh, bw]: number[],
                      pooling: 'AVG'|'MAX'): {mask: Float32Array; threshold: Float32Array} {
  if (bh === 1 && bw === 1) {
    const threshold = ref.kthLargestMagnitude(values, keepCount(values.length, sparsity));
    return {mask: ref.maskFromThreshold(values, threshold[0]), threshold};
  }
  const [rows, cols] = shape;
  const pooled = ref.blockPoolRef(values, rows, cols, bh, bw, pooling);
  const threshold = ref.kthLargestMagnitude(pooled, keepCount(pooled.length, sparsity));
  return {mask: ref.expandBlockMaskRef(ref.maskFromThreshold(pooled, threshold[0]), bh, bw, rows, cols), threshold};
}

/** pruneMask, asserting that it leaves exactly its two results alive (no leak). */
function pruneCounted(...args: Parameters<typeof pruneMask>): ReturnType<typeof pruneMask> {
  const before = tf.memory().numTensors;
  const result = pruneMask(...args);
  assert.is(tf.memory().numTensors, before + 2, 'pruneMask leaves exactly its mask and threshold');
  return result;
}

/** Runs pruneMask on one golden case and returns its mask and threshold as arrays. */
function run(c: GoldenCase): {mask: Float32Array; threshold: Float32Array} {
  const {shape, data} = weightSets.get(c.weights)!;
  const w = tf.tensor(data, shape);
  const {mask, threshold} = pruneCounted(w, c.sparsity, {blockSize: c.block_size, blockPoolingType: c.pooling});
  assert.equal(mask.shape, shape);
  assert.equal(threshold.shape, []);
  const out = {mask: mask.dataSync() as Float32Array, threshold: threshold.dataSync() as Float32Array};
  tf.dispose([w, mask, threshold]);
  return out;
}

const name = (c: GoldenCase) => `${c.weights} s=${c.sparsity} block=${c.block_size} ${c.pooling}`;

// ---

const pruneSuite = suite('pruneMask');

for (const backend of BACKENDS) {
  pruneSuite(`pruneMask equals tfmot's mask and threshold on every 1x1 case on ${backend}`, async () => {
    await useBackend(backend);
    const cases = golden.cases.filter(is1x1);
    assert.is(cases.length, 90);
    for (const c of cases) {
      const got = run(c);
      assertBitsEqual(got.threshold, Float32Array.of(c.threshold!), `${name(c)} threshold`);
      assert.is(Array.from(got.mask).join(''), c.mask, `${name(c)} mask`);
    }
  });

  pruneSuite(`pruneMask equals tfmot on every block case whose shape divides by the block on ${backend}`, async () => {
    await useBackend(backend);
    // Only these compare with tfmot: where the shape does not divide, tfmot pools with centred SAME
    // padding but expands from the top-left (its mask does not line up with what it pooled), and we
    // align both at (0, 0) (DESIGN §3), so its thresholds and masks differ from ours by design.
    const cases = golden.cases.filter(c => !is1x1(c) && !c.error && divides(c));
    assert.is(cases.length, 96);
    for (const c of cases) {
      const got = run(c);
      assertBitsEqual(got.threshold, Float32Array.of(c.threshold!), `${name(c)} threshold`);
      assert.is(Array.from(got.mask).join(''), c.mask, `${name(c)} mask`);
    }
  });

  pruneSuite(`pruneMask on blocks that do not divide the shape equals the (0, 0)-aligned reference on ${backend}`, async () => {
    await useBackend(backend);
    // The rest of tfmot's block cases, tfmot's errors included: 1x16 blocks on 7x13 weights make
    // tfmot squeeze the pooled grid to rank 1 and raise ('Input tensor must be rank 2'); a block
    // wider than the weight is one partial block for us.
    const cases = golden.cases.filter(c => !is1x1(c) && (c.error || !divides(c)));
    assert.is(cases.length, 72 + 312);
    for (const c of cases) {
      const {shape, data} = weightSets.get(c.weights)!;
      const want = refPruneMask(data, shape, c.sparsity, c.block_size, c.pooling);
      const got = run(c);
      assertBitsEqual(got.threshold, want.threshold, `${name(c)} threshold`);
      assertBitsEqual(got.mask, want.mask, `${name(c)} mask`);
    }
  });

  pruneSuite(`pruneMask equals the reference over value cases, shapes and blocks on ${backend}`, async () => {
    await useBackend(backend);
    const shapes: number[][] = [[1, 1], [1, 17], [5, 3], [16, 16], [33, 70], [130, 129]];
    const blocks: number[][] = [[1, 1], [1, 4], [2, 2], [4, 1], [3, 5], [1, 16], [200, 300]];
    for (const shape of shapes) {
      const n = shape[0] * shape[1];
      for (const [valueName, values] of [...valueCases(n, n), ['nan', Float32Array.from(normal(n, 3), (v, i) => (i % 11 ? v : NaN))] as [string, Float32Array]]) {
        for (const blockSize of blocks) {
          for (const pooling of ['AVG', 'MAX'] as const) {
            const s = [0, 0.5, 0.9][(n + blockSize[0] + blockSize[1]) % 3];
            const w = tf.tensor(values, shape);
            const {mask, threshold} = pruneCounted(w, s, {blockSize: blockSize as [number, number], blockPoolingType: pooling});
            const want = refPruneMask(values, shape, s, blockSize, pooling);
            const what = `[${shape}] ${valueName} s=${s} block=${blockSize} ${pooling}`;
            assertBitsEqual(threshold.dataSync() as Float32Array, want.threshold, `${what} threshold`);
            assertBitsEqual(mask.dataSync() as Float32Array, want.mask, `${what} mask`);
            tf.dispose([w, mask, threshold]);
          }
        }
      }
    }
  });
}

pruneSuite('pruneMask follows tfmot test vectors (pruning_impl_test)', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    // testConstructsMaskAndThresholdCorrectly
    const a = pruneMask([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.200000018);
    assert.is(a.threshold.dataSync()[0], 3);
    assert.equal(Array.from(a.mask.dataSync()), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // testExtremelySparseMask: linspace(1, 100) at 0.9999 keeps exactly one weight.
    const b = pruneMask(Float32Array.from({length: 100}, (_, i) => 1 + i), 0.9999);
    assert.is(Array.from(b.mask.dataSync()).reduce((x, y) => x + y, 0), 1);
    // testUpdateSingleMask: 100 weights at 0.5 keep 50.
    const c = pruneMask(normal(100, 1), 0.5);
    assert.is(Array.from(c.mask.dataSync()).reduce((x, y) => x + y, 0), 50);
    // testBlockMaskingAvg / testBlockMaskingMax: 4x4, 2x2 blocks, 50%.
    const expected = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
    const avg = pruneMask(tf.tensor2d([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.4, 0.4], [0.3, 0.3, 0.4, 0.4]]),
        0.5, {blockSize: [2, 2], blockPoolingType: 'AVG'});
    assert.equal(Array.from(avg.mask.dataSync()), expected);
    const max = pruneMask(tf.tensor2d([[0.1, 0.0, 0.2, 0.0], [0.0, -0.1, 0.0, -0.2], [0.3, 0.0, 0.4, 0.0], [0.0, -0.3, 0.0, -0.4]]),
        0.5, {blockSize: [2, 2], blockPoolingType: 'MAX'});
    assert.equal(Array.from(max.mask.dataSync()), expected);
    assert.is(max.threshold.dataSync()[0], Math.fround(0.3));
    tf.dispose([a, b, c, avg, max].flatMap(r => [r.mask, r.threshold]));
  }
});

pruneSuite('pruneMask maps tfmot\'s misuse errors to clear errors naming the argument', () => {
  // Each tfmot error of the fixture that concerns one mask update, with the input that causes it.
  const mapped: Record<string, [() => unknown, RegExp]> = {
    'block_size (2,2) on rank-4 weights': [() => pruneMask(tf.zeros([2, 2, 2, 2]), 0.5, {blockSize: [2, 2]}),
      /'w' passed to 'pruneMask' must have rank 2 with blockSize \[2,2\] \(block sparsity can only be used for 2-dimensional weights\), but got rank 4/],
    'block_size (1,4) on rank-1 weights': [() => pruneMask(tf.zeros([10]), 0.5, {blockSize: [1, 4]}),
      /'w' passed to 'pruneMask' must have rank 2 with blockSize \[1,4\] .* but got rank 1/],
    // tfmot divides 0 by 0 into a NaN sparsity and crashes in GatherV2; we refuse NaN up front.
    'PolynomialDecay begin_step==end_step==5, mask update at step 5 (sparsity NaN)': [() => pruneMask([1, 2], NaN),
      /'sparsity' passed to 'pruneMask' must be a number in \[0, 1\), but got NaN/],
    'wrapper block_pooling_type \'SUM\'': [() => pruneMask(tf.zeros([4, 4]), 0.5, {blockSize: [2, 2], blockPoolingType: 'SUM' as 'AVG'}),
      /'blockPoolingType' passed to 'pruneMask' must be one of 'AVG', 'MAX', but got 'SUM'/],
  };
  // Not one mask update's business: m:n masks (mByNMask's tests) and a step with no update.
  const elsewhere = [/^sparsity_m_by_n/, /not pruned/];
  for (const e of golden.errors) {
    if (elsewhere.some(r => r.test(e.case))) continue;
    assert.ok(mapped[e.case], `no mapping for tfmot error case '${e.case}'`);
    const before = tf.memory().numTensors;
    const [fn, message] = mapped[e.case];
    // tidy disposes the inputs the cases allocate, so any tensor left is pruneMask's leak.
    assert.throws(() => tf.tidy(fn as () => void), message, e.case);
    assert.is(tf.memory().numTensors, before, `${e.case} leaked`);
  }
});

pruneSuite('pruneMask rejects bad arguments without leaking', () => {
  const i32 = tf.tensor([1, 2], [2], 'int32');
  const w3 = tf.zeros([2, 4, 4]);
  const before = tf.memory().numTensors;
  assert.throws(() => pruneMask(i32, 0.5), /'w' passed to 'pruneMask' must be a float32 tensor, but got a int32/);
  assert.throws(() => pruneMask([], 0.5), /'w' passed to 'pruneMask' must not be empty, but got shape \[0\]/);
  for (const s of [-0.5, 1, NaN]) assert.throws(() => pruneMask([1, 2], s), /'sparsity' passed to 'pruneMask' must be a number in \[0, 1\)/);
  for (const b of [[0, 1], [1], [1.5, 2], 'x']) {
    assert.throws(() => pruneMask([[1, 2]], 0.5, {blockSize: b as [number, number]}),
        /'blockSize' passed to 'pruneMask' must be a pair of positive integers \[height, width\]/);
  }
  assert.throws(() => pruneMask([1, 2], 0.5, {blockPoolingType: 'avg' as 'AVG'}), /'blockPoolingType' .* must be one of 'AVG', 'MAX', but got 'avg'/);
  assert.throws(() => pruneMask(w3, 0.5, {blockSize: [2, 2]}), /must have rank 2 .* but got rank 3 \(shape \[2,4,4\]\)/);
  for (const options of [null, 5, 'x', [1, 4]]) {
    assert.throws(() => pruneMask([1, 2], 0.5, options as never),
        /pruneMask options must be an object \{blockSize, blockPoolingType\}, but got/, String(options));
  }
  assert.throws(() => pruneMask([1, 2], 0.5, {block_size: [1, 1]} as never),
      /pruneMask got an unknown option 'block_size'; valid options are blockSize, blockPoolingType/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([i32, w3]);
});

pruneSuite.run();
