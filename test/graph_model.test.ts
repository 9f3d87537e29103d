import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {graphModelArtifacts, loadSparseGraphModel, sparsifyGraphModel} from '../src/index';
import {decodedWeightCount} from '../src/sparse/graph_ops';
import {BACKENDS, rejects, useBackend} from './helpers';
import {GraphBuilder, outputError, tinyGraph} from './graph_helpers';

const image = (seed: number, size = 12) => tf.randomNormal([1, size, size, 3], 0, 1, 'float32', seed);

/** Artifacts as `model.save` writes them. */
async function saved(model: {save: (h: tf.io.IOHandler) => Promise<unknown>}): Promise<tf.io.ModelArtifacts> {
  let out: tf.io.ModelArtifacts|null = null;
  await model.save(tf.io.withSaveHandler(async a => {
    out = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  return out!;
}

const sparsify = suite('sparsifyGraphModel');

for (const backend of BACKENDS) {
  for (const transposeB of [false, true]) {
    sparsify(`sparsifyGraphModel(tinyGraph) on ${backend}${transposeB ? ', MatMul transpose_b' : ''} computes what the dense graph computes`, async () => {
      await useBackend(backend);
      const dense = await tinyGraph(3, {transposeB});
      const before = tf.memory().numTensors;
      const {model, report, transposes, notes} = await sparsifyGraphModel(dense);
      const kinds = Object.fromEntries(report.map(r => [r.name, r.kind]));
      assert.equal(kinds, {stem: 'dense', expand: 'pixelConv', dw1: 'depthwise', project: 'pixelConv', add: 'elementwise',
        relu: 'elementwise', dw2: 'depthwise', last: 'pixelConv', logits: 'sparse'});
      assert.match(report.find(r => r.name === 'stem')!.reason, /below minSparsity/);
      // In: the stem's output (to expand and to add). Out: last's output to the pooling.
      assert.is(transposes, 2);
      assert.equal(notes, []);
      for (const seed of [1, 2, 3]) {
        const x = image(seed);
        const want = dense.execute(x) as tf.Tensor, got = model.execute(x) as tf.Tensor;
        assert.equal(got.shape, want.shape);
        const err = outputError(want, got);
        assert.ok(err < 1e-5, `relative error ${err}`);
        tf.dispose([x, want, got]);
      }
      model.dispose();
      assert.is(tf.memory().numTensors, before, 'the sparse model and its decoded kernels are freed with it');
      assert.is(decodedWeightCount(), 0);
      dense.dispose();
    });
  }
}

sparsify('report: each weighted node says why; bytes shrink for the sparse ones', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(4, {sparsity: 0.9});
  const {model, report} = await sparsifyGraphModel(dense);
  for (const r of report.filter(r => r.kind === 'pixelConv' || r.kind === 'sparse')) {
    assert.ok(r.sparsity! >= 0.8, `${r.name} sparsity ${r.sparsity}`);
    assert.ok(r.bytesAfter < r.bytesBefore / 2, `${r.name}: ${r.bytesAfter} of ${r.bytesBefore} bytes`);
    assert.ok(r.reason.length > 0);
  }
  const pixel = report.find(r => r.name === 'expand')!;
  assert.is(pixel.layout, 'channelsFirst');
  assert.match(pixel.reason, /pixel-vectorized kernel/);
  model.dispose();
  dense.dispose();
});

sparsify("layout 'channelsLast' keeps every node's layout and runs the sparse ones on the block-sparse kernels", async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(5);
  const {model, report, transposes} = await sparsifyGraphModel(dense, {layout: 'channelsLast'});
  assert.is(transposes, 0);
  assert.ok(report.every(r => r.layout === 'channelsLast'));
  assert.equal(report.filter(r => r.kind === 'sparse').map(r => r.name), ['expand', 'project', 'last', 'logits']);
  const x = image(7);
  const want = dense.execute(x) as tf.Tensor, got = model.execute(x) as tf.Tensor;
  assert.ok(outputError(want, got) < 1e-5);
  tf.dispose([x, want, got]);
  model.dispose();
  dense.dispose();
});

sparsify("dtype 'int8' stays within the quantization error", async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(6);
  const {model} = await sparsifyGraphModel(dense, {dtype: 'int8'});
  const x = image(8);
  const want = dense.execute(x) as tf.Tensor, got = model.execute(x) as tf.Tensor;
  const err = outputError(want, got);
  assert.ok(err > 0 && err < 3e-2, `relative error ${err}`);
  tf.dispose([x, want, got]);
  model.dispose();
  dense.dispose();
});

sparsify('ops it does not handle stay dense and are named: Prelu, 5x5 depthwise, dilated and strided 3x3 depthwise', async () => {
  await useBackend('wasm');
  const g = new GraphBuilder(9);
  let x = g.input('image', [1, 10, 10, 4]);
  x = g.conv('prelu', x, [1, 1, 4, 16], {activation: 'Prelu', sparsity: 0.9});
  x = g.depthwise('dw5', x, [5, 5, 16, 1]);
  x = g.conv('pw', x, [1, 1, 16, 16], {sparsity: 0.9});
  g.op('out', 'Relu6', [x]);
  const dense = await g.model();
  const {model, report} = await sparsifyGraphModel(dense);
  const byName = Object.fromEntries(report.map(r => [r.name, r]));
  assert.is(byName.prelu.kind, 'dense');
  assert.match(byName.prelu.reason, /fused ops BiasAdd\+Prelu are not handled/);
  assert.is(byName.dw5.kind, 'dense');
  assert.match(byName.dw5.reason, /3x3/);
  assert.is(byName.pw.kind, 'pixelConv');
  const x0 = tf.randomNormal([1, 10, 10, 4], 0, 1, 'float32', 3);
  const want = dense.execute(x0) as tf.Tensor, got = model.execute(x0) as tf.Tensor;
  assert.ok(outputError(want, got) < 1e-5);
  tf.dispose([x0, want, got]);
  model.dispose();
  dense.dispose();
});

sparsify('a dynamic spatial input shape keeps every node dense, with a note', async () => {
  await useBackend('wasm');
  const g = new GraphBuilder(10);
  const x = g.input('image', [1, -1, -1, 8]);
  g.conv('pw', x, [1, 1, 8, 16], {sparsity: 0.9});
  const dense = await g.model();
  const {model, report, notes} = await sparsifyGraphModel(dense);
  assert.is(report[0].kind, 'dense');
  assert.match(report[0].reason, /dynamic shape/);
  assert.match(notes[0], /every node stays dense/);
  const x0 = tf.randomNormal([1, 5, 7, 8], 0, 1, 'float32', 4);
  const want = dense.execute(x0) as tf.Tensor, got = model.execute(x0) as tf.Tensor;
  assert.is(outputError(want, got), 0);
  tf.dispose([x0, want, got]);
  model.dispose();
  dense.dispose();
});

sparsify('control flow keeps every node dense, with a note', async () => {
  await useBackend('wasm');
  const g = new GraphBuilder(11);
  const x = g.input('image', [1, 6, 6, 8]);
  const pred = g.input('pred', [], 'int32');
  const pw = g.conv('pw', x, [1, 1, 8, 8], {sparsity: 0.9});
  g.op('switch', 'Switch', [pw, pred]);
  const dense = await g.model();
  const {model, report, notes} = await sparsifyGraphModel(dense);
  assert.is(report.find(r => r.name === 'pw')!.kind, 'dense');
  assert.match(notes[0], /control flow \(Switch\)/);
  model.dispose();
  dense.dispose();
});

sparsify('replaced weights are decoded again, never served from the cache', async () => {
  await useBackend('wasm');
  const g = new GraphBuilder(12);
  const x = g.input('image', [1, 8, 8, 16]);
  g.conv('pw', x, [1, 1, 16, 16], {sparsity: 0.9, bias: false});
  const dense = await g.model();
  const {model} = await sparsifyGraphModel(dense);
  const x0 = tf.randomNormal([1, 8, 8, 16], 0, 1, 'float32', 5);
  const y1 = model.execute(x0) as tf.Tensor;
  const name = Object.keys(model.weights).find(n => n.endsWith('sparse_values'))!;
  assert.ok(name, Object.keys(model.weights).join());
  const old = model.weights[name][0];
  model.weights[name] = [tf.mul(old, 2)];
  old.dispose();
  const y2 = model.execute(x0) as tf.Tensor;
  const want = tf.mul(y1, 2);
  assert.ok(outputError(want, y2) < 1e-6, 'the new values are used');
  tf.dispose([x0, y1, y2, want]);
  model.dispose();
  dense.dispose();
});

sparsify('sparsifyGraphModel(layersModel), unknown options and bad values throw naming the argument', async () => {
  await useBackend('wasm');
  const layers = tfl.sequential({layers: [tfl.layers.dense({units: 2, inputShape: [3]})]});
  await rejects(() => sparsifyGraphModel(layers as never), /'model' passed to 'sparsifyGraphModel' must be a tf.GraphModel/);
  const dense = await tinyGraph(13);
  const before = tf.memory().numTensors;
  await rejects(() => sparsifyGraphModel(dense, {block: [1, 4]} as never), /unknown option 'block'/);
  await rejects(() => sparsifyGraphModel(dense, {dtype: 'int4'} as never), /'dtype'.*'float32', 'int8'/);
  await rejects(() => sparsifyGraphModel(dense, {minSparsity: 2}), /'minSparsity'.*\[0, 1\]/);
  await rejects(() => sparsifyGraphModel(dense, {layout: 'channelsFirst'} as never), /'layout'.*'auto', 'channelsLast'/);
  assert.is(tf.memory().numTensors, before);
  const {model} = await sparsifyGraphModel(dense);
  await rejects(() => sparsifyGraphModel(model), /already a Sparsity/);
  model.dispose();
  dense.dispose();
  layers.dispose();
});

sparsify.run();

// ---

const load = suite('loadSparseGraphModel');

load('a saved sparse graph model is compact, loads again and computes the same', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(14, {sparsity: 0.9, size: 16});
  const {model} = await sparsifyGraphModel(dense);
  const denseBytes = (await saved(dense)).weightData as ArrayBuffer;
  const artifacts = await saved(model);
  assert.ok((artifacts.weightData as ArrayBuffer).byteLength < 0.6 * denseBytes.byteLength,
      `${(artifacts.weightData as ArrayBuffer).byteLength} of ${denseBytes.byteLength} bytes`);
  const x = image(9, 16);
  tf.dispose(model.execute(x));
  const before = tf.memory().numTensors;
  const again = await loadSparseGraphModel(tf.io.fromMemory(artifacts));
  const want = model.execute(x) as tf.Tensor, got = again.execute(x) as tf.Tensor;
  assert.is(outputError(want, got), 0);
  tf.dispose([want, got]);
  again.dispose();
  assert.is(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
  dense.dispose();
});

load('a flipped bit in a stored kernel is refused naming the node and the CRC-32C, leaking nothing', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(15);
  const {model} = await sparsifyGraphModel(dense);
  const artifacts = await saved(model);
  const spec = artifacts.weightSpecs!.findIndex(s => s.name.endsWith('project/sparse_values'));
  let offset = 0;
  for (const s of artifacts.weightSpecs!.slice(0, spec)) offset += 4 * s.shape.reduce((a, b) => a * b, 1);
  const data = (artifacts.weightData as ArrayBuffer).slice(0);
  new Uint8Array(data)[offset + 2] ^= 0x10;
  const before = tf.memory().numTensors;
  await rejects(() => loadSparseGraphModel(tf.io.fromMemory({...artifacts, weightData: data})),
      /node 'project\/channels_first'.*'values' fails its CRC-32C check/);
  assert.is(tf.memory().numTensors, before);
  model.dispose();
  dense.dispose();
});

load.run();

// ---

const artifactsSuite = suite('graphModelArtifacts');

artifactsSuite('graphModelArtifacts(model) holds the weights the model runs with', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(16);
  const artifacts = await graphModelArtifacts(dense);
  const again = await loadSparseGraphModel(tf.io.fromMemory(artifacts));
  const x = image(10);
  const want = dense.execute(x) as tf.Tensor, got = again.execute(x) as tf.Tensor;
  assert.is(outputError(want, got), 0);
  tf.dispose([x, want, got]);
  again.dispose();
  dense.dispose();
  await rejects(() => graphModelArtifacts({} as never), /must be a tf.GraphModel/);
});

artifactsSuite.run();
