// Timing helpers of the demo and the bench harness (src/cli/train.ts): what they call and return,
// never how fast (no timing thresholds).
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {latenciesMs, latencyMs, medianMs, medianMsAlternating} from '../src/cli/train';
import {useBackend} from './helpers';

const timing = suite('medianMsAlternating');

timing('calls the functions in turn, three warm-up rounds then `runs` rounds, and returns one median each', () => {
  const calls: string[] = [];
  const medians = medianMsAlternating([() => calls.push('a'), () => calls.push('b')], 5);
  assert.equal(calls, Array(8).fill(['a', 'b']).flat());
  assert.is(medians.length, 2);
  assert.ok(medians.every(m => Number.isFinite(m) && m >= 0), `${medians}`);
});

timing('medianMs is the one-function case', () => {
  let n = 0;
  const ms = medianMs(() => { n++; }, 4);
  assert.is(n, 7);
  assert.ok(Number.isFinite(ms) && ms >= 0);
});

timing.run();

// ---

const latency = suite('latenciesMs');

latency('predicts a batch with each model in turn, reads the outputs, and leaves no tensors', async () => {
  await useBackend('wasm');
  const seen: Array<[string, number[]]> = [];
  const model = (name: string) => ({predict: (x: tf.Tensor) => {
    seen.push([name, x.shape]);
    return tf.mul(x, 2);
  }});
  const before = tf.memory().numTensors;
  const ms = latenciesMs([model('sparse'), model('dense')], 4, 2);
  assert.is(tf.memory().numTensors, before);
  assert.equal(seen.map(s => s[0]), Array(5).fill(['sparse', 'dense']).flat());
  assert.ok(seen.every(s => s[1].join() === '4,28,28,1'));
  assert.is(ms.length, 2);
  assert.ok(Number.isFinite(latencyMs(model('one'), 1, 1)));
});

latency.run();
