// Hostile inputs: each gets a clear error or the documented behaviour (RELIABILITY.md lists them all,
// with the tests elsewhere that already cover the rest), never a wasm trap, a hang or a leaked tensor.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {applyMask, blockPool, ConstantSparsity, countNonzero, magnitudeThreshold, maskFromThreshold, mByNMask,
  packBlockSparse, pruneLowMagnitude, pruneMask, PruneLowMagnitude, UpdatePruningStep} from '../src/index';
import {PRUNE_CALLBACK_ERROR_MSG} from '../src/pruning/wrapper';
import {BACKENDS, noLeak, useBackend} from './helpers';

/** Runs `fn` (returning a mask and threshold) and asserts it adds exactly those two tensors. */
function noLeakPair<T extends {mask: tf.Tensor; threshold: tf.Tensor}>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const result = fn();
  assert.is(tf.memory().numTensors, before + 2, 'leaked tensors');
  return result;
}

/** Reads a tensor's values and disposes it. */
function take(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

const values = suite('hostile values');

for (const backend of BACKENDS) {
  values(`NaN and ±Infinity weights: pruneMask keeps them first (NaN ranks above +Infinity) on ${backend}`, async () => {
    await useBackend(backend);
    const w = tf.tensor2d([NaN, 1, -Infinity, 0.5, 2, -3], [2, 3]);
    const {mask, threshold} = noLeakPair(() => pruneMask(w, 0.5));
    assert.equal(take(mask), [1, 0, 1, 0, 0, 1]);
    assert.is(take(threshold)[0], 3);
    // One block holding a NaN scores NaN and is kept before every other block.
    const blocks = noLeakPair(() => pruneMask(w, 0.5, {blockSize: [2, 2]}));
    assert.equal(take(blocks.mask), [1, 1, 0, 1, 1, 0]);
    assert.ok(Number.isNaN(take(blocks.threshold)[0]));
    w.dispose();
  });

  values(`sparsity 1 - 1e-7 keeps exactly one weight (the largest; a NaN if any) on ${backend}`, async () => {
    await useBackend(backend);
    const w = tf.tensor1d([0.5, -7, 3, 2]);
    const {mask, threshold} = noLeakPair(() => pruneMask(w, 1 - 1e-7));
    assert.equal(take(mask), [0, 1, 0, 0]);
    assert.is(take(threshold)[0], 7);
    const withNaN = tf.tensor1d([0.5, NaN, -7]);
    assert.equal(take(noLeakPair(() => pruneMask(withNaN, 1 - 1e-7)).mask), [0, 1, 0]);
    assert.ok(Number.isNaN(take(noLeak(() => magnitudeThreshold(withNaN, 1 - 1e-7)))[0]));
    assert.throws(() => pruneMask(w, 1), /Argument 'sparsity' passed to 'pruneMask' must be .*\[0, 1\)/);
    assert.throws(() => new ConstantSparsity({targetSparsity: 1, beginStep: 0}), /target_sparsity must be in range \[0,1\)/);
    tf.dispose([w, withNaN]);
  });

  values(`empty tensors: elementwise ops return empty results, threshold ops and packing refuse them on ${backend}`, async () => {
    await useBackend(backend);
    const empty = tf.zeros([0, 3]) as tf.Tensor2D;
    assert.equal(take(noLeak(() => maskFromThreshold(empty, 0.5))), []);
    assert.equal(take(noLeak(() => applyMask(empty, empty))), []);
    assert.equal(take(noLeak(() => countNonzero(empty))), [0]);
    assert.equal(take(noLeak(() => blockPool(empty, [2, 2], 'AVG'))), []);
    assert.equal(take(noLeak(() => mByNMask(empty, [2, 4]))), []);
    const before = tf.memory().numTensors;
    assert.throws(() => pruneMask(empty, 0.5), /Argument 'w' passed to 'pruneMask' must not be empty, but got shape \[0,3\]/);
    assert.throws(() => magnitudeThreshold(empty, 0.5), /Argument 'w' passed to 'magnitudeThreshold' must not be empty/);
    assert.throws(() => packBlockSparse(empty, {blockSize: [1, 1]}), /Argument 'blockSize' passed to 'packBlockSparse' must fit in w of shape \[0, 3\]/);
    assert.is(tf.memory().numTensors, before, 'failed calls leak nothing');
    empty.dispose();
  });

  values(`int32 and bool tensors are refused, naming the argument and float32, on ${backend}`, async () => {
    await useBackend(backend);
    const i32 = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), b = tf.tensor2d([1, 0, 1, 0], [2, 2], 'bool');
    const before = tf.memory().numTensors;
    for (const [t, dtype] of [[i32, 'int32'], [b, 'bool']] as const) {
      const msg = (op: string) => new RegExp(`Argument 'w' passed to '${op}' must be a float32 tensor, but got a ${dtype} tensor`);
      assert.throws(() => pruneMask(t, 0.5), msg('pruneMask'));
      assert.throws(() => maskFromThreshold(t, 0.5), msg('maskFromThreshold'));
      assert.throws(() => countNonzero(t), msg('countNonzero'));
      assert.throws(() => magnitudeThreshold(t, 0.5), msg('magnitudeThreshold'));
      assert.throws(() => packBlockSparse(t), msg('packBlockSparse'));
    }
    assert.is(tf.memory().numTensors, before, 'failed calls leak nothing');
    tf.dispose([i32, b]);
  });

  values(`block sizes larger than the weight: pruneMask uses one partial block, packBlockSparse refuses on ${backend}`, async () => {
    await useBackend(backend);
    const w = tf.tensor2d([1, -2, 3, 0.5, 0.25, -6], [2, 3]);
    const {mask, threshold} = noLeakPair(() => pruneMask(w, 0.5, {blockSize: [8, 8]}));
    assert.equal(take(mask), [1, 1, 1, 1, 1, 1], 'the single block is kept (keepCount >= 1)');
    assert.is(take(threshold)[0], Math.fround((1 + 2 + 3 + 0.5 + 0.25 + 6) / 6));
    assert.throws(() => packBlockSparse(w, {blockSize: [4, 4]}),
        /Argument 'blockSize' passed to 'packBlockSparse' must fit in w of shape \[2, 3\], but got \[4, 4\]/);
    w.dispose();
  });
}

values('NaN weights through a pruned fit step: the loss is NaN (visible), no trap, the step advances', async () => {
  await useBackend('wasm');
  const model = tfl.sequential({layers: [tfl.layers.dense({units: 3, inputShape: [4]})]});
  model.layers[0].setWeights([tf.tensor2d([NaN, 1, 2, 3, Infinity, -Infinity, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [4, 3]), tf.zeros([3])]);
  const pruned = pruneLowMagnitude(model, {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
  pruned.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const x = tf.ones([4, 4]), y = tf.ones([4, 3]);
  const history = await pruned.fit(x, y, {batchSize: 4, verbose: 0, callbacks: [new UpdatePruningStep()]});
  assert.ok(Number.isNaN(history.history.loss[0] as number), 'NaN weights give a NaN loss');
  const wrapper = pruned.layers[0] as PruneLowMagnitude;
  assert.is(wrapper.pruningStep, 1);
  tf.dispose([x, y]);
  pruned.dispose();
});

values('zero-unit Dense layers cannot be built: tfjs-layers refuses units 0', () => {
  assert.throws(() => tfl.layers.dense({units: 0, inputShape: [3]}), /Expected units to be a positive integer, but got 0/);
});

// ---

const artifacts = suite('malformed saved models');

/** The artifacts of a freshly pruned Dense(4 -> 3) model saved to memory. */
async function savedPruned(): Promise<tf.io.ModelArtifacts> {
  const base = tfl.sequential({layers: [tfl.layers.dense({units: 3, inputShape: [4]})]});
  const pruned = pruneLowMagnitude(base, {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
  let saved: tf.io.ModelArtifacts | undefined;
  await pruned.save(tf.io.withSaveHandler(async a => {
    saved = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  pruned.dispose();
  return saved!;
}

/** Saved JSON, edited freely by the malformations below. */
type Json = any;

/** A deep copy of `a` (weights copied) changed by `change`. */
function mutated(a: tf.io.ModelArtifacts, change: (topology: Json, specs: Json[], data: ArrayBuffer) => void): tf.io.ModelArtifacts {
  const copy = {...a, modelTopology: structuredClone(a.modelTopology), weightSpecs: structuredClone(a.weightSpecs),
    weightData: (a.weightData as ArrayBuffer).slice(0)};
  change(copy.modelTopology as Json, copy.weightSpecs as Json[], copy.weightData);
  return copy;
}

const spec = (specs: Json[], suffix: string) => specs.find(s => s.name.endsWith(suffix));
const wrapperConfig = (topology: Json) => topology.config.layers[0].config;

artifacts('each malformation of model.json is refused at load with a clear error', async () => {
  await useBackend('wasm');
  const good = await savedPruned();
  // Errors in the weights stage leak tfjs-layers' half-loaded model: loadLayersModel builds the model (5
  // variables) and decodes the weights (5 tensors, 4 with one missing), then throws without disposing
  // either (tfjs-layers 4.22 models.ts; RELIABILITY.md). Errors in the config stage leak nothing.
  const cases: Array<[string, tf.io.ModelArtifacts, RegExp, number]> = [
    ['mask shape mismatch', mutated(good, (_, s) => { spec(s, '/mask').shape = [3, 4]; }), /Shape mismatch: \[4,3\] vs\. \[3,4\]/, 10],
    ['mask shape and size mismatch', mutated(good, (_, s) => { spec(s, '/mask').shape = [2, 3]; }), /Shape mismatch: \[4,3\] vs\. \[2,3\]/, 10],
    ['kernel saved as int32', mutated(good, (_, s) => { spec(s, '/kernel').dtype = 'int32'; }),
      /dtype of the new value \(int32\) and previous value \(float32\) must match/, 10],
    ['pruning_step saved as float32', mutated(good, (_, s) => { spec(s, 'pruning_step').dtype = 'float32'; }),
      /dtype of the new value \(float32\) and previous value \(int32\) must match/, 10],
    ['mask missing from the manifest', mutated(good, (_, s) => { s.splice(s.indexOf(spec(s, '/mask')), 1); }),
      /1 of 5 weights are not set: prune_low_magnitude_.*\/mask/, 9],
    ['wrapper config missing', mutated(good, t => { delete t.config.layers[0].config; }), /Improper config format.*'className' and 'config' must set/s, 0],
    ['inner layer missing', mutated(good, t => { delete wrapperConfig(t).layer; }), /Expected a layer config \{className, config\}, but got undefined/, 0],
    ['pruning_schedule missing', mutated(good, t => { delete wrapperConfig(t).pruning_schedule; }),
      /deserializeSchedule expects \{className, config\} \(or \{class_name, config\}\), but got undefined/, 0],
    ['target_sparsity 1.5', mutated(good, t => { wrapperConfig(t).pruning_schedule.config.target_sparsity = 1.5; }),
      /target_sparsity must be in range \[0,1\)/, 0],
    ['block_size not a pair', mutated(good, t => { wrapperConfig(t).block_size = 'x'; }), /blockSize must be a pair of positive integers \[height, width\], but got 'x'/, 0],
  ];
  for (const [what, broken, message, leaked] of cases) {
    const before = tf.memory().numTensors;
    try {
      await tfl.loadLayersModel(tf.io.fromMemory(broken));
      assert.unreachable(`${what}: loaded`);
    } catch (e) {
      assert.match((e as Error).message, message, what);
    }
    assert.is(tf.memory().numTensors - before, leaked, `${what}: leaked tensors`);
  }
});

artifacts('a negative pruning_step loads as saved and predicts; training refuses it with tfmot\'s callback message', async () => {
  await useBackend('wasm');
  const good = await savedPruned();
  const negative = mutated(good, (_, specs, data) => {
    let offset = 0;
    for (const s of specs) {
      if (s.name.endsWith('pruning_step')) new Int32Array(data, offset, 1)[0] = -5;
      offset += s.shape.reduce((a: number, b: number) => a * b, 1) * 4;
    }
  });
  const model = await tfl.loadLayersModel(tf.io.fromMemory(negative));
  const wrapper = model.layers[0] as PruneLowMagnitude;
  assert.is(wrapper.pruningStep, -5);
  // As tfmot: UpdatePruningStep starts only a step of -1 at 0, and a training call refuses a negative step.
  model.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const x = tf.ones([4, 4]), y = tf.ones([4, 3]);
  try {
    await model.fit(x, y, {batchSize: 4, verbose: 0, callbacks: [new UpdatePruningStep()]});
    assert.unreachable('trained from step -5');
  } catch (e) {
    assert.is((e as Error).message, PRUNE_CALLBACK_ERROR_MSG);
  }
  assert.is(wrapper.pruningStep, -5);
  // Inference masks with the saved (all-ones) mask and runs.
  const yHat = model.predict(x) as tf.Tensor;
  assert.equal(yHat.shape, [4, 3]);
  yHat.dispose();
  tf.dispose([x, y]);
  model.dispose();
});

values.run();
artifacts.run();
