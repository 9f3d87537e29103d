// Timing helpers of the demo and the bench harness (src/cli/timing.ts): what they call and return,
// never how fast (no timing thresholds).
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {latencyMs, median, medianMs, predictTimesMs, timesAlternating} from '../src/cli/timing';
import {useBackend} from './helpers';

const timing = suite('timesAlternating');

timing('calls the functions in turn, three warm-up rounds then `runs` timed rounds', () => {
  const calls: string[] = [];
  const times = timesAlternating([() => calls.push('a'), () => calls.push('b')], 5);
  assert.equal(calls, Array(8).fill(['a', 'b']).flat());
  assert.equal(times.map(t => t.length), [5, 5]);
  assert.ok(times.flat().every(t => Number.isFinite(t) && t >= 0), `${times}`);
});

timing('median is the middle value (the upper one of an even count), leaving its input alone', () => {
  const values = [5, 1, 4, 2, 3];
  assert.is(median(values), 3);
  assert.equal(values, [5, 1, 4, 2, 3]);
  assert.is(median([4, 1, 3, 2]), 3);
});

timing('medianMs is the one-function case', () => {
  let n = 0;
  const ms = medianMs(() => { n++; }, 4);
  assert.is(n, 7);
  assert.ok(Number.isFinite(ms) && ms >= 0);
});

timing.run();

// ---

const latency = suite('predictTimesMs');

latency('predicts a batch with each model in turn, reads the outputs, and leaves no tensors', async () => {
  await useBackend('wasm');
  const seen: Array<[string, number[]]> = [];
  const model = (name: string) => ({predict: (x: tf.Tensor) => {
    seen.push([name, x.shape]);
    return tf.mul(x, 2);
  }});
  const before = tf.memory().numTensors;
  const times = predictTimesMs([model('sparse'), model('dense')], 4, 2);
  assert.is(tf.memory().numTensors, before);
  assert.equal(seen.map(s => s[0]), Array(5).fill(['sparse', 'dense']).flat());
  assert.ok(seen.every(s => s[1].join() === '4,28,28,1'));
  assert.equal(times.map(t => t.length), [2, 2]);
  assert.ok(Number.isFinite(latencyMs(model('one'), 1, 1)));
});

latency.run();
