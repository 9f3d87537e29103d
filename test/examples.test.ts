// The README guide's examples, each run as a test. Between the `// example:` and `// end` markers
// the code is what the README quotes (with `from 'tfjs-sparsity'` for '../src/index').
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {analyzeSensitivity, cloneModel, collectPrunableLayers, ConstantSparsity, getModelSparsity, PolynomialDecay,
  PrunableLayer, pruneLowMagnitude, pruneLowMagnitudeByLayer, pruneLowMagnitudeFromOneShot, pruneOneShot,
  sensitivitySparsities, stripPruning, UpdatePruningStep} from '../src/index';
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

examples('one-shot pruning with calibration data', async () => {
  const model = baseModel();
  const [x, y] = [xTrain(), yTrain()];
  const calibration = x;
  // example: one-shot
  // Prune a trained model at once: 80 % of its weights, spread over the layers by measured
  // sensitivity, each layer reconstructed from calibration samples (OBC). The model is not changed.
  const oneShot = await pruneOneShot(model, {
    sparsity: 0.8, method: 'obc', allocation: 'sensitivity', calibration,
  });
  for (const l of oneShot.layers) console.log(l.layer, l.sparsity, l.relativeError);
  // Optionally fine-tune at the one-shot masks with the Keras pruning API.
  const tuned = pruneLowMagnitudeFromOneShot(oneShot);
  tuned.compile({optimizer: 'adam', loss: 'categoricalCrossentropy'});
  await tuned.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
  const deployable = stripPruning(tuned);
  // end
  assert.ok(Math.abs(oneShot.sparsity - 0.8) < 0.01, `reached ${oneShot.sparsity}`);
  assert.ok(Math.abs(getModelSparsity(tuned) - oneShot.sparsity) < 1e-9, 'fine-tuning keeps the one-shot masks');
  // example: sensitivity
  const curves = await analyzeSensitivity(model, calibration, {sparsities: [0.5, 0.8, 0.95], metric: 'kl'});
  const perLayer = sensitivitySparsities(curves.layers, 0.8);  // {layerName: sparsity, ...}
  // The same map drives gradual pruning: one schedule per layer.
  const gradual = pruneLowMagnitudeByLayer(model, Object.fromEntries(Object.entries(perLayer).map(([name, s]) =>
    [name, new PolynomialDecay({initialSparsity: 0, finalSparsity: s, beginStep: 0, endStep: 100})])));
  // end
  assert.is(gradual.layers.length, 2);
  deployable.dispose();
  model.dispose();
  tf.dispose([x, y]);
});

examples.run();
