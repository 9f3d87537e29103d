import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {ConstantSparsity, pruneLowMagnitude, stripPruning, UpdatePruningStep} from '../src/index';
import {chooseKernelBlockWidth, SparseLayerReport, toSparse} from '../src/index';
import {extractPatches, packBlockSparse, planBlockSparseMatMul} from '../src/index';
import {SparseConv2D} from '../src/sparse/sparse_conv2d';
import {SparseDense} from '../src/sparse/sparse_dense';
import {buildCnn} from '../src/cli/mnist_cnn';
import {BACKENDS, blockSparseWeight, int8Bound, normal, relativeError, useBackend} from './helpers';

type Block = [number, number];

/** Zeros `sparsity` of the `block` blocks of every Dense and 1x1 Conv2D kernel of `model`. */
function sparsify(model: tfl.LayersModel, block: Block, sparsity: number, seed = 1): void {
  const pointwise = (shape: number[]) => shape.length === 4 && shape[0] === 1 && shape[1] === 1;
  model.layers.filter(l => l.getClassName() === 'Dense' || (l.getClassName() === 'Conv2D' && pointwise(l.weights[0].shape as number[])))
      .forEach((layer, i) => {
    const shape = layer.weights[0].shape as number[];
    const [K, N] = shape.slice(-2);
    const w = blockSparseWeight(K, N, [Math.min(block[0], K), Math.min(block[1], N)], sparsity, seed + i);
    const kernel = tf.tensor(w, shape);
    layer.setWeights([kernel, ...layer.getWeights().slice(1)]);
    kernel.dispose();
  });
}

function sequentialMlp(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [20], units: 48, activation: 'relu', name: 'd1'}),
    tfl.layers.dense({units: 24, activation: 'tanh', name: 'd2'}),
    tfl.layers.dense({units: 5, name: 'd3'}),
  ]});
}

/** Two branches, a shared Dense used twice, a concatenation. */
function functionalModel(): tfl.LayersModel {
  const input = tfl.input({shape: [16], name: 'in'});
  const shared = tfl.layers.dense({units: 16, activation: 'relu', name: 'shared'});
  const a = shared.apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({units: 32, activation: 'relu', name: 'branch'}).apply(input) as tfl.SymbolicTensor;
  const a2 = shared.apply(a) as tfl.SymbolicTensor;
  const merged = tfl.layers.concatenate({name: 'cat'}).apply([a2, b]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({units: 6, activation: 'softmax', name: 'out'}).apply(merged) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out});
}

function smallCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv'}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 40, activation: 'relu', name: 'hidden'}),
    tfl.layers.dense({units: 10, name: 'logits'}),
  ]});
}

/**
 * Disposes a model and its layers. tfjs counts every use of a layer, so a layer used twice in one
 * model (the functional model's 'shared') keeps its weights after `model.dispose()`: dispose it again.
 */
function disposeModel(model: tfl.LayersModel): void {
  model.dispose();
  for (const layer of model.layers) {
    if (layer.inboundNodes.length > 1) layer.dispose();
  }
}

/** Pointwise (1x1) convolutions, one strided, then a Dense head. */
function pointwiseCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [6, 6, 8], filters: 16, kernelSize: 1, activation: 'relu', name: 'pw1'}),
    tfl.layers.conv2d({filters: 12, kernelSize: 1, strides: 2, padding: 'same', name: 'pw2'}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 5, name: 'head'}),
  ]});
}

function inputFor(model: tfl.LayersModel, batch: number, seed: number): tf.Tensor {
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  return tf.tensor(normal(shape.reduce((a, b) => a * b, 1), seed), shape);
}


function predictBoth(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): number {
  const ya = a.predict(x) as tf.Tensor, yb = b.predict(x) as tf.Tensor;
  const e = relativeError(ya, yb);
  tf.dispose([ya, yb]);
  return e;
}

/**
 * Each int8 SparseDense of `sparse`, fed what its source layer receives in `source` for `x`, stays
 * within `int8Bound` of the source layer's output (row max norm).
 */
function checkInt8Layers(source: tfl.LayersModel, sparse: tfl.LayersModel, x: tf.Tensor, what: string): void {
  for (const layer of sparse.layers) {
    if (!(layer instanceof SparseDense)) continue;
    const src = source.getLayer(layer.name);
    const inSym = src.getInputAt(0) as tfl.SymbolicTensor;
    const xin = inSym.sourceLayer.getClassName() === 'InputLayer' ? x :
        tfl.model({inputs: source.inputs, outputs: inSym}).predict(x) as tf.Tensor;
    const yq = layer.apply(xin) as tf.Tensor, yf = src.apply(xin) as tf.Tensor;
    const [K, N] = [layer.inputDim, layer.units];
    // A convolution multiplies its patches (a strided 1x1 one: the strided pixels).
    const xs = layer instanceof SparseConv2D ?
        extractPatches(xin as tf.Tensor4D, {kernelSize: layer.kernelSize, strides: layer.strides,
          padding: layer.kernelSize[0] * layer.kernelSize[1] === 1 ? 'same' : layer.padding}) : xin;
    const xv = xs.dataSync(), wv = src.weights[0].read().dataSync(), sv = layer.weights[2].read().dataSync();
    if (xs !== xin) xs.dispose();
    const q = yq.dataSync(), f = yf.dataSync();
    const rows = q.length / N;
    for (let m = 0; m < rows; m++) {
      let err = 0, bound = 0, mag = 0;
      for (let n = 0; n < N; n++) {
        err = Math.max(err, Math.abs(q[m * N + n] - f[m * N + n]));
        bound = Math.max(bound, int8Bound(xv, m, wv, [K, N], sv, n));
        mag = Math.max(mag, Math.abs(f[m * N + n]));
      }
      assert.ok(err <= bound + 1e-5 * mag + 1e-6, `${what}, layer ${layer.name}, row ${m}: error ${err} > bound ${bound}`);
    }
    tf.dispose(xin === x ? [yq, yf] : [xin, yq, yf]);
  }
}

function memoryArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  return new Promise((resolve, reject) => {
    model.save(tf.io.withSaveHandler(async artifacts => {
      resolve(artifacts);
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    })).catch(reject);
  });
}

const MODELS: Array<[string, () => tfl.LayersModel]> = [
  ['sequential', sequentialMlp], ['functional', functionalModel], ['cnn', smallCnn], ['pointwise', pointwiseCnn],
];
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

const io = suite('save and load');

io('sparse models round-trip through tf.io.withSaveHandler / fromMemory and the file handler, bit for bit', async () => {
  await useBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-convert-'));
  try {
    for (const [name, build] of MODELS) {
      const model = build();
      sparsify(model, [1, 16], 0.8);
      for (const dtype of ['float32', 'int8'] as const) {
        const {model: sparse} = await toSparse(model, {dtype});
        const x = inputFor(model, 4, 9);
        const want = sparse.predict(x) as tf.Tensor;
        const artifacts = await memoryArtifacts(sparse);
        const fromMemory = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
        await sparse.save(`file://${join(dir, `${name}-${dtype}`)}`);
        const fromFile = await tfl.loadLayersModel(`file://${join(dir, `${name}-${dtype}`, 'model.json')}`);
        for (const [how, loaded] of [['fromMemory', fromMemory], ['file://', fromFile]] as const) {
          // By class name: another copy of the library in the process (the browser test's bundle) may own the registration.
          assert.ok(loaded.layers.some(l => l.getClassName() === 'SparseDense'),
              `${name} via ${how}: SparseDense restored (got ${loaded.layers.map(l => l.getClassName())})`);
          const got = loaded.predict(x) as tf.Tensor;
          assert.equal(Array.from(got.dataSync()), Array.from(want.dataSync()), `${name} ${dtype}`);
          got.dispose();
          loaded.dispose();
        }
        tf.dispose([x, want]);
        sparse.dispose();
      }
      model.dispose();
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

io('the saved sparse model is much smaller than the dense one', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [300], units: 256, name: 'big'})]});
  sparsify(model, [1, 1], 0.8);
  const dense = await memoryArtifacts(model);
  const denseBytes = (dense.weightData as ArrayBuffer).byteLength;
  for (const [dtype, minRatio] of [['float32', 4], ['int8', 12]] as const) {
    const {model: sparse, report} = await toSparse(model, {dtype});
    const artifacts = await memoryArtifacts(sparse);
    const bytes = (artifacts.weightData as ArrayBuffer).byteLength;
    assert.is(bytes, report[0].bytesAfter, 'report bytes are the saved bytes');
    assert.ok(denseBytes / bytes >= minRatio, `${dtype}: ${denseBytes} / ${bytes} = ${(denseBytes / bytes).toFixed(2)}x`);
    sparse.dispose();
  }
  model.dispose();
});

io('the demo CNN pruned to 80 % unstructured saves >= 4x smaller (float32) and >= 12x smaller (int8), model.json included', async () => {
  await useBackend('wasm');
  const model = buildCnn();
  sparsify(model, [1, 1], 0.8);
  const size = (a: tf.io.ModelArtifacts) => (a.weightData as ArrayBuffer).byteLength +
      JSON.stringify({modelTopology: a.modelTopology, weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}).length;
  const dense = size(await memoryArtifacts(model));
  for (const [dtype, minRatio] of [['float32', 4], ['int8', 12]] as const) {
    const {model: sparse} = await toSparse(model, {dtype});
    const ratio = dense / size(await memoryArtifacts(sparse));
    assert.ok(ratio >= minRatio, `${dtype}: ${ratio.toFixed(2)}x`);
    sparse.dispose();
  }
  model.dispose();
});

/** Artifacts of a converted MLP plus helpers to corrupt one weight or the config of layer 'd1'. */
async function corruptible(dtype: 'float32'|'int8') {
  const model = sequentialMlp();
  sparsify(model, [1, 1], 0.8);
  const {model: sparse} = await toSparse(model, {dtype});
  const artifacts = await memoryArtifacts(sparse);
  sparse.dispose();
  model.dispose();
  const specs = artifacts.weightSpecs!;
  const offsetOf = (weight: string) => {
    let offset = 0;
    for (const s of specs) {
      if (s.name === weight) return offset;
      offset += 4 * s.shape.reduce((a, b) => a * b, 1);
    }
    throw new Error(`no weight ${weight}`);
  };
  /** One word changed; without `checksums` in the configs (as saved before them), so the structural checks answer. */
  const withWord = (weight: string, index: number, value: number, type: 'int32'|'float32' = 'int32', checksums = false) => {
    const data = (artifacts.weightData as ArrayBuffer).slice(0);
    const view = new DataView(data, offsetOf(weight) + 4 * index, 4);
    if (type === 'int32') view.setInt32(0, value, true);
    else view.setFloat32(0, value, true);
    const topology = structuredClone(artifacts.modelTopology) as {config: {layers: Array<{config: Record<string, unknown>}>}};
    if (!checksums) for (const layer of topology.config.layers) delete layer.config.checksums;
    return {...artifacts, modelTopology: topology, weightData: data};
  };
  const withConfig = (edit: (config: Record<string, unknown>) => void) => {
    const topology = structuredClone(artifacts.modelTopology) as {config: {layers: Array<{config: Record<string, unknown>}>}};
    edit(topology.config.layers.find(l => l.config.name === 'd1')!.config);
    return {...artifacts, modelTopology: topology};
  };
  const positionWords = specs.find(s => s.name === 'd1/positions')!.shape[0];
  return {artifacts, withWord, withConfig, positionWords};
}

async function loadError(artifacts: tf.io.ModelArtifacts): Promise<string> {
  try {
    (await tfl.loadLayersModel(tf.io.fromMemory(artifacts))).dispose();
  } catch (e) {
    return (e as Error).message;
  }
  return 'loaded without error';
}

io('corrupt sparse artifacts are refused at load, naming the layer and the problem', async () => {
  await useBackend('wasm');
  const f32 = await corruptible('float32');
  const cases: Array<[string, tf.io.ModelArtifacts, RegExp]> = [
    ['positions with stray or overflowing bits', f32.withWord('d1/positions', f32.positionWords - 1, -1),
     /SparseDense 'd1': weight 'positions' is corrupt: (the positions have stray bits|the Rice-coded positions end|stored block \d+ has index \d+, outside)/],
    ['positions all ones', f32.withWord('d1/positions', 0, -1),
     /SparseDense 'd1': weight 'positions' is corrupt/],
    ['positions all ones, checksums recorded', f32.withWord('d1/positions', 0, -1, 'int32', true),
     /SparseDense 'd1': weight 'positions' fails its CRC-32C check \(the config records \d+, its bytes give \d+\)/],
    ['config counts one block fewer (bitmap/value count mismatch)', f32.withConfig(c => { c.nonzero_blocks = (c.nonzero_blocks as number) - 1; }),
     /SparseDense 'd1': (weight 'positions' is corrupt: .*(config says|stray bits)|invalid config: storedValues \d+ cannot fill \d+ blocks)/],
    ['config value count disagrees with the stored values', f32.withConfig(c => { c.stored_values = (c.stored_values as number) + 1; }),
     /SparseDense 'd1': (weight 'positions' is corrupt: the stored blocks hold \d+ entries, but the config says \d+ values|invalid config: storedValues \d+ cannot fill \d+ blocks)/],
    ['config with more blocks than the kernel has', f32.withConfig(c => { c.nonzero_blocks = 1e6; }),
     /SparseDense 'd1': invalid config: nonzeroBlocks 1000000 exceeds the 960 blocks/],
    ['config with a bad dtype', f32.withConfig(c => { c.value_dtype = 'int4'; }),
     /SparseDense 'd1': invalid config: valueDtype must be one of 'float32', 'int8', but got 'int4'/],
    ['config with a wrong position word count', f32.withConfig(c => { c.position_words = (c.position_words as number) + 3; }),
     /SparseDense 'd1': weight 'positions' must be int32 \[\d+\] as the layer config says, but got int32 \[\d+\]/],
  ];
  const i8 = await corruptible('int8');
  cases.push(
    ['int8 scale NaN', i8.withWord('d1/scales', 3, NaN, 'float32'), /SparseDense 'd1': weight 'scales' is corrupt: scales must be finite and >= 0, but scales\[3\] = NaN/],
    ['int8 value -128', i8.withWord('d1/values', 0, 0x80808080 | 0), /SparseDense 'd1': weight 'values' is corrupt: int8 values must be in \[-127, 127\]/],
  );
  for (const [what, artifacts, pattern] of cases) {
    const message = await loadError(artifacts);
    assert.ok(pattern.test(message), `${what}: got "${message}"`);
  }
  // The untouched artifacts load.
  assert.is(await loadError(f32.artifacts), 'loaded without error');
  assert.is(await loadError(i8.artifacts), 'loaded without error');
});

io.run();

// ---

const report = suite('SparseLayerReport');

report('reports every layer with weights, with sparsity, blocks, kernel and bytes', async () => {
  await useBackend('wasm');
  const model = functionalModel();
  sparsify(model, [1, 16], 0.9);
  const {model: sparse, report: entries} = await toSparse(model, {dtype: 'int8'});
  assert.equal(entries.map(e => e.name).sort(), ['branch', 'out', 'shared']);
  for (const e of entries as SparseLayerReport[]) {
    assert.is(e.className, 'Dense');
    assert.is(e.converted, true);
    assert.is(e.dtype, 'int8');
    assert.is(e.blockSource, 'chosen');
    assert.ok(e.sparsity! > 0.5 && e.sparsity! <= 1, `${e.name}: ${e.sparsity}`);
    assert.ok(e.kernelBlockSize![0] === 1 && [1, 4, 8, 16].includes(e.kernelBlockSize![1]));
    assert.ok(e.kernelDensity! >= 1 - e.sparsity! - 1e-9 && e.kernelDensity! <= 1, `${e.name}: kernel density ${e.kernelDensity}`);
    assert.is(e.kernel!.backend, 'wasm');
    assert.ok(e.bytesAfter < e.bytesBefore);
  }
  // The shared layer stays shared: one SparseDense applied twice.
  const shared = sparse.getLayer('shared');
  assert.ok(shared instanceof SparseDense);
  assert.is(shared.inboundNodes.length, 2);
  sparse.dispose();
  model.dispose();
});

report('chooseKernelBlockWidth picks the strip width the dispatcher runs sparse most often', async () => {
  await useBackend('wasm');
  const [K, N] = [256, 64];
  for (const dtype of ['float32', 'int8'] as const) {
    assert.is(chooseKernelBlockWidth(blockSparseWeight(K, N, [1, 16], 0.9, 1), [K, N], dtype), 16, `1x16-pruned, ${dtype}`);
    const w = blockSparseWeight(K, N, [1, 1], 0.8, 2);
    const chosen = chooseKernelBlockWidth(w, [K, N], dtype);
    const wt = tf.tensor2d(w, [K, N]);
    const sparseBatches = (bw: number) => {
      const packed = packBlockSparse(wt, {blockSize: [1, bw], dtype});
      const count = [1, 32].filter(b => planBlockSparseMatMul([b, K], packed).kernel === 'sparse').length;
      packed.dispose();
      return count;
    };
    // An unstructured weight packs into nearly full 1x16 strips, which int8 still runs fastest.
    if (dtype === 'int8') assert.is(chosen, 16, 'int8, 80 % unstructured');
    const best = sparseBatches(chosen);
    for (const bw of [1, 4, 8, 16]) assert.ok(sparseBatches(bw) <= best, `${dtype}: width ${bw} runs sparse more often than ${chosen}`);
    wt.dispose();
  }
  assert.is(chooseKernelBlockWidth(blockSparseWeight(8, 3, [1, 1], 0.5, 3), [8, 3], 'float32'), 1, 'N < 4 leaves the scalar layout');
});

report.run();

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

