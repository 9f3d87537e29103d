import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {checkPrunable, getPrunableWeights, isPrunableLayer, supportsPruning} from '../src/index';
import {INNER_LAYER_WRAPPERS, NOT_PRUNED, PRUNED_WEIGHTS, RNN_CELL_WEIGHTS, RNN_LAYERS} from '../src/pruning/registry';
import {useBackend} from './helpers';

const L = tfl.layers;

/** A built layer: applied once to a symbolic input of `shape` (batch dimension excluded). */
function built<T extends tfl.layers.Layer>(layer: T, shape: number[]): T {
  layer.apply(tfl.input({shape}));
  return layer;
}

class CustomDense extends tfl.layers.Layer {
  static className = 'CustomDense';
  kernel: tfl.LayerVariable|null = null;
  override build(): void {
    this.kernel = this.addWeight('kernel', [3, 2], 'float32', tfl.initializers.ones());
  }
}

class CustomPrunable extends CustomDense {
  static override className = 'CustomPrunable';
  getPrunableWeights(): tfl.LayerVariable[] {
    return this.kernel == null ? [] : [this.kernel];
  }
}

/** A subclass of Dense: not Dense for the registry (exact class match). */
class DenseSubclass extends (tfl.layers.dense({units: 1}).constructor as typeof tfl.layers.Layer) {
  static className = 'DenseSubclass';
}

// ---

const tableSuite = suite('registry tables');

tableSuite('every class named in the registry is a registered tfjs-layers class', () => {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const names = [...Object.keys(PRUNED_WEIGHTS), ...Object.keys(RNN_CELL_WEIGHTS), ...RNN_LAYERS, ...NOT_PRUNED,
    ...INNER_LAYER_WRAPPERS];
  for (const name of names) assert.ok(name in map, `${name} is not a tfjs-layers class`);
  assert.is(new Set(names).size, names.length, 'a class is listed twice');
});

tableSuite.run();

// ---

const supportsSuite = suite('supportsPruning');

supportsSuite('supportsPruning(layer) is true for prunable, allowed, RNN and wrapper layers', () => {
  const yes: tfl.layers.Layer[] = [
    L.dense({units: 2}), L.conv2d({filters: 2, kernelSize: 3}), L.dropout({rate: 0.5}), L.lstm({units: 2}),
    L.gru({units: 2}), L.simpleRNN({units: 2, recurrentInitializer: 'glorotUniform'}), L.rnn({cell: [L.lstmCell({units: 2}), L.gruCell({units: 2})]}),
    L.rnn({cell: L.simpleRNNCell({units: 2, recurrentInitializer: 'glorotUniform'})}), L.batchNormalization(), L.depthwiseConv2d({kernelSize: 3}),
    L.embedding({inputDim: 5, outputDim: 2}), L.timeDistributed({layer: L.dense({units: 2})}),
    L.bidirectional({layer: L.lstm({units: 2}) as tfl.RNN}), new CustomPrunable({}),
  ];
  for (const layer of yes) assert.ok(supportsPruning(layer), layer.getClassName());
});

supportsSuite('supportsPruning(layer) is false for ConvLSTM2D, custom layers and subclasses of Dense', () => {
  const no: tfl.layers.Layer[] = [
    L.convLstm2d({filters: 2, kernelSize: 3}), new CustomDense({}), new DenseSubclass({units: 1} as tf.serialization.ConfigDict),
    L.timeDistributed({layer: new CustomDense({})}), L.prelu(),
  ];
  for (const layer of no) assert.not.ok(supportsPruning(layer), layer.getClassName());
});

supportsSuite.run();

// ---

const checkSuite = suite('checkPrunable');

checkSuite('checkPrunable(unsupported) names the layer, its class and PrunableLayer', () => {
  const layer = new CustomDense({name: 'my_custom'});
  assert.throws(() => checkPrunable(layer), /Layer 'my_custom' \(class CustomDense\) is not supported.*PrunableLayer/);
  assert.throws(() => checkPrunable(new DenseSubclass({units: 1, name: 'sub'} as tf.serialization.ConfigDict)), /'sub' \(class DenseSubclass\).*subclass/);
});

checkSuite('checkPrunable(RNN with an unknown cell) names the cell class', () => {
  class MinimalCell extends tfl.layers.RNNCell {
    static className = 'MinimalCell';
    stateSize = 2;
    override call(inputs: tf.Tensor|tf.Tensor[]): tf.Tensor[] {
      return inputs as tf.Tensor[];
    }
  }
  const rnn = L.rnn({cell: new MinimalCell({}), name: 'my_rnn'});
  assert.throws(() => checkPrunable(rnn), /RNN layer 'my_rnn' \(class RNN\) contains a cell of class MinimalCell/);
});

checkSuite('checkPrunable(Bidirectional of an unsupported layer) names both', () => {
  const td = L.timeDistributed({layer: new CustomDense({name: 'inner'}), name: 'td'});
  assert.throws(() => checkPrunable(td), /TimeDistributed 'td'.*'inner' \(class CustomDense\)/);
});

checkSuite.run();

// ---

const weightsSuite = suite('getPrunableWeights');

weightsSuite.before(() => useBackend('cpu'));

weightsSuite('getPrunableWeights gives the kernel of Dense and Conv layers, never the bias', () => {
  const cases: Array<[tfl.layers.Layer, number[], string]> = [
    [L.dense({units: 3}), [4], 'kernel'],
    [L.conv1d({filters: 2, kernelSize: 3}), [8, 2], 'kernel'],
    [L.conv2d({filters: 2, kernelSize: 3}), [8, 8, 2], 'kernel'],
    [L.conv3d({filters: 2, kernelSize: 2}), [4, 4, 4, 1], 'kernel'],
    [L.conv2dTranspose({filters: 2, kernelSize: 3}), [5, 5, 2], 'kernel'],
    [L.separableConv2d({filters: 4, kernelSize: 3}), [6, 6, 2], 'pointwise_kernel'],
    [L.embedding({inputDim: 10, outputDim: 3}), [5], 'embeddings'],
  ];
  for (const [layer, shape, weightName] of cases) {
    built(layer, shape);
    const weights = getPrunableWeights(layer);
    assert.is(weights.length, 1, layer.getClassName());
    assert.ok(weights[0].originalName.endsWith(`/${weightName}`), weights[0].originalName);
  }
});

weightsSuite('getPrunableWeights gives [] for allowed layers without pruned weights', () => {
  for (const layer of [L.dropout({rate: 0.1}), L.flatten(), L.batchNormalization()]) {
    built(layer, [4, 3]);
    assert.equal(getPrunableWeights(layer), []);
  }
  const depthwise = built(L.depthwiseConv2d({kernelSize: 3}), [5, 5, 2]);
  assert.equal(getPrunableWeights(depthwise), [], 'DepthwiseConv2D is allowed but not pruned, as in tfmot');
});

weightsSuite('getPrunableWeights of LSTM/GRU/SimpleRNN gives the cell kernel and recurrent kernel', () => {
  for (const layer of [L.lstm({units: 2, recurrentInitializer: 'glorotUniform'}),
    L.gru({units: 2, recurrentInitializer: 'glorotUniform'}), L.simpleRNN({units: 2, recurrentInitializer: 'glorotUniform'})]) {
    built(layer, [3, 4]);
    const cell = (layer as unknown as {cell: {kernel: tfl.LayerVariable, recurrentKernel: tfl.LayerVariable}}).cell;
    assert.equal(getPrunableWeights(layer), [cell.kernel, cell.recurrentKernel], layer.getClassName());
  }
});

weightsSuite('getPrunableWeights of RNN over stacked cells concatenates in cell order', () => {
  const cells = [L.simpleRNNCell({units: 2, recurrentInitializer: 'glorotUniform'}), L.gruCell({units: 3, recurrentInitializer: 'glorotUniform'})];
  const rnn = built(L.rnn({cell: cells}), [3, 4]);
  const expected = cells.flatMap(c => {
    const cell = c as unknown as {kernel: tfl.LayerVariable, recurrentKernel: tfl.LayerVariable};
    return [cell.kernel, cell.recurrentKernel];
  });
  assert.equal(getPrunableWeights(rnn), expected);
});

weightsSuite('getPrunableWeights of TimeDistributed and Bidirectional gives the inner layers\' weights', () => {
  const td = built(L.timeDistributed({layer: L.dense({units: 2})}), [3, 4]);
  const inner = (td as unknown as {layer: tfl.layers.Layer}).layer;
  assert.equal(getPrunableWeights(td), getPrunableWeights(inner));
  const bi = built(L.bidirectional({layer: L.simpleRNN({units: 2, recurrentInitializer: 'glorotUniform'}) as tfl.RNN}), [3, 4]);
  const {forwardLayer, backwardLayer} = bi as unknown as {forwardLayer: tfl.layers.Layer, backwardLayer: tfl.layers.Layer};
  const weights = getPrunableWeights(bi);
  assert.is(weights.length, 4);
  assert.equal(weights, [...getPrunableWeights(forwardLayer), ...getPrunableWeights(backwardLayer)]);
});

weightsSuite('getPrunableWeights of a PrunableLayer is its own answer; isPrunableLayer duck-types', () => {
  const layer = built(new CustomPrunable({}), [3]);
  assert.ok(isPrunableLayer(layer));
  assert.not.ok(isPrunableLayer(L.dense({units: 1})));
  assert.equal(getPrunableWeights(layer), [layer.kernel]);
});

weightsSuite('getPrunableWeights before build says to build the layer', () => {
  assert.throws(() => getPrunableWeights(L.dense({units: 2, name: 'unbuilt'})), /'unbuilt'.*no weight 'kernel' yet/);
});

weightsSuite('getPrunableWeights rejects a getPrunableWeights that returns a non-array', () => {
  class Bad extends CustomDense {
    static override className = 'Bad';
    getPrunableWeights(): tfl.LayerVariable[] {
      return null as unknown as tfl.LayerVariable[];
    }
  }
  assert.throws(() => getPrunableWeights(new Bad({name: 'bad'})), /getPrunableWeights\(\) of layer 'bad'.*must return an array/);
});

weightsSuite.run();
