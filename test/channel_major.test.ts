import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {DepthwiseConv2DChannelsFirst, SparseConv2D, toSparse} from '../src/index';
import {BACKENDS, normal, relativeError, rng, useBackend} from './helpers';

type Sym = tfl.SymbolicTensor;

/**
 * A MobileNetV2 in miniature, as Keras builds it: ZeroPadding2D + valid strided convolutions,
 * BatchNormalization after every convolution, ReLU(6), an inverted residual block with an Add, then
 * pooling and Dense. BatchNorm statistics are random, so folding them is not a no-op.
 */
function tinyMobileNetV2(seed: number, {multiplier = 1} = {}): tfl.LayersModel {
  const input = tfl.input({shape: [18, 18, 3], name: 'image'});
  const apply = (layer: tfl.layers.Layer, x: Sym) => layer.apply(x) as Sym;
  const bn = (x: Sym) => apply(tfl.layers.batchNormalization({epsilon: 1e-3}), x);
  const relu6 = (x: Sym) => apply(tfl.layers.reLU({maxValue: 6}), x);
  const conv = (x: Sym, filters: number, kernelSize: number, strides = 1, padding: 'same'|'valid' = 'same') =>
    apply(tfl.layers.conv2d({filters, kernelSize, strides, padding, useBias: false}), x);
  const dw = (x: Sym, strides: number, padding: 'same'|'valid') =>
    apply(tfl.layers.depthwiseConv2d({kernelSize: 3, strides, padding, useBias: false, depthMultiplier: multiplier}), x);
  let x = apply(tfl.layers.zeroPadding2d({padding: [[0, 1], [0, 1]]}), input);
  x = relu6(bn(conv(x, 8, 3, 2, 'valid')));                     // 9x9x8
  x = relu6(bn(conv(x, 24, 1)));                                 // expand
  x = apply(tfl.layers.zeroPadding2d({padding: [[0, 1], [0, 1]]}), x);
  x = relu6(bn(dw(x, 2, 'valid')));                              // 5x5
  const project = bn(conv(x, 16 * multiplier, 1));
  let y = relu6(bn(conv(project, 48, 1)));
  y = relu6(bn(dw(y, 1, 'same')));
  y = bn(conv(y, 16 * multiplier, 1));
  x = apply(tfl.layers.add(), [project, y] as unknown as Sym);
  x = apply(tfl.layers.dropout({rate: 0.2}), x);
  x = relu6(bn(conv(x, 64, 1)));
  x = apply(tfl.layers.globalAveragePooling2d({}), x);
  const out = apply(tfl.layers.dense({units: 5, activation: 'softmax'}), x);
  const model = tfl.model({inputs: input, outputs: out});
  const r = rng(seed);
  let s = seed;
  for (const layer of model.layers) {
    const values = layer.getWeights().map(w => {
      const v = normal(w.size, ++s, 0.5);
      // moving variance must be positive; gamma near 1.
      if (w.rank === 1 && layer.getClassName() === 'BatchNormalization') for (let i = 0; i < v.length; i++) v[i] = 0.5 + r();
      return tf.tensor(v, w.shape);
    });
    if (values.length) {
      layer.setWeights(values);
      tf.dispose(values);
    }
  }
  return model;
}

/** Zeroes all but the largest (1 - sparsity) of each 1x1 convolution's and Dense layer's kernel. */
function pruneOneShot(model: tfl.LayersModel, sparsity: number): void {
  for (const layer of model.layers) {
    const c = layer.getClassName();
    if (!((c === 'Conv2D' && (layer.getConfig().kernelSize as number[])[0] === 1) || c === 'Dense')) continue;
    const [kernel, ...rest] = layer.getWeights();
    const k = kernel.dataSync() as Float32Array;
    const sorted = Float32Array.from(k, Math.abs).sort();
    const threshold = sorted[Math.floor(sparsity * sorted.length)];
    const pruned = tf.tensor(Float32Array.from(k, v => (Math.abs(v) < threshold ? 0 : v)), kernel.shape);
    layer.setWeights([pruned, ...rest]);
    pruned.dispose();
  }
}

const classes = (m: tfl.LayersModel) => m.layers.map(l => l.getClassName());

// ---

const cm = suite('toSparse layout');

for (const backend of BACKENDS) {
  cm(`toSparse(model) runs the 1x1 convolutions, depthwise layers and Add channel-major and matches the dense model on ${backend}`, async () => {
    await useBackend(backend);
    const model = tinyMobileNetV2(1);
    pruneOneShot(model, 0.9);
    const before = tf.memory().numTensors;
    const {model: sparse, report} = await toSparse(model);
    const names = classes(sparse);
    assert.is(names.filter(c => c === 'LayoutPermute').length, 2, `one transpose in, one out: ${names}`);
    assert.is(names.filter(c => c === 'DepthwiseConv2DChannelsFirst').length, 2);
    assert.not.ok(names.includes('BatchNormalization'), 'every BatchNormalization is folded');
    // The stem stays a tfjs Conv2D: its ReLU6 comes back as a clip after it (tfjs runs a relu6
    // activation unfused); every other ReLU6 is fused into our kernels.
    assert.equal(sparse.layers.filter(l => l.getClassName() === 'ReLU').map(l => [l.name, l.getConfig().maxValue]),
        [[model.layers[4].name, 6]]);
    assert.is(sparse.getLayer(model.layers[2].name).getConfig().activation, 'relu');
    const stem = report.find(r => r.name === model.layers[2].name)!;
    assert.match(stem.reason, new RegExp(`its relu6 runs as the ReLU layer '${model.layers[4].name}' after it`));
    // The stem's ZeroPadding2D pads as 'same' would (folded into the stem); the one before the
    // stride-2 depthwise does not and goes into its channel-major padding.
    assert.is(names.filter(c => c === 'ZeroPadding2D').length, 0, 'both paddings are folded');
    assert.is(sparse.getLayer(model.layers[2].name).getConfig().padding, 'same');
    const pointwise = report.filter(r => r.newClassName === 'SparseConv2D');
    assert.is(pointwise.length, 5);
    for (const r of pointwise) {
      assert.is(r.layout, 'channelsFirst', r.name);
      assert.is(r.kernel?.batch1, 'pixel', r.name);
    }
    assert.ok(report.filter(r => r.className === 'BatchNormalization').every(r => r.newClassName === '(folded)' && /folded into/.test(r.reason)));
    assert.ok(report.filter(r => r.className === 'DepthwiseConv2D').every(r => r.newClassName === 'DepthwiseConv2DChannelsFirst'));
    const x = tf.tensor4d(normal(2 * 18 * 18 * 3, 9), [2, 18, 18, 3]);
    const want = model.predict(x) as tf.Tensor, got = sparse.predict(x) as tf.Tensor;
    assert.ok(relativeError(got, want) < 1e-5, `relative error ${relativeError(got, want)}`);
    tf.dispose([x, want, got]);
    sparse.dispose();
    assert.is(tf.memory().numTensors, before, 'toSparse and the disposed result leave no tensors');
    model.dispose();
  });
}

cm('the channel-major model saves and loads as a layers model and predicts the same, bit for bit', async () => {
  await useBackend('wasm');
  const model = tinyMobileNetV2(2);
  pruneOneShot(model, 0.9);
  const {model: sparse} = await toSparse(model, {dtype: 'int8'});
  let artifacts: tf.io.ModelArtifacts|undefined;
  await sparse.save(tf.io.withSaveHandler(async a => {
    artifacts = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  assert.equal(classes(loaded), classes(sparse));
  // By class name: in the full suite another copy of the library (the bundle) may have registered last.
  assert.ok(loaded.layers.some(l => l.getClassName() === DepthwiseConv2DChannelsFirst.className));
  assert.ok(loaded.layers.some(l => l.getClassName() === SparseConv2D.className && l.getConfig().dataFormat === 'channelsFirst'));
  const x = tf.tensor4d(normal(18 * 18 * 3, 3), [1, 18, 18, 3]);
  const a = sparse.predict(x) as tf.Tensor, b = loaded.predict(x) as tf.Tensor;
  assert.equal(Array.from(b.dataSync()), Array.from(a.dataSync()));
  const want = model.predict(x) as tf.Tensor;
  // int8 weights (per-output-channel scales) on softmax outputs.
  assert.ok(relativeError(a, want) < 0.05, `int8 relative error ${relativeError(a, want)}`);
  tf.dispose([x, a, b, want]);
  for (const m of [model, sparse, loaded]) m.dispose();
});

cm("layout 'channelsLast' and foldBatchNorm false keep the layout and the BatchNorms, and still match", async () => {
  await useBackend('wasm');
  const model = tinyMobileNetV2(3);
  pruneOneShot(model, 0.9);
  const x = tf.tensor4d(normal(18 * 18 * 3, 4), [1, 18, 18, 3]);
  const want = model.predict(x) as tf.Tensor;
  const {model: last} = await toSparse(model, {layout: 'channelsLast'});
  assert.not.ok(classes(last).includes('LayoutPermute'));
  assert.not.ok(classes(last).includes('DepthwiseConv2DChannelsFirst'));
  const {model: unfolded, report} = await toSparse(model, {foldBatchNorm: false});
  assert.ok(classes(unfolded).includes('BatchNormalization'));
  // Without folding, each pixel-kernel convolution is a run of its own, with a transpose in and out.
  assert.ok(report.filter(r => r.layout === 'channelsFirst').every(r => r.newClassName === 'SparseConv2D'));
  for (const m of [last, unfolded]) {
    const got = m.predict(x) as tf.Tensor;
    assert.ok(relativeError(got, want) < 1e-5, `relative error ${relativeError(got, want)}`);
    got.dispose();
    m.dispose();
  }
  tf.dispose([x, want]);
  model.dispose();
});

cm('layers the channel-major kernels do not cover stay channels-last, named in the report, and the model stays exact', async () => {
  await useBackend('wasm');
  // Depth multiplier 2: not a channel-major depthwise; its run is cut there.
  const model = tinyMobileNetV2(4, {multiplier: 2});
  pruneOneShot(model, 0.9);
  const {model: sparse, report} = await toSparse(model);
  for (const r of report.filter(r => r.className === 'DepthwiseConv2D')) {
    assert.is(r.newClassName, 'DepthwiseConv2D');
    assert.is(r.layout, 'channelsLast');
    assert.match(r.reason, /DepthwiseConv2D layers are not converted/);
  }
  const x = tf.tensor4d(normal(18 * 18 * 3, 5), [1, 18, 18, 3]);
  const want = model.predict(x) as tf.Tensor, got = sparse.predict(x) as tf.Tensor;
  assert.ok(relativeError(got, want) < 1e-5, `relative error ${relativeError(got, want)}`);
  tf.dispose([x, want, got]);
  sparse.dispose();
  model.dispose();
});

cm('bad layout and foldBatchNorm options throw errors naming them, before any work', async () => {
  await useBackend('wasm');
  const model = tinyMobileNetV2(5);
  const before = tf.memory().numTensors;
  try {
    await toSparse(model, {layout: 'nchw' as 'auto'});
    assert.unreachable('no error');
  } catch (e) {
    assert.match((e as Error).message, /'layout' passed to 'toSparse' must be one of 'auto', 'channelsLast', but got 'nchw'/);
  }
  try {
    await toSparse(model, {foldBatchNorm: 'yes' as unknown as boolean});
    assert.unreachable('no error');
  } catch (e) {
    assert.match((e as Error).message, /'foldBatchNorm' passed to 'toSparse' must be true or false/);
  }
  assert.is(tf.memory().numTensors, before, 'the refused calls made no tensors');
  model.dispose();
});

cm.run();
