import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {PolynomialDecay, pruneLowMagnitudeByLayer, pruneLowMagnitudeFromOneShot, pruneOneShot, PruneLowMagnitude,
  stripPruning, UpdatePruningStep} from '../src/index';
import {useBackend} from './helpers';
import {mlp, samples} from './one_shot_helpers';

const byLayer = suite('pruneLowMagnitudeByLayer');
byLayer.before(() => useBackend('wasm'));

byLayer('wraps only the named layers, each with its own schedule; unknown names are errors', () => {
  const model = mlp();
  const fc1 = new PolynomialDecay({initialSparsity: 0, finalSparsity: 0.9, beginStep: 0, endStep: 10});
  const out = new PolynomialDecay({initialSparsity: 0, finalSparsity: 0.3, beginStep: 0, endStep: 10});
  const wrapped = pruneLowMagnitudeByLayer(model, {fc1, out});
  const kinds = wrapped.layers.map(l => (l instanceof PruneLowMagnitude ? `${l.layer.name}:${(l.pruningSchedule as PolynomialDecay).finalSparsity}` : l.name));
  assert.equal(kinds, ['fc1:0.9', 'fc2', 'out:0.3']);
  assert.throws(() => pruneLowMagnitudeByLayer(model, {fc7: fc1}), /'schedules'.*'fc7'.*fc1, fc2, out/);
  assert.throws(() => pruneLowMagnitudeByLayer(model, {fc1: 0.5 as never}), /'fc1' must be a PruningSchedule/);
  model.dispose();
});

byLayer.run();

// ---

const fromOneShot = suite('pruneLowMagnitudeFromOneShot');
fromOneShot.before(() => useBackend('wasm'));

fromOneShot('fine-tuning keeps the one-shot masks: zeros stay, kept weights train', async () => {
  const model = mlp();
  const x = samples(64, [8], 14);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.argMax(model.predict(x) as tf.Tensor, -1), 4), 'float32'));
  const result = await pruneOneShot(model, {sparsity: 0.7, method: 'obc', calibration: x});
  const zeros = (m: tfl.LayersModel, name: string) => Array.from(m.getLayer(name).getWeights()[0].dataSync()).map(v => v === 0);
  const before = Object.fromEntries(['fc1', 'fc2', 'out'].map(n => [n, zeros(result.model, n)]));
  const oneShotKernel = result.model.getLayer('fc1').getWeights()[0].dataSync().slice();
  const wrapped = pruneLowMagnitudeFromOneShot(result);
  wrapped.compile({optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy'});
  await wrapped.fit(x, y, {epochs: 2, batchSize: 16, verbose: 0, callbacks: [new UpdatePruningStep()]});
  const stripped = stripPruning(wrapped);
  for (const name of ['fc1', 'fc2', 'out']) assert.equal(zeros(stripped, name), before[name], `${name} keeps its mask`);
  const tuned = stripped.getLayer('fc1').getWeights()[0].dataSync();
  assert.ok(tuned.some((v, i) => v !== 0 && v !== oneShotKernel[i]), 'kept weights were trained');
  assert.throws(() => pruneLowMagnitudeFromOneShot({} as never), /'result'.*pruneOneShot/);
  stripped.dispose();
  tf.dispose([x, y]);
  model.dispose();
});

fromOneShot.run();
