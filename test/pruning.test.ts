import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {LayerVariable} from '@tensorflow/tfjs-layers';
import {BLOCK_RANK_ERROR_MSG, ConstantSparsity, GlobalPruningGroup, M_BY_N_THRESHOLD, Pruning, PruningSchedule,
  PruningVar} from '../src/index';
import {BACKENDS, noLeak, useBackend} from './helpers';

/** tfmot's test schedule: always prunes, with a sparsity per step (`testConditionalMaskUpdate`). */
class ListSchedule extends PruningSchedule {
  static className = 'ListSchedule';
  constructor(readonly sparsities: number[]) {
    super();
  }
  call(step: number): [boolean, number] {
    return [true, Math.fround(this.sparsities[Math.min(step, this.sparsities.length - 1)])];
  }
  getConfig(): tf.serialization.ConfigDict {
    return {sparsities: this.sparsities};
  }
}

function pruningVar(values: number[]|Float32Array, shape: number[]): PruningVar {
  return {
    weight: new LayerVariable(tf.tensor(values, shape), 'float32', 'w', true),
    mask: new LayerVariable(tf.ones(shape), 'float32', 'mask', false),
    threshold: new LayerVariable(tf.scalar(0), 'float32', 'threshold', false),
  };
}

function disposeVars(vars: PruningVar[]): void {
  for (const v of vars) [v.weight, v.mask, v.threshold].forEach(x => x.dispose());
}

const values = (v: LayerVariable) => Array.from(v.read().dataSync());
const linspace = (a: number, b: number, n: number) => Array.from({length: n}, (_, i) => a + (b - a) * i / (n - 1));

// ---

const updateSuite = suite('Pruning.conditionalMaskUpdate');

for (const backend of BACKENDS) {
  updateSuite(`extremely sparse: 0.9999 of 100 weights keeps exactly one (${backend})`, async () => {
    await useBackend(backend);
    const v = pruningVar(linspace(1, 100, 100), [100]);
    const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.9999, beginStep: 0, frequency: 1})});
    noLeak(() => p.conditionalMaskUpdate(1), 'conditionalMaskUpdate');
    assert.is(values(v.mask).filter(x => x !== 0).length, 1);
    assert.is(values(v.threshold)[0], 100);
    disposeVars([v]);
  });

  updateSuite(`ConstantSparsity(0.5, 0, 100, 1) on 100 weights keeps 50 (${backend})`, async () => {
    await useBackend(backend);
    const v = pruningVar(tf.randomNormal([100], 0, 1, 'float32', 7).dataSync() as Float32Array, [100]);
    const p = new Pruning({pruningVars: [v],
      pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, endStep: 100, frequency: 1})});
    assert.ok(p.conditionalMaskUpdate(1));
    p.weightMaskOp();
    assert.is(values(v.weight).filter(x => x !== 0).length, 50);
    disposeVars([v]);
  });
}

updateSuite('mask and threshold: |w| = 1..10 at 0.200000018 gives threshold 3 and mask [0,0,1x8]', async () => {
  await useBackend('wasm');
  const v = pruningVar(linspace(1, 10, 10).map((x, i) => (i % 2 ? -x : x)), [10]);
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ListSchedule([0.200000018])});
  p.conditionalMaskUpdate(0);
  assert.is(values(v.threshold)[0], 3);
  assert.equal(values(v.mask), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  disposeVars([v]);
});

updateSuite('the schedule decides: no update off-frequency, update on it', async () => {
  await useBackend('wasm');
  const v = pruningVar(linspace(1, 10, 10), [10]);
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 2, frequency: 3})});
  assert.not.ok(p.conditionalMaskUpdate(1));
  assert.not.ok(p.conditionalMaskUpdate(3));
  assert.equal(values(v.mask), Array(10).fill(1));
  assert.ok(p.conditionalMaskUpdate(5));
  assert.equal(values(v.mask), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  disposeVars([v]);
});

updateSuite('conditional updates recompute from current weights: non-zeros 100,90,90,70,70,50,...', async () => {
  await useBackend('wasm');
  const v = pruningVar(tf.randomUniform([100], 0.5, 1, 'float32', 3).dataSync() as Float32Array, [100]);
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ListSchedule([0, 0.1, 0.1, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5])});
  const counts: number[] = [];
  const before = tf.memory().numTensors;
  for (let step = 0; step < 10; step++) {
    p.conditionalMaskUpdate(step);
    p.weightMaskOp();
    counts.push(values(v.weight).filter(x => x !== 0).length);
  }
  assert.is(tf.memory().numTensors, before, 'mask updates leaked tensors');
  assert.equal(counts, [100, 90, 90, 70, 70, 50, 50, 50, 50, 50]);
  disposeVars([v]);
});

updateSuite('block masking AVG and MAX: 4x4 weights, 2x2 blocks, 50% prunes the two weak blocks', async () => {
  await useBackend('wasm');
  // tfmot's testBlockMaskingAvg / testBlockMaskingMax: blocks of magnitude 0.1, 0.2 (rows 0-1), 0.3, 0.4.
  const avg = [0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.3, 0.3, 0.4, 0.4];
  const max = [0.1, 0.0, 0.2, 0.0, 0.0, -0.1, -0.2, 0.0, 0.3, 0.0, 0.4, 0.0, 0.0, -0.3, -0.4, 0.0];
  const expected = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
  for (const [pooling, w] of [['AVG', avg], ['MAX', max]] as const) {
    const v = pruningVar(w, [4, 4]);
    const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}),
      blockSize: [2, 2], blockPoolingType: pooling});
    p.conditionalMaskUpdate(1);
    assert.equal(values(v.mask), expected, pooling);
    disposeVars([v]);
  }
});

updateSuite('block sparsity on a rank-3 weight throws tfmot\'s error', async () => {
  await useBackend('wasm');
  const v = pruningVar(new Float32Array(8), [2, 2, 2]);
  assert.throws(() => new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0}),
    blockSize: [2, 2]}), new RegExp(BLOCK_RANK_ERROR_MSG));
  disposeVars([v]);
});

updateSuite('M:N 2:4 masks only at step 1, threshold 999, schedule ignored (tfmot _2d_2by4)', async () => {
  await useBackend('wasm');
  const v = pruningVar([0.74, 0.68, -0.89, -0.45, -1.68, 1.24, 0.31, -0.6], [4, 2]);
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.9, beginStep: 50}),
    sparsityMByN: [2, 4]});
  assert.not.ok(p.conditionalMaskUpdate(0));
  assert.ok(p.conditionalMaskUpdate(1));
  assert.equal(values(v.mask), [0, 1, 1, 0, 1, 1, 0, 0]);
  assert.is(values(v.threshold)[0], M_BY_N_THRESHOLD);
  const ones = tf.ones([4, 2]);
  v.weight.write(ones);
  ones.dispose();
  assert.not.ok(p.conditionalMaskUpdate(2), 'the M:N mask is fixed after step 1');
  assert.not.ok(p.conditionalMaskUpdate(100));
  assert.equal(values(v.mask), [0, 1, 1, 0, 1, 1, 0, 0]);
  disposeVars([v]);
});

updateSuite.run();

// ---

const maskOpSuite = suite('Pruning.weightMaskOp');

maskOpSuite('weightMaskOp assigns w * mask as a new tensor and never writes the old bytes', async () => {
  await useBackend('wasm');
  const v = pruningVar([1, -2, 3, -4], [4]);
  v.mask.write(tf.tensor([1, 0, 1, 0]));
  const old = v.weight.read().clone();
  const oldDataId = v.weight.read().dataId;
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})});
  noLeak(() => p.weightMaskOp(), 'weightMaskOp');
  assert.equal(values(v.weight), [1, 0, 3, -0]);
  assert.is.not(v.weight.read().dataId, oldDataId);
  assert.equal(Array.from(old.dataSync()), [1, -2, 3, -4]);
  old.dispose();
  disposeVars([v]);
});

maskOpSuite('weightMaskOp skips weights already masked and re-masks after any change', async () => {
  await useBackend('wasm');
  const v = pruningVar([1, 2, 3, 4], [4]);
  v.mask.write(tf.tensor([0, 1, 1, 1]));
  const p = new Pruning({pruningVars: [v], pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})});
  p.weightMaskOp();
  const maskedId = v.weight.read().dataId;
  p.weightMaskOp();
  assert.is(v.weight.read().dataId, maskedId, 'an unchanged weight is not re-assigned');
  v.weight.write(tf.tensor([5, 6, 7, 8]));
  p.weightMaskOp();
  assert.equal(values(v.weight), [0, 6, 7, 8]);
  v.mask.write(tf.tensor([1, 1, 0, 1]));
  p.weightMaskOp();
  assert.equal(values(v.weight), [0, 6, 0, 8]);
  disposeVars([v]);
});

maskOpSuite.run();

// ---

const globalSuite = suite('GlobalPruningGroup');

globalSuite('one threshold across layers: the weaker layer is pruned first (torch global_unstructured)', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const schedule = () => new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1});
    const a = pruningVar(linspace(1, 10, 10), [2, 5]);
    const b = pruningVar(linspace(11, 30, 20), [4, 5]);
    const group = new GlobalPruningGroup([
      new Pruning({pruningVars: [a], pruningSchedule: schedule()}),
      new Pruning({pruningVars: [b], pruningSchedule: schedule()}),
    ]);
    // 30 weights at 0.5 keep the 15 largest: 16..30, all in b.
    assert.ok(noLeak(() => group.conditionalMaskUpdate(1), 'global update'));
    assert.equal(values(a.mask), Array(10).fill(0), backend);
    assert.equal(values(b.mask), [...Array(5).fill(0), ...Array(15).fill(1)], backend);
    assert.is(values(a.threshold)[0], 16);
    assert.is(values(b.threshold)[0], 16);
    assert.not.ok(group.conditionalMaskUpdate(1), 'a step is handled once for the whole group');
    assert.ok(group.conditionalMaskUpdate(2));
    disposeVars([a, b]);
  }
});

globalSuite('global pruning keeps ties and at least one weight, like per-layer pruning', async () => {
  await useBackend('wasm');
  const a = pruningVar([1, 1, 1, 1], [4]);
  const b = pruningVar([1, 1], [2]);
  const s = new ConstantSparsity({targetSparsity: 0.99, beginStep: 0, frequency: 1});
  const group = new GlobalPruningGroup([new Pruning({pruningVars: [a], pruningSchedule: s}),
    new Pruning({pruningVars: [b], pruningSchedule: s})]);
  group.updateMasks(0.99);
  assert.equal([...values(a.mask), ...values(b.mask)], [1, 1, 1, 1, 1, 1], 'ties at the threshold are kept');
  disposeVars([a, b]);
});

globalSuite('GlobalPruningGroup rejects blocks, M:N, different schedules and no members', async () => {
  await useBackend('wasm');
  const a = pruningVar([1, 2, 3, 4], [2, 2]);
  const s = new ConstantSparsity({targetSparsity: 0.5, beginStep: 0});
  assert.throws(() => new GlobalPruningGroup([]), /at least one/);
  assert.throws(() => new GlobalPruningGroup([new Pruning({pruningVars: [a], pruningSchedule: s, blockSize: [1, 2]})]),
      /unstructured pruning only.*blockSize \[1,2\]/);
  assert.throws(() => new GlobalPruningGroup([new Pruning({pruningVars: [a], pruningSchedule: s, sparsityMByN: [2, 4]})]),
      /unstructured pruning only/);
  assert.throws(() => new GlobalPruningGroup([new Pruning({pruningVars: [a], pruningSchedule: s}),
    new Pruning({pruningVars: [a], pruningSchedule: new ConstantSparsity({targetSparsity: 0.6, beginStep: 0})})]),
  /one schedule for all its layers/);
  disposeVars([a]);
});

globalSuite.run();
