import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {forEachBatch, InputSpec} from '../src/pruning/calibration';
import {useBackend} from './helpers';

const spec: InputSpec = {shape: [null, 3], dtype: 'float32'};
const label = {op: 'op', arg: 'data'};

async function batches(data: Parameters<typeof forEachBatch>[0], size: number): Promise<[number, number[][]]> {
  const seen: number[][] = [];
  const n = await forEachBatch(data, spec, size, label, (x, first) => {
    assert.is(first, seen.reduce((a, b) => a + b.length / 3, 0));
    seen.push(Array.from(x.dataSync()));
  });
  return [n, seen];
}

const stream = suite('forEachBatch');
stream.before(() => useBackend('wasm'));

stream('a tensor is sliced, samples are stacked, mixed arrays are rebatched; nothing leaks', async () => {
  const x = tf.tensor2d(Array.from({length: 21}, (_, i) => i), [7, 3]);
  const before = tf.memory().numTensors;
  const [n, seen] = await batches(x, 3);
  assert.is(n, 7);
  assert.equal(seen.map(b => b.length / 3), [3, 3, 1]);
  assert.equal(seen.flat(), Array.from(x.dataSync()));
  const parts = [tf.slice(x, 0, 2), tf.tensor1d([6, 7, 8]), tf.slice(x, 3, 4)];
  const [m, mixed] = await batches(parts, 4);
  assert.is(m, 7);
  assert.equal(mixed.map(b => b.length / 3), [4, 3]);
  assert.equal(mixed.flat(), Array.from(x.dataSync()));
  assert.ok(parts.every(p => !p.isDisposed), "the caller's tensors are not disposed");
  tf.dispose(parts);
  assert.is(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
});

stream('wrong shape, dtype, type or an empty batch: errors name the op, argument and element', async () => {
  const cases: Array<[Parameters<typeof forEachBatch>[0], RegExp]> = [
    [tf.zeros([2, 4]), /'data' passed to 'op': the tensor has shape \[2,4\].*\[null,3\]/],
    [[tf.zeros([3]), tf.zeros([3, 3, 1])], /element 1 has shape \[3,3,1\]/],
    [tf.zeros([2, 3], 'int32'), /dtype int32, but the model takes float32/],
    [[tf.zeros([0, 3])], /element 0 is an empty batch/],
    [['x' as unknown as tf.Tensor], /element 0 must be a tensor/],
    [42 as unknown as tf.Tensor, /'data' passed to 'op' must be a tensor, an array of tensors or a tf.data.Dataset/],
  ];
  for (const [data, pattern] of cases) {
    const before = tf.memory().numTensors;
    await forEachBatch(data, spec, 2, label, () => undefined).then(
      () => assert.unreachable(`expected ${pattern}`), e => assert.match(e.message, pattern));
    assert.ok(tf.memory().numTensors <= before, `no leak for ${pattern}`);
    tf.dispose(data as tf.Tensor);
  }
});

stream('a dataset is read once per call, its elements disposed, also when fn throws', async () => {
  const made: tf.Tensor[] = [];
  const dataset = {
    async iterator() {
      let i = 0;
      return {async next() {
        if (i++ >= 3) return {value: undefined, done: true};
        const t = tf.ones([2, 3]);
        made.push(t);
        return {value: {xs: t, ys: tf.zeros([2])}, done: false};
      }};
    },
  };
  const before = tf.memory().numTensors;
  assert.is(await forEachBatch(dataset, spec, 4, label, () => undefined), 6);
  assert.is(await forEachBatch(dataset, spec, 4, label, () => undefined), 6, 'a second pass reads it again');
  await forEachBatch(dataset, spec, 2, label, () => { throw new Error('boom'); }).then(
    () => assert.unreachable('fn threw'), e => assert.match(e.message, /boom/));
  assert.ok(made.every(t => t.isDisposed));
  assert.is(tf.memory().numTensors, before, 'no leaks');
});

stream.run();
