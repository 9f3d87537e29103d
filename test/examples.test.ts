// The README guide's examples, each run as a test. Between the `// example:` and `// end` markers
// the code is what the README quotes (with `from 'tfjs-sparsity'` for '../src/index').
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {cloneModel, collectPrunableLayers, ConstantSparsity, getModelSparsity, magnitudeThreshold, maskFromThreshold,
  loadSparseGraphModel, PolynomialDecay, PrunableLayer, pruneGraphWeights, pruneLowMagnitude, shrinkModel, sparsifyGraphModel,
  stripPruning, toSparse, UpdatePruningStep} from '../src/index';
import {tinyGraph} from './graph_helpers';
import {normal, useBackend} from './helpers';

function baseModel(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.dense({units: 32, activation: 'relu', inputShape: [20]}),
    tfl.layers.dense({units: 10, activation: 'softmax'}),
  ]});
}

const xTrain = () => tf.tensor2d(normal(64 * 20, 1), [64, 20]);
const yTrain = () => tf.tidy(() =>
  tf.cast(tf.oneHot(tf.tensor1d(Array.from({length: 64}, (_, i) => i % 10), 'int32'), 10), 'float32'));

const examples = suite('README examples');

examples.before(() => useBackend('wasm'));

examples('whole model + fit', async () => {
  const model = baseModel();
  const [x, y] = [xTrain(), yTrain()];
  // example: whole model
  const pruned = pruneLowMagnitude(model, {
    pruningSchedule: new PolynomialDecay({initialSparsity: 0.5, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2}),
  });
  pruned.compile({optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy']});
  await pruned.fit(x, y, {batchSize: 16, epochs: 3, verbose: 0, callbacks: [new UpdatePruningStep()]});
  console.log(getModelSparsity(pruned));  // 0.8
  // end
  assert.is(getModelSparsity(pruned), 0.8);
  tf.dispose([x, y]);
});

examples('subset of layers with cloneModel', () => {
  const model = baseModel();
  // example: subset
  // Prune only the Dense layers (here: all but the last one), keep the rest as they are.
  const last = model.layers[model.layers.length - 1];
  const pruned = cloneModel(model, layer =>
    layer.getClassName() === 'Dense' && layer !== last ? pruneLowMagnitude(layer) : layer);
  // end
  assert.equal(collectPrunableLayers(pruned).map(w => w.layer), [model.layers[0]]);
});

examples('custom layer', async () => {
  // example: custom layer
  class MyDense extends tfl.layers.Layer implements PrunableLayer {
    static className = 'MyDense';
    kernel!: tfl.LayerVariable;
    bias!: tfl.LayerVariable;
    constructor(private readonly units: number, args: {inputShape?: number[]} = {}) {
      super(args);
    }
    override build(inputShape: tfl.Shape|tfl.Shape[]): void {
      const inDim = (inputShape as tfl.Shape)[1] as number;
      this.kernel = this.addWeight('kernel', [inDim, this.units], 'float32', tfl.initializers.glorotUniform({}));
      this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.zeros());
    }
    override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
      return [(inputShape as tfl.Shape)[0], this.units];
    }
    override call(inputs: tf.Tensor|tf.Tensor[]): tf.Tensor {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.add(tf.matMul(x, this.kernel.read()), this.bias.read());
    }
    // Prune the kernel and the bias (pruning the bias usually costs accuracy).
    getPrunableWeights(): tfl.LayerVariable[] {
      return [this.kernel, this.bias];
    }
  }
  tf.serialization.registerClass(MyDense);
  const model = tfl.sequential({layers: [pruneLowMagnitude(new MyDense(4, {inputShape: [3]})), tfl.layers.dense({units: 2})]});
  // end
  assert.is(collectPrunableLayers(model)[0].maskWeights.length, 2);
});

examples('custom training loop', async () => {
  const [x, y] = [xTrain(), yTrain()];
  // example: custom loop
  const pruned = pruneLowMagnitude(baseModel(), {
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}),
  });
  const optimizer = tf.train.adam();
  const step = new UpdatePruningStep();
  step.setModel(pruned);
  await step.onTrainBegin();  // sets the pruning steps to 0
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let b = 0; b < 64; b += 16) {
      const [xb, yb] = [tf.slice(x, [b, 0], [16, 20]), tf.slice(y, [b, 0], [16, 10])];
      optimizer.minimize(() =>
        tf.losses.softmaxCrossEntropy(yb, pruned.apply(xb, {training: true}) as tf.Tensor));
      tf.dispose([xb, yb]);
    }
    await step.onEpochEnd(epoch);  // re-applies the masks
  }
  await step.onTrainEnd();
  // end
  assert.is(getModelSparsity(pruned), 0.5);
  assert.equal(collectPrunableLayers(pruned).map(w => w.pruningStep), [8, 8]);
  tf.dispose([x, y]);
  optimizer.dispose();
});

examples('save, load, resume, strip', async () => {
  const [x, y] = [xTrain(), yTrain()];
  const dir = await mkdtemp(join(tmpdir(), 'example-'));
  try {
    const pruned = pruneLowMagnitude(baseModel(), {
      pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}),
    });
    pruned.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
    await pruned.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
    const path = join(dir, 'pruned');
    // example: save and load
    // import 'tfjs-sparsity' registers PruneLowMagnitude and a file:// handler for Node.
    await pruned.save(`file://${path}`);
    const restored = await tfl.loadLayersModel(`file://${path}/model.json`);
    restored.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
    // Masks, thresholds, steps, schedule and block settings are restored: training resumes.
    await restored.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
    // end
    // example: strip
    const deployed = stripPruning(restored);  // plain Dense layers with sparse kernels
    await deployed.save(`file://${path}-stripped`);
    // end
    assert.equal(deployed.layers.map(l => l.getClassName()), ['Dense', 'Dense']);
    const a = restored.predict(x) as tf.Tensor, b = deployed.predict(x) as tf.Tensor;
    assert.equal(Array.from(b.dataSync()), Array.from(a.dataSync()));
    assert.is(collectPrunableLayers(restored)[0].pruningStep, 4, '2 batches of 32, twice');
    tf.dispose([a, b]);
  } finally {
    await rm(dir, {recursive: true, force: true});
    tf.dispose([x, y]);
  }
});

examples('block sparsity', async () => {
  const [x, y] = [xTrain(), yTrain()];
  // example: block sparsity
  // 1x16 blocks (16 consecutive outputs of one input) run fastest in the block-sparse kernels.
  const pruned = pruneLowMagnitude(baseModel(), {
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.75, beginStep: 0, frequency: 1}),
    blockSize: [1, 16],
    blockPoolingType: 'AVG',
  });
  // end
  pruned.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
  await pruned.fit(x, y, {epochs: 1, batchSize: 64, verbose: 0, callbacks: [new UpdatePruningStep()]});
  const mask = collectPrunableLayers(pruned)[0].maskWeights[0].read().dataSync();
  for (let i = 0; i < mask.length; i += 16) {
    assert.ok(mask.slice(i, i + 16).every(v => v === mask[i]), `block at ${i} is whole`);
  }
  assert.is(getModelSparsity(pruned) >= 0.74, true);
  tf.dispose([x, y]);
});

/** A MobileNetV2 block: 1x1 expand, BatchNorm, ReLU6, 3x3 depthwise, BatchNorm, ReLU6, 1x1 project, BatchNorm, Add. */
function invertedResidual(): tfl.LayersModel {
  const input = tfl.input({shape: [12, 12, 16]});
  const ap = (l: tfl.layers.Layer, x: tfl.SymbolicTensor|tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;
  let x = ap(tfl.layers.conv2d({filters: 64, kernelSize: 1, useBias: false, name: 'expand'}), input);
  x = ap(tfl.layers.reLU({maxValue: 6}), ap(tfl.layers.batchNormalization({}), x));
  x = ap(tfl.layers.depthwiseConv2d({kernelSize: 3, padding: 'same', useBias: false, name: 'depthwise'}), x);
  x = ap(tfl.layers.reLU({maxValue: 6}), ap(tfl.layers.batchNormalization({}), x));
  x = ap(tfl.layers.conv2d({filters: 16, kernelSize: 1, useBias: false, name: 'project'}), x);
  x = ap(tfl.layers.add(), [input, ap(tfl.layers.batchNormalization({}), x)]);
  return tfl.model({inputs: input, outputs: x});
}

examples('a pruned convnet on the channel-major kernels', async () => {
  const convnet = invertedResidual();
  for (const layer of convnet.layers.filter(l => l.name === 'expand' || l.name === 'project')) {
    const [kernel] = layer.getWeights();
    const pruned = tf.tidy(() => tf.mul(kernel, maskFromThreshold(kernel, magnitudeThreshold(kernel, 0.9))));
    layer.setWeights([pruned]);
    pruned.dispose();
  }
  // example: convnet
  // 1x1 convolutions pruned to 90 % (unstructured, by magnitude): BatchNorm and ReLU6 fold into the
  // convolutions, and the block runs channel-major on the pixel-vectorized kernels.
  const {model: fast, report} = await toSparse(convnet);
  for (const r of report) console.log(r.name, r.newClassName, r.layout, r.kernel?.batch1 ?? '');
  // expand SparseConv2D channelsFirst pixel
  // depthwise DepthwiseConv2DChannelsFirst channelsFirst
  // ...
  // end
  const byName = Object.fromEntries(report.map(r => [r.name, r]));
  assert.equal([byName.expand.newClassName, byName.expand.layout, byName.expand.kernel?.batch1], ['SparseConv2D', 'channelsFirst', 'pixel']);
  assert.equal([byName.depthwise.newClassName, byName.depthwise.layout], ['DepthwiseConv2DChannelsFirst', 'channelsFirst']);
  const x = tf.tensor4d(normal(12 * 12 * 16, 3), [1, 12, 12, 16]);
  const want = convnet.predict(x) as tf.Tensor, got = fast.predict(x) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(want, got))).dataSync()[0] <= 1e-4 * tf.max(tf.abs(want)).dataSync()[0]);
  tf.dispose([x, want, got]);
  fast.dispose();
  convnet.dispose();
});

examples('channel pruning and shrinkModel', async () => {
  const [x, y] = [xTrain(), yTrain()];
  const pretrained = baseModel();
  // example: channels
  const pruned = pruneLowMagnitude(baseModel(), {
    structure: 'channels',      // whole output channels (Dense units, Conv filters), tied across the model
    channelScore: 'l1',         // or 'l2', or 'batchNormScale' (Network Slimming)
    pruningSchedule: new PolynomialDecay({initialSparsity: 0, finalSparsity: 0.5, beginStep: 0, endStep: 2, frequency: 1}),
  });
  pruned.compile({optimizer: 'adam', loss: 'categoricalCrossentropy'});
  await pruned.fit(x, y, {epochs: 2, batchSize: 32, verbose: 0, callbacks: [new UpdatePruningStep()]});
  // A smaller plain tfjs-layers model; report.layers has each layer's channels before and after.
  const {model: small, report} = await shrinkModel(pruned);
  // One-shot, without training: remove 30 % of a pretrained model's channels (then fine-tune if needed).
  const {model: oneShot} = await shrinkModel(pretrained, {sparsity: 0.3, allocation: 'uniform'});
  // end
  assert.equal(report.layers[0].outputChannels, [32, 16]);
  assert.equal(oneShot.layers[0].outputShape, [null, 22]);
  const expected = pruned.predict(x) as tf.Tensor, got = small.predict(x) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(expected, got))).dataSync()[0] < 1e-5);
  tf.dispose([x, y, expected, got]);
  small.dispose();
  oneShot.dispose();
});

examples('a pretrained graph model, pruned one-shot and sparsified', async () => {
  const graphModel = await tinyGraph(7, {sparsity: 0, size: 16});
  const image = tf.tensor4d(normal(16 * 16 * 3, 4), [1, 16, 16, 3]);
  const dir = await mkdtemp(join(tmpdir(), 'tfjs-sparsity-graph-example-'));
  // example: graph model
  // Any tfjs graph model (tf.loadGraphModel): prune its 1x1 convolutions and matmuls one-shot to 90 %,
  // then run its sparse nodes on our kernels, whole runs of them channel-major.
  const {model: pruned} = await pruneGraphWeights(graphModel, {targetSparsity: 0.9});
  const {model: fast, report} = await sparsifyGraphModel(pruned);
  for (const r of report) console.log(r.name, r.kind, r.layout);
  // expand pixelConv channelsFirst
  // dw1 depthwise channelsFirst
  // ...
  const y = fast.execute(image) as tf.Tensor;
  await fast.save(`file://${dir}/graph`);  // compact: coded positions + values, a CRC-32C in each node
  const again = await loadSparseGraphModel(`file://${dir}/graph/model.json`);
  // end
  const want = pruned.execute(image) as tf.Tensor, got = again.execute(image) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(want, y))).dataSync()[0] <= 1e-5 * tf.max(tf.abs(want)).dataSync()[0]);
  assert.ok(tf.max(tf.abs(tf.sub(y, got))).dataSync()[0] === 0);
  assert.equal(report.find(r => r.name === 'expand')!.kind, 'pixelConv');
  tf.dispose([image, y, want, got]);
  [graphModel, pruned, fast, again].forEach(m => m.dispose());
  await rm(dir, {recursive: true, force: true});
});

examples.run();
