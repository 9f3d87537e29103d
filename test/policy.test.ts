// Pruning policies (src/policy.ts, tfmot's pruning_policy.py): which layers pruneLowMagnitude wraps.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {collectPrunableLayers, PruneForSparseKernels, pruneLowMagnitude, PruningPolicy} from '../src/index';
import {useBackend} from './helpers';

const L = tfl.layers;

const sparseKernels = suite('PruneForSparseKernels');

sparseKernels.before(() => useBackend('cpu'));

sparseKernels('allowPruning: Dense, and Conv2D with a 1x1 kernel, stride 1 and dilation 1; nothing else', () => {
  const input = tfl.input({shape: [8, 8, 4]});
  const cases: Array<[string, tfl.layers.Layer, boolean]> = [
    ['Dense', L.dense({units: 3}), true],
    ['Conv2D 1x1', L.conv2d({filters: 3, kernelSize: 1}), true],
    ['Conv2D 1x1 given as [1, 1]', L.conv2d({filters: 3, kernelSize: [1, 1], strides: [1, 1]}), true],
    ['Conv2D 3x3', L.conv2d({filters: 3, kernelSize: 3}), false],
    ['Conv2D 1x3', L.conv2d({filters: 3, kernelSize: [1, 3]}), false],
    ['Conv2D 1x1 stride 2', L.conv2d({filters: 3, kernelSize: 1, strides: 2}), false],
    ['Conv2D 1x1 dilation 2', L.conv2d({filters: 3, kernelSize: 1, dilationRate: 2}), false],
    ['DepthwiseConv2D 1x1', L.depthwiseConv2d({kernelSize: 1}), false],
    ['SeparableConv2D 1x1', L.separableConv2d({filters: 3, kernelSize: 1}), false],
    ['Conv1D 1', L.conv1d({filters: 3, kernelSize: 1}), false],
    ['Embedding', L.embedding({inputDim: 4, outputDim: 2}), false],
    ['BatchNormalization', L.batchNormalization(), false],
  ];
  const policy = new PruneForSparseKernels();
  for (const [name, layer, allowed] of cases) {
    if (name !== 'Conv1D 1' && name !== 'Embedding') layer.apply(input);  // built, as in a model
    assert.is(policy.allowPruning(layer), allowed, name);
  }
});

sparseKernels('pruneLowMagnitude with the policy wraps only the layers it allows, once', () => {
  const model = tfl.sequential({layers: [
    L.conv2d({filters: 4, kernelSize: 3, inputShape: [6, 6, 2], name: 'c3'}), L.conv2d({filters: 4, kernelSize: 1, name: 'c1'}),
    L.conv2d({filters: 4, kernelSize: 1, strides: 2, name: 'c1s2'}), L.flatten({name: 'f'}), L.dense({units: 2, name: 'd'}),
  ]});
  const before = tf.memory().numTensors;
  const pruned = pruneLowMagnitude(model, {pruningPolicy: new PruneForSparseKernels()});
  assert.equal(collectPrunableLayers(pruned).map(w => w.layer.name), ['c1', 'd']);
  assert.is(tf.memory().numTensors - before, 6, 'a mask, a threshold and a step per wrapped layer, nothing else');
  const twice = pruneLowMagnitude(pruned, {pruningPolicy: new PruneForSparseKernels()});
  assert.is(collectPrunableLayers(twice).length, 2, 'applying the policy twice is idempotent');
  model.dispose();
});

sparseKernels('ensureModelSupportsPruning refuses unbuilt models (tfmot\'s message) and non-models', () => {
  const policy = new PruneForSparseKernels();
  assert.throws(() => pruneLowMagnitude(tfl.sequential(), {pruningPolicy: policy}), /^Unbuilt models are not supported currently\.$/);
  assert.throws(() => policy.ensureModelSupportsPruning(tfl.sequential()), /Unbuilt models are not supported currently\./);
  assert.throws(() => policy.ensureModelSupportsPruning(L.dense({units: 2}) as never),
      /PruneForSparseKernels expects a tf\.LayersModel, but got object/);
  const built = tfl.sequential({layers: [L.dense({units: 2, inputShape: [3]})]});
  policy.ensureModelSupportsPruning(built);
  built.dispose();
});

sparseKernels.run();

// ---

const custom = suite('PruningPolicy subclasses');

custom.before(() => useBackend('cpu'));

/** Prunes layers by name, and refuses models without a layer named 'keep_me'. */
class ByName extends PruningPolicy {
  checked: string[] = [];
  constructor(private readonly names: string[]) {
    super();
  }
  allowPruning(layer: tfl.layers.Layer): boolean {
    return this.names.includes(layer.name);
  }
  ensureModelSupportsPruning(model: tfl.LayersModel): void {
    this.checked.push(model.name);
    if (!model.layers.some(l => l.name === 'keep_me')) throw new Error(`ByName: ${model.name} has no layer keep_me`);
  }
}

custom('pruneLowMagnitude asks the policy about the model first, then wraps the layers it allows', () => {
  const model = tfl.sequential({name: 'm', layers: [L.dense({units: 4, inputShape: [3], name: 'keep_me'}),
                                                     L.dense({units: 2, name: 'prune_me'})]});
  const policy = new ByName(['prune_me']);
  const pruned = pruneLowMagnitude(model, {pruningPolicy: policy});
  assert.equal(policy.checked, ['m']);
  assert.equal(collectPrunableLayers(pruned).map(w => w.layer.name), ['prune_me']);
  const other = tfl.sequential({name: 'other', layers: [L.dense({units: 2, inputShape: [3], name: 'd'})]});
  assert.throws(() => pruneLowMagnitude(other, {pruningPolicy: policy}), /ByName: other has no layer keep_me/);
  tf.dispose([...model.weights.map(w => w.read()), ...other.weights.map(w => w.read())]);
});

custom.run();
