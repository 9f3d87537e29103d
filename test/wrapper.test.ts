import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {BLOCK_RANK_ERROR_MSG, collectPrunableLayers, ConstantSparsity, PolynomialDecay, PRUNE_CALLBACK_ERROR_MSG,
  PruneLowMagnitude} from '../src/index';
import {readFileSync} from 'node:fs';
import {noLeak, useBackend} from './helpers';

const L = tfl.layers;

/** The misuse errors tfmot 0.8.1 raised (test/fixtures/masks.json). */
function masksFixture(): {errors: Array<{case: string; error: string|null; message?: string}>} {
  return JSON.parse(readFileSync(new URL('./fixtures/masks.json', import.meta.url), 'utf8'));
}

function wrapDense(args: Partial<ConstructorParameters<typeof PruneLowMagnitude>[0]> = {}, units = 3): PruneLowMagnitude {
  return new PruneLowMagnitude({layer: L.dense({units, inputShape: [4]}), ...args});
}

/** A model holding `wrapper`, so that it is built (as its first layer). */
function modelOf(wrapper: tfl.layers.Layer): tfl.Sequential {
  return tfl.sequential({layers: [wrapper]});
}

class CustomLayerPrunable extends tfl.layers.Layer {
  static className = 'CustomLayerPrunable';
  kernel: tfl.LayerVariable|null = null;
  override build(inputShape: tfl.Shape|tfl.Shape[]): void {
    const s = inputShape as tfl.Shape;
    this.kernel = this.addWeight('kernel', [s[s.length - 1] as number, 2], 'float32', tfl.initializers.glorotUniform({}));
  }
  override computeOutputShape(inputShape: tfl.Shape|tfl.Shape[]): tfl.Shape {
    return [...(inputShape as tfl.Shape).slice(0, -1), 2];
  }
  override call(inputs: tf.Tensor|tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.matMul(x, (this.kernel as tfl.LayerVariable).read());
  }
  getPrunableWeights(): tfl.LayerVariable[] {
    return this.kernel == null ? [] : [this.kernel];
  }
}
tf.serialization.registerClass(CustomLayerPrunable);

// ---

const ctorSuite = suite('PruneLowMagnitude constructor');

ctorSuite('allows only AVG and MAX pooling, with tfmot\'s message', () => {
  assert.throws(() => wrapDense({blockPoolingType: 'MIN' as 'AVG'}), /Unsupported pooling type 'MIN'. Should be 'AVG' or 'MAX'./);
  assert.is(wrapDense({blockPoolingType: 'AVG'}).blockPoolingType, 'AVG');
  assert.is(wrapDense({blockPoolingType: 'MAX'}).blockPoolingType, 'MAX');
});

ctorSuite('rejects a non-layer with tfmot\'s message naming what was passed', () => {
  assert.throws(() => new PruneLowMagnitude({layer: {} as tfl.layers.Layer}),
      /Please initialize `Prune` layer with a `Layer` instance. You passed: Object/);
  assert.throws(() => new PruneLowMagnitude({layer: new Map() as unknown as tfl.layers.Layer}), /You passed: Map/);
  assert.throws(() => new PruneLowMagnitude(undefined as unknown as {layer: tfl.layers.Layer}), /options object/);
});

ctorSuite('rejects unsupported layers through the registry and accepts PrunableLayers', () => {
  assert.throws(() => new PruneLowMagnitude({layer: L.convLstm2d({filters: 2, kernelSize: 3, name: 'clstm'})}),
      /Layer 'clstm' \(class ConvLSTM2D\) is not supported.*PrunableLayer/);
  const custom = new PruneLowMagnitude({layer: new CustomLayerPrunable({name: 'custom_layer_prunable'})});
  assert.is(custom.name, 'prune_low_magnitude_custom_layer_prunable');
});

ctorSuite('forces the name prune_low_magnitude_<layer name>', () => {
  const w = new PruneLowMagnitude({layer: L.dense({units: 1, name: 'd'}), name: 'ignored'});
  assert.is(w.name, 'prune_low_magnitude_d');
});

ctorSuite('validates blockSize, sparsityMByN, pruningSchedule and globalPruning combinations', () => {
  assert.throws(() => wrapDense({blockSize: [1] as unknown as [number, number]}), /blockSize must be a pair of positive integers \[height, width\], but got \[1\]/);
  assert.throws(() => wrapDense({blockSize: [0, 2]}), /blockSize must be a pair of positive integers \[height, width\], but got \[0,2\]/);
  assert.throws(() => wrapDense({blockSize: [1.5, 2]}), /blockSize must be a pair of positive integers \[height, width\], but got \[1.5,2\]/);
  // tfmot's own message for m >= n (test/fixtures/masks.json, produced by tfmot 0.8.1), typo included.
  const tfmotMessage = masksFixture().errors.find(e => e.case.startsWith('sparsity_m_by_n (4,4)'))!.message!;
  assert.is(tfmotMessage, 'Argument m_by_n received (4, 4), m be must smaller than n.');
  assert.throws(() => wrapDense({sparsityMByN: [4, 4]}), (e: Error) => e.message === tfmotMessage);
  assert.throws(() => wrapDense({sparsityMByN: [5, 4]}), (e: Error) => e.message === 'Argument m_by_n received (5, 4), m be must smaller than n.');
  assert.throws(() => wrapDense({sparsityMByN: [0, 4]}), /sparsityMByN must be a pair of positive integers \[m, n\] \(m zeros in every n weights\), but got \[0,4\]/);
  assert.throws(() => wrapDense({sparsityMByN: 2 as unknown as [number, number]}), /sparsityMByN must be a pair of positive integers \[m, n\]/);
  assert.throws(() => wrapDense({pruningSchedule: {} as ConstantSparsity}), /pruningSchedule must be a PruningSchedule/);
  assert.throws(() => wrapDense({globalPruning: true, blockSize: [1, 4]}), /globalPruning supports unstructured pruning only/);
  for (const value of ['yes', 1, null]) {
    assert.throws(() => wrapDense({globalPruning: value as unknown as boolean}),
        /'globalPruning' passed to 'PruneLowMagnitude' must be true or false, but got/, String(value));
  }
  assert.is(wrapDense({globalPruning: false}).globalPruning, false);
});

ctorSuite('defaults to ConstantSparsity(0.5, 0, -1, 100), block [1, 1], AVG, no M:N', () => {
  const w = wrapDense();
  assert.equal(w.pruningSchedule.getConfig(), {targetSparsity: 0.5, beginStep: 0, endStep: -1, frequency: 100});
  assert.equal(w.blockSize, [1, 1]);
  assert.is(w.blockPoolingType, 'AVG');
  assert.is(w.sparsityMByN, null);
});

ctorSuite.run();

// ---

const buildSuite = suite('PruneLowMagnitude.build');

buildSuite.before(() => useBackend('wasm'));

buildSuite('Dense, Embedding, Conv2D get one mask each; weights named as tfmot\'s', () => {
  const cases: Array<[() => tfl.layers.Layer, number[]]> = [
    [() => L.dense({units: 3, name: 'dense_a'}), [4]],
    [() => L.embedding({inputDim: 10, outputDim: 3, name: 'emb_a'}), [5]],
    [() => L.conv2d({filters: 2, kernelSize: 3, name: 'conv_a'}), [6, 6, 1]],
  ];
  for (const [make, shape] of cases) {
    // tfmot names a variable by the scope it is created in: the wrapper's when the wrapper builds
    // the layer, the layer's own when it was built before wrapping.
    for (const builtFirst of [false, true]) {
      const layer = make();
      if (builtFirst) layer.apply(tfl.input({shape}));
      const w = new PruneLowMagnitude({layer});
      w.apply(tfl.input({shape}));
      assert.is(w.maskWeights.length, 1);
      assert.is(w.thresholdWeights.length, 1);
      const own = w.nonTrainableWeights.map(v => v.originalName);
      assert.equal(own, [`prune_low_magnitude_${layer.name}/mask`, `prune_low_magnitude_${layer.name}/threshold`,
        `prune_low_magnitude_${layer.name}/pruning_step`]);
      const scope = builtFirst ? `${layer.name}/` : `prune_low_magnitude_${layer.name}/`;
      assert.ok(w.trainableWeights.length > 0 && w.trainableWeights.every(v => v.originalName.startsWith(scope)),
          `${builtFirst ? 'built first' : 'built by the wrapper'}: ${w.trainableWeights.map(v => v.originalName)}`);
    }
  }
});

buildSuite('mask starts at ones, threshold at 0, pruning_step at -1 (int32); trainable weights are the inner layer\'s', () => {
  const w = wrapDense();
  modelOf(w);
  assert.equal(Array.from(w.maskWeights[0].read().dataSync()), Array(12).fill(1));
  assert.is(w.thresholdWeights[0].read().dataSync()[0], 0);
  assert.is(w.pruningStepWeight.dtype, 'int32');
  assert.is(w.pruningStep, -1);
  assert.equal(w.trainableWeights, w.layer.trainableWeights);
  assert.is(w.weights.length, 5);
  assert.is(w.getWeights().length, 2, 'getWeights delegates to the inner layer, as in tfmot');
});

buildSuite('can be the first layer of a Sequential (input shape forwarded)', () => {
  const m = modelOf(wrapDense());
  assert.equal(m.inputs[0].shape, [null, 4]);
});

buildSuite('block sparsity on Conv2D throws tfmot\'s rank error at build', () => {
  const w = new PruneLowMagnitude({layer: L.conv2d({filters: 2, kernelSize: 3}), blockSize: [2, 2]});
  assert.throws(() => w.apply(tfl.input({shape: [5, 5, 1]})), new RegExp(BLOCK_RANK_ERROR_MSG));
});

buildSuite('M:N on a rank-5 Conv3D kernel throws at build', () => {
  const w = new PruneLowMagnitude({layer: L.conv3d({filters: 2, kernelSize: 2}), sparsityMByN: [2, 4]});
  assert.throws(() => w.apply(tfl.input({shape: [3, 3, 3, 4]})), /weight tensor with shape: \[2,2,2,4,2\] is not supported/);
});

buildSuite('Bidirectional and TimeDistributed (tfmot refuses them) prune their inner layers', () => {
  const bi = new PruneLowMagnitude({layer: L.bidirectional({layer: L.simpleRNN({units: 2, recurrentInitializer: 'glorotUniform'}) as tfl.RNN})});
  bi.apply(tfl.input({shape: [3, 4]}));
  assert.is(bi.maskWeights.length, 4, 'kernel and recurrent kernel of both directions');
  const td = new PruneLowMagnitude({layer: L.timeDistributed({layer: L.dense({units: 2})})});
  td.apply(tfl.input({shape: [3, 4]}));
  assert.is(td.maskWeights.length, 1);
});

buildSuite.run();

// ---

const callSuite = suite('PruneLowMagnitude.call');

callSuite.before(() => useBackend('wasm'));

callSuite('training without UpdatePruningStep throws tfmot\'s message and leaves the step at -1', () => {
  const w = wrapDense();
  modelOf(w);
  const x = tf.ones([2, 4]);
  assert.throws(() => w.apply(x, {training: true}), new RegExp(PRUNE_CALLBACK_ERROR_MSG.replace(/[().]/g, '\\$&')));
  assert.is(w.pruningStep, -1);
  x.dispose();
});

callSuite('a training call advances the step before the schedule is asked, then masks and runs', () => {
  const w = wrapDense({pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 1, frequency: 100})});
  modelOf(w);
  w.pruningStep = 0;
  const x = tf.ones([2, 4]);
  const y = noLeak(() => w.apply(x, {training: true}) as tf.Tensor, 'training call');
  assert.is(w.pruningStep, 1);
  const kernel = (w.layer as unknown as {kernel: tfl.LayerVariable}).kernel.read();
  assert.is(Array.from(w.maskWeights[0].read().dataSync()).filter(v => v === 0).length, 6, 'step 1 = beginStep prunes');
  const expected = tf.matMul(x, kernel);
  assert.equal(Array.from(y.dataSync()), Array.from(expected.dataSync()), 'the layer runs on the masked kernel');
  assert.is(Array.from(kernel.dataSync()).filter(v => v === 0).length, 6);
  const y2 = w.apply(x, {training: true}) as tf.Tensor;
  assert.is(w.pruningStep, 2);
  tf.dispose([x, y, y2, expected]);
});

callSuite('inference masks the weights but never moves the step', () => {
  const w = wrapDense();
  modelOf(w);
  const kernel = () => (w.layer as unknown as {kernel: tfl.LayerVariable}).kernel;
  const m = tf.tensor2d([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [4, 3]);
  w.maskWeights[0].write(m);
  const x = tf.ones([1, 4]);
  const y = noLeak(() => w.apply(x) as tf.Tensor, 'inference call');
  assert.is(w.pruningStep, -1);
  assert.equal(Array.from(kernel().read().dataSync()).map((v, i) => (v === 0) || i % 2 === 0), Array(12).fill(true));
  tf.dispose([m, x, y]);
});

callSuite.run();

// ---

const configSuite = suite('PruneLowMagnitude.getConfig / fromConfig');

configSuite('getConfig nests the layer and schedule like tfmot and adds sparsity_m_by_n', () => {
  const w = wrapDense({pruningSchedule: new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2}),
    blockSize: [1, 4], blockPoolingType: 'MAX'});
  const c = w.getConfig();
  assert.equal(Object.keys(c).sort(), ['batchInputShape', 'blockPoolingType', 'blockSize', 'dtype', 'layer', 'name',
    'pruningSchedule', 'sparsityMByN', 'trainable']);
  assert.is((c.layer as {className: string}).className, 'Dense');
  assert.equal(c.pruningSchedule, {className: 'PolynomialDecay', config: {initialSparsity: 0.2, finalSparsity: 0.8,
    power: 3, beginStep: 0, endStep: 8, frequency: 2}});
  assert.equal([c.blockSize, c.blockPoolingType, c.sparsityMByN], [[1, 4], 'MAX', null]);
  assert.equal(wrapDense({sparsityMByN: [2, 4]}).getConfig().sparsityMByN, [2, 4]);
  assert.is(wrapDense({globalPruning: true}).getConfig().globalPruning, true);
});

configSuite('fromConfig round-trips every setting, including pooling types mangled by tfjs saving', () => {
  for (const mangled of ['MAX', 'max', 'm_a_x', 'mAX']) {
    const w = wrapDense({blockSize: [2, 1], blockPoolingType: 'MAX', sparsityMByN: [1, 2]});
    const config = {...w.getConfig(), blockPoolingType: mangled};
    const back = PruneLowMagnitude.fromConfig(PruneLowMagnitude, config) as PruneLowMagnitude;
    assert.is(back.blockPoolingType, 'MAX', mangled);
    assert.equal(back.blockSize, [2, 1]);
    assert.equal(back.sparsityMByN, [1, 2]);
    assert.equal(back.pruningSchedule.getConfig(), w.pruningSchedule.getConfig());
    assert.is(back.layer.name, w.layer.name);
    assert.is(back.name, w.name);
  }
});

configSuite('fromConfig rejects unknown inner classes and schedules by name', () => {
  const c = wrapDense().getConfig();
  assert.throws(() => PruneLowMagnitude.fromConfig(PruneLowMagnitude, {...c, layer: {className: 'Nope', config: {}}}),
      /Unknown layer: Nope/);
  assert.throws(() => PruneLowMagnitude.fromConfig(PruneLowMagnitude,
      {...c, pruningSchedule: {className: 'NoSchedule', config: {}}}), /Unknown pruning schedule class 'NoSchedule'/);
});

configSuite.run();

// ---

const collectSuite = suite('collectPrunableLayers');

collectSuite('collectPrunableLayers walks nested models', () => {
  const inner = tfl.sequential({layers: [new PruneLowMagnitude({layer: L.dense({units: 3, inputShape: [4]})}),
    new PruneLowMagnitude({layer: L.dropout({rate: 0.1})})]});
  const outer = tfl.sequential({layers: [inner, new PruneLowMagnitude({layer: L.dense({units: 2})}), L.dense({units: 1})]});
  const found = collectPrunableLayers(outer);
  assert.is(found.length, 3);
  assert.ok(found.every(w => w instanceof PruneLowMagnitude));
});

collectSuite.run();
