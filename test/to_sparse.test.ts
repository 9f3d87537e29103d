// toSparse (src/sparse/convert.ts): converted models predict as their sources (float32 and int8, every
// block shape, both backends), pruned and nested models, convolutions, recurrent layers, bad arguments.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ConstantSparsity, pruneLowMagnitude, stripPruning, UpdatePruningStep} from '../src/index';
import {toSparse} from '../src/index';
import {SparseConv2D} from '../src/sparse/sparse_conv2d';
import {BACKENDS, blockSparseWeight, normal, relativeError, useBackend} from './helpers';
import {Block, checkInt8Layers, disposeModel, inputFor, memoryArtifacts, MODELS, pointwiseCnn, predictBoth, sequentialMlp,
  smallCnn, sparsify} from './sparse_models';

const PATTERNS: Array<[Block, number]> = [[[1, 1], 0.5], [[1, 1], 0.85], [[1, 16], 0.9], [[1, 4], 0.7], [[4, 4], 0.8], [[2, 2], 1]];

const predictions = suite('toSparse predictions');

for (const backend of BACKENDS) {
  predictions(`toSparse(model) predicts as the source model on ${backend} (float32 1e-5 relative, int8 within the derived bound)`, async () => {
    await useBackend(backend);
    for (const [name, build] of MODELS) {
      for (const [block, sparsity] of PATTERNS) {
        const model = build();
        sparsify(model, block, sparsity);
        for (const dtype of ['float32', 'int8'] as const) {
          const before = tf.memory().numTensors;
          // int8 is checked layer by layer against the source's channels-last layers; channel-major
          // int8 models are checked end to end in channel_major.test.ts.
          const {model: sparse, report} = await toSparse(model, {dtype, layout: dtype === 'int8' ? 'channelsLast' : 'auto'});
          assert.ok(report.some(r => r.converted), `${name} ${block} ${sparsity}: nothing converted`);
          for (const batch of [1, 7, 32]) {
            const x = inputFor(model, batch, batch);
            const what = `${backend} ${name} block ${block} s=${sparsity} ${dtype} batch ${batch}`;
            if (dtype === 'float32') {
              const err = predictBoth(sparse, model, x);
              assert.ok(err <= 1e-5, `${what}: relative error ${err}`);
            } else {
              checkInt8Layers(model, sparse, x, what);
            }
            x.dispose();
          }
          disposeModel(sparse);
          assert.is(tf.memory().numTensors, before, `${name} ${dtype}: toSparse + predict + dispose leaked`);
        }
        model.dispose();
      }
    }
  });
}

predictions('the converted model shares no weights with the source', async () => {
  await useBackend('wasm');
  const model = sequentialMlp();
  sparsify(model, [1, 4], 0.8);
  const x = inputFor(model, 3, 1);
  const want = model.predict(x) as tf.Tensor;
  const {model: sparse} = await toSparse(model);
  model.dispose();
  const got = sparse.predict(x) as tf.Tensor;
  assert.ok(relativeError(got, want) <= 1e-5);
  tf.dispose([x, want, got]);
  sparse.dispose();
});

predictions.run();

// ---

const pruned = suite('toSparse of pruned models');

/** A pruned Sequential trained for a few steps so its masks are set (ConstantSparsity, every step). */
async function prunedModel(blockSize: Block, targetSparsity: number): Promise<tfl.LayersModel> {
  const p = pruneLowMagnitude(sequentialMlp(), {
    pruningSchedule: new ConstantSparsity({targetSparsity, beginStep: 0, frequency: 1}), blockSize,
  }) as tfl.LayersModel;
  p.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const x = tf.tensor2d(normal(64 * 20, 1), [64, 20]), y = tf.tensor2d(normal(64 * 5, 2), [64, 5]);
  await p.fit(x, y, {epochs: 1, batchSize: 32, verbose: 0, callbacks: [new UpdatePruningStep()]});
  tf.dispose([x, y]);
  return p;
}

pruned('a pruned model is stripped first and keeps its pruning block size', async () => {
  await useBackend('wasm');
  const p = await prunedModel([1, 8], 0.75);
  const {model: sparse, report} = await toSparse(p, {dtype: 'float32'});
  const stripped = stripPruning(p);
  for (const entry of report) {
    assert.is(entry.converted, true, entry.name);
    assert.is(entry.blockSource, 'pruning');
    assert.equal(entry.blockSize, [1, Math.min(8, entry.name === 'd3' ? 5 : 8)]);
    assert.ok(Math.abs(entry.sparsity! - 0.75) < 0.1, `${entry.name} sparsity ${entry.sparsity}`);
  }
  const x = inputFor(stripped, 5, 3);
  assert.ok(predictBoth(sparse, stripped, x) <= 1e-5);
  x.dispose();
  sparse.dispose();
  p.dispose();
});

pruned('1x1 convolutions become SparseConv2D layers', async () => {
  await useBackend('wasm');
  const model = pointwiseCnn();
  sparsify(model, [1, 4], 0.75);
  const {model: sparse, report} = await toSparse(model);
  assert.equal(report.map(r => [r.name, r.newClassName]), [['pw1', 'SparseConv2D'], ['pw2', 'SparseConv2D'], ['head', 'SparseDense']]);
  assert.ok(sparse.getLayer('pw2') instanceof SparseConv2D);
  assert.equal((sparse.getLayer('pw2') as SparseConv2D).strides, [2, 2]);
  sparse.dispose();
  model.dispose();
});

/**
 * A CNN with k×k convolutions of every padding and stride, a dilated one, and a depthwise one; 'c3'
 * (patch rows of 144) runs on the sparse kernel, 'c23' (96) on tf.conv2d.
 */
function kxkCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [10, 9, 16], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c3'}),
    tfl.layers.conv2d({filters: 16, kernelSize: [2, 3], strides: [2, 1], name: 'c23'}),
    tfl.layers.conv2d({filters: 8, kernelSize: 3, dilationRate: 2, padding: 'same', name: 'dilated'}),
    tfl.layers.depthwiseConv2d({kernelSize: 3, name: 'dw'}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 5, name: 'head'}),
  ]});
}

/** Zeroes all but 1 - sparsity of every Conv2D and Dense kernel in 1x`bw` blocks of its [K, N] form. */
function sparsifyKernels(model: tfl.LayersModel, bw: number, sparsity: number): void {
  model.layers.filter(l => ['Conv2D', 'Dense'].includes(l.getClassName())).forEach((layer, i) => {
    const shape = layer.weights[0].shape as number[];
    const N = shape[shape.length - 1], K = shape.reduce((a, b) => a * b, 1) / N;
    const kernel = tf.tensor(blockSparseWeight(K, N, [1, Math.min(bw, N)], sparsity, 40 + i), shape);
    layer.setWeights([kernel, ...layer.getWeights().slice(1)]);
    kernel.dispose();
  });
}

pruned('k×k convolutions become SparseConv2D layers; dilated ones stay dense', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const model = kxkCnn();
    sparsifyKernels(model, 8, 0.8);
    for (const dtype of ['float32', 'int8'] as const) {
      const before = tf.memory().numTensors;
      const {model: sparse, report} = await toSparse(model, {dtype});
      const byName = new Map(report.map(r => [r.name, r]));
      assert.equal(report.map(r => [r.name, r.newClassName]), [['c3', 'SparseConv2D'], ['c23', 'SparseConv2D'],
        ['dilated', 'Conv2D'], ['dw', 'DepthwiseConv2D'], ['head', 'SparseDense']]);
      assert.match(byName.get('dilated')!.reason, /Conv2D with dilation 2x2 is not converted \(only dilation 1\): left dense/);
      assert.match(byName.get('dw')!.reason, /DepthwiseConv2D layers are not converted \(only Dense and Conv2D\): left dense/);
      const c23 = sparse.getLayer('c23') as SparseConv2D, c3 = sparse.getLayer('c3') as SparseConv2D;
      assert.equal([c23.kernelSize, c23.strides, c23.padding, c23.inputDim, c23.units], [[2, 3], [2, 1], 'valid', 2 * 3 * 16, 16]);
      assert.ok(byName.get('c3')!.bytesAfter < byName.get('c3')!.bytesBefore / 2);
      const x = inputFor(model, 3, 5);
      if (dtype === 'float32') {
        assert.ok(predictBoth(sparse, model, x) <= 1e-5, backend);
      } else {
        checkInt8Layers(model, sparse, x, `${backend} k×k`);
      }
      tf.dispose(sparse.predict(x) as tf.Tensor);
      assert.equal([c3.packedKernel().hasDenseWeight, c23.packedKernel().hasDenseWeight], [false, true],
          `${backend} ${dtype}: c3 on the patch path, c23 on tf.conv2d`);
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(await memoryArtifacts(sparse)));
      assert.ok(predictBoth(loaded, sparse, x) === 0, `${backend} ${dtype}: reloaded`);
      tf.dispose(x);
      loaded.dispose();
      sparse.dispose();
      assert.is(tf.memory().numTensors, before, `${backend} ${dtype}: toSparse, predict, save and load leave no tensor`);
    }
    model.dispose();
  }
});

pruned('nested models are converted inside', async () => {
  await useBackend('cpu');
  const inner = tfl.sequential({name: 'inner', layers: [
    tfl.layers.dense({inputShape: [10], units: 20, activation: 'relu', name: 'a'}), tfl.layers.dense({units: 8, name: 'b'})]});
  const input = tfl.input({shape: [10]});
  const out = tfl.layers.dense({units: 3, name: 'c'}).apply(inner.apply(input)) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: out});
  sparsify(inner, [1, 1], 0.7);
  sparsify(model, [1, 1], 0.7);
  const {model: sparse, report} = await toSparse(model);
  assert.equal(report.map(r => [r.name, r.newClassName]), [['a', 'SparseDense'], ['b', 'SparseDense'], ['c', 'SparseDense']]);
  const x = inputFor(model, 2, 4);
  assert.ok(predictBoth(sparse, model, x) <= 1e-5);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(await memoryArtifacts(sparse)));
  assert.ok(predictBoth(loaded, sparse, x) === 0);
  tf.dispose(x);
  [loaded, sparse, model].forEach(m => m.dispose());
});

pruned('unpruned layers are reported and left dense', async () => {
  await useBackend('cpu');
  const model = smallCnn();
  sparsify(model, [1, 1], 0.9);
  // Make the logits dense again.
  const logits = model.getLayer('logits');
  const k = tf.ones(logits.weights[0].shape as number[]);
  logits.setWeights([k, logits.getWeights()[1]]);
  k.dispose();
  const {model: sparse, report} = await toSparse(model, {minSparsity: 0.5, blockSize: [1, 4]});
  const byName = new Map(report.map(r => [r.name, r]));
  assert.equal([...byName.keys()], ['conv', 'hidden', 'logits']);
  const conv = byName.get('conv')!, hidden = byName.get('hidden')!, out = byName.get('logits')!;
  assert.is(conv.converted, false);
  assert.match(conv.reason, /kernel sparsity 0\.0000 is below minSparsity 0\.5: left dense/);
  assert.is(conv.bytesAfter, conv.bytesBefore);
  assert.is(hidden.converted, true);
  assert.is(hidden.newClassName, 'SparseDense');
  assert.equal(hidden.blockSize, [1, 4]);
  assert.is(hidden.blockSource, 'option');
  assert.is(hidden.dtype, 'float32');
  assert.ok(hidden.kernel != null && ['sparse', 'dense', 'tfMatMul'].includes(hidden.kernel.batch1));
  assert.is(hidden.bytesBefore, 4 * (144 * 40 + 40));
  assert.ok(hidden.bytesAfter < hidden.bytesBefore / 2, `${hidden.bytesAfter}`);
  assert.is(out.converted, false);
  assert.match(out.reason, /kernel sparsity 0\.0000 is below minSparsity 0\.5: left dense/);
  assert.is(sparse.getLayer('logits').getClassName(), 'Dense');
  assert.is(sparse.getLayer('hidden').getClassName(), 'SparseDense');
  sparse.dispose();
  model.dispose();
});

pruned('bad arguments are refused', async () => {
  const model = sequentialMlp();
  const cases: Array<[unknown, unknown, RegExp]> = [
    [model, {dtype: 'int4'}, /'dtype' passed to 'toSparse' must be one of 'float32', 'int8', but got 'int4'/],
    [model, {minSparsity: 2}, /'minSparsity' passed to 'toSparse' must be a number in \[0, 1\], but got 2/],
    [model, {blockSize: [0, 4]}, /'blockSize' passed to 'toSparse' must be a pair of positive integers/],
    [model, {blocks: [1, 4]}, /unknown option 'blocks'; valid options are dtype, minSparsity, blockSize/],
    [{}, {}, /'model' passed to 'toSparse' must be a tf.LayersModel, but got Object/],
  ];
  for (const [m, o, pattern] of cases) {
    let error: unknown = null;
    try {
      await toSparse(m as tfl.LayersModel, o as {});
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Error && pattern.test(error.message), `${JSON.stringify(o)}: ${String(error)}`);
  }
  model.dispose();
});

pruned.run();

// ---

const recurrent = suite('toSparse of recurrent models');

/**
 * An LSTM, GRU and SimpleRNN model as Keras saves one (Orthogonal recurrent initializers in the
 * config), loaded as tfjs loads it (no initializer runs). Built here with another initializer:
 * tfjs-layers' Orthogonal needs chained ops that only the @tensorflow/tfjs union package registers.
 */
async function loadedRecurrentModel(): Promise<tfl.LayersModel> {
  const init = (seed: number) => tfl.initializers.glorotUniform({seed});
  const model = tfl.sequential({layers: [
    tfl.layers.lstm({inputShape: [6, 5], units: 16, returnSequences: true, name: 'lstm', kernelInitializer: init(1),
                     recurrentInitializer: init(2)}),
    tfl.layers.gru({units: 16, returnSequences: true, name: 'gru', kernelInitializer: init(3), recurrentInitializer: init(4)}),
    tfl.layers.simpleRNN({units: 16, name: 'rnn', kernelInitializer: init(5), recurrentInitializer: init(6)}),
    tfl.layers.dense({units: 64, activation: 'relu', name: 'head'}),
    tfl.layers.dense({units: 3, name: 'out'}),
  ]});
  sparsify(model, [1, 16], 0.8);
  const artifacts = await memoryArtifacts(model);
  model.dispose();
  const topology = artifacts.modelTopology as {config: {layers: Array<{config: Record<string, unknown>}>}};
  for (const layer of topology.config.layers) {
    if ('recurrent_initializer' in layer.config) {
      layer.config.recurrent_initializer = {class_name: 'Orthogonal', config: {gain: 1, seed: null}};
    }
  }
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts));
}

recurrent('LSTM, GRU and SimpleRNN layers are copied with their weights; Dense layers become sparse', async () => {
  await useBackend('wasm');
  const model = await loadedRecurrentModel();
  const x = inputFor(model, 3, 21);
  for (const dtype of ['float32', 'int8'] as const) {
    const before = tf.memory().numTensors;
    const {model: sparse, report: entries} = await toSparse(model, {dtype});
    assert.equal(entries.map(e => [e.name, e.newClassName]),
        [['lstm', 'LSTM'], ['gru', 'GRU'], ['rnn', 'SimpleRNN'], ['head', 'SparseDense'], ['out', 'SparseDense']], dtype);
    for (const name of ['lstm', 'gru', 'rnn']) {
      const [a, b] = [model.getLayer(name).getWeights(), sparse.getLayer(name).getWeights()];
      a.forEach((w, i) => assert.equal(Array.from(b[i].dataSync()), Array.from(w.dataSync()), `${name} weight ${i}`));
    }
    const error = predictBoth(sparse, model, x);
    assert.ok(error <= (dtype === 'float32' ? 1e-5 : 0.05), `${dtype}: relative error ${error}`);
    sparse.dispose();
    assert.is(tf.memory().numTensors, before, `${dtype}: toSparse leaked tensors`);
  }
  x.dispose();
  model.dispose();
});

/**
 * tfjs's Ones initializer counting its calls, to prove toSparse runs none on layers whose weights it
 * copies (tfjs-layers exports the initializer classes only as types).
 */
type Initializer = ReturnType<typeof tfl.initializers.ones>;
class CountingInitializer extends (tfl.initializers.ones().constructor as new () => Initializer) {
  static className = 'CountingInitializer';
  static calls = 0;
  override apply(shape: number[], dtype?: tf.DataType): tf.Tensor {
    CountingInitializer.calls++;
    return tf.ones(shape, dtype);
  }
}
tf.serialization.registerClass(CountingInitializer as unknown as tf.serialization.SerializableConstructor<Initializer>);

recurrent('copied layers run no initializer (their weights are overwritten)', async () => {
  await useBackend('wasm');
  const model = tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [8], units: 8, name: 'kept', kernelInitializer: new CountingInitializer(),
                      biasInitializer: new CountingInitializer()}),
  ]});
  assert.is(CountingInitializer.calls, 2, 'the model was built with the counting initializer');
  const {model: copy, report: entries} = await toSparse(model);
  assert.is(entries[0].converted, false, 'a dense kernel stays dense (below minSparsity)');
  assert.is(CountingInitializer.calls, 2, 'toSparse ran an initializer');
  assert.equal(Array.from(copy.getLayer('kept').getWeights()[0].dataSync()), Array(64).fill(1));
  copy.dispose();
  model.dispose();
});

recurrent.run();

