import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {copyModel} from '../src/index';
import {useBackend} from './helpers';
import {convNet, samples} from './one_shot_helpers';

const copy = suite('copyModel');
copy.before(() => useBackend('wasm'));

copy('the copy predicts the same, owns its variables, and writes to it leave the original alone', async () => {
  const model = convNet();
  const x = samples(4, [7, 7, 2], 17);
  const tensors = tf.memory().numTensors;
  const twin = await copyModel(model);
  const [a, b] = [model.predict(x) as tf.Tensor, twin.predict(x) as tf.Tensor];
  assert.equal(a.dataSync(), b.dataSync());
  const kernel = twin.getLayer('out').weights[0];
  const zeros = tf.zerosLike(kernel.read());
  kernel.write(zeros);
  zeros.dispose();
  assert.ok(model.getLayer('out').getWeights()[0].dataSync().some(v => v !== 0), 'the original keeps its weights');
  const changed = twin.predict(x) as tf.Tensor;
  assert.not.equal(Array.from(changed.dataSync()), Array.from(a.dataSync()));
  twin.dispose();
  tf.dispose([a, b, changed]);
  assert.is(tf.memory().numTensors, tensors, 'the copy frees its variables');
  await copyModel({} as never).then(() => assert.unreachable('not a model'), e => assert.match(e.message, /copyModel expects a tf.LayersModel/));
  model.dispose();
  x.dispose();
});

copy.run();
