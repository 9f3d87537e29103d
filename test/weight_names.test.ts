import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {acceptWrappedWeightNames, wrappedWeightRenames} from '../src/pruning/weight_names';
import '../src/index';
import {useBackend} from './helpers';

const renames = suite('wrappedWeightRenames');

renames('exact names are never renamed', () => {
  const names = ['dense/kernel', 'prune_low_magnitude_dense/mask'];
  assert.equal([...wrappedWeightRenames(names, names)], []);
});

renames('a saved name differing from a target by the wrapper scope maps to it, both ways', () => {
  assert.equal([...wrappedWeightRenames(['prune_low_magnitude_dense/kernel', 'prune_low_magnitude_dense/mask'],
                                        ['dense/kernel', 'prune_low_magnitude_dense/mask'])],
               [['dense/kernel', 'prune_low_magnitude_dense/kernel']]);
  assert.equal([...wrappedWeightRenames(['dense/kernel', 'dense/bias'], ['prune_low_magnitude_dense/kernel', 'dense/bias'])],
               [['prune_low_magnitude_dense/kernel', 'dense/kernel']]);
  // Nested scopes (a wrapper inside a named model) and TF 2.2's RNN cell scope, which tfjs drops itself.
  assert.equal([...wrappedWeightRenames(['outer/prune_low_magnitude_d/kernel'], ['outer/d/kernel'])],
               [['outer/d/kernel', 'outer/prune_low_magnitude_d/kernel']]);
  assert.equal([...wrappedWeightRenames(['lstm/kernel'], ['prune_low_magnitude_lstm/lstm_cell/kernel'])],
               [['prune_low_magnitude_lstm/lstm_cell/kernel', 'lstm/kernel']]);
});

renames('no rename when the match is ambiguous, already claimed, or absent', () => {
  // Two targets share the bare name 'd/kernel'.
  assert.equal([...wrappedWeightRenames(['d/kernel', 'prune_low_magnitude_d/kernel'], ['x/kernel', 'prune_low_magnitude_x/kernel'])], []);
  assert.equal([...wrappedWeightRenames(['d/kernel', 'prune_low_magnitude_d/kernel'], ['prune_low_magnitude_prune_low_magnitude_d/kernel'])], []);
  // The target is loaded under its own name already.
  assert.equal([...wrappedWeightRenames(['d/kernel'], ['d/kernel', 'prune_low_magnitude_d/kernel'])], []);
  assert.equal([...wrappedWeightRenames(['d/kernel'], ['e/kernel'])], []);
});

renames.run();

// ---

const patch = suite('acceptWrappedWeightNames');

patch('LayersModel.loadWeights takes either name, once patched however often', async () => {
  await useBackend('wasm');
  acceptWrappedWeightNames();
  const loadWeights = tfl.LayersModel.prototype.loadWeights;
  acceptWrappedWeightNames();
  assert.is(tfl.LayersModel.prototype.loadWeights, loadWeights, 'patched once');
  const model = tfl.sequential({layers: [tfl.layers.dense({units: 2, inputShape: [3], name: 'd'})]});
  const kernel = tf.ones([3, 2]), bias = tf.tensor1d([5, 6]);
  model.loadWeights({'prune_low_magnitude_d/kernel': kernel, 'd/bias': bias});
  assert.equal(model.getLayer('d').getWeights()[0].arraySync(), [[1, 1], [1, 1], [1, 1]]);
  assert.equal(Array.from(model.getLayer('d').getWeights()[1].dataSync()), [5, 6]);
  // Names matching nothing still fail as tfjs reports them.
  assert.throws(() => model.loadWeights({'e/kernel': kernel, 'd/bias': bias}), /Provided weight data has no target variable: e\/kernel/);
  tf.dispose([kernel, bias]);
  model.dispose();
});

patch.run();
