import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {applyMask, countNonzero, maskFromThreshold} from '../src/index';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, noLeak, SHAPES, useBackend, valueCases} from './helpers';

const THRESHOLDS = [0, -0, 0.5, -1, 1e-40, Infinity, NaN];

const maskSuite = suite('maskFromThreshold');

for (const backend of BACKENDS) {
  maskSuite(`maskFromThreshold(w, t) equals the reference on ${backend}`, async () => {
    await useBackend(backend);
    for (const [shapeName, shape] of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const [valueName, values] of valueCases(n, n)) {
        for (const t of [...THRESHOLDS, Math.abs(values[n >> 1])]) {
          const w = tf.tensor(values, shape);
          const mask = noLeak(() => maskFromThreshold(w, t), 'maskFromThreshold');
          assert.equal(mask.shape, shape);
          assertBitsEqual(mask.dataSync() as Float32Array, ref.maskFromThreshold(values, Math.fround(t)),
              `${backend} ${shapeName} ${valueName} t=${t}`);
          tf.dispose([w, mask]);
        }
      }
    }
  });
}

maskSuite('maskFromThreshold keeps ties and NaN', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const m = maskFromThreshold([1, -2, 2, 3, NaN, -0], 2);
    assert.equal(Array.from(m.dataSync()), [0, 1, 1, 1, 1, 0]);
    m.dispose();
  }
});

maskSuite('maskFromThreshold keeps NaNs of every payload, even against a NaN threshold', async () => {
  const bits = new Int32Array([0x7fc00000, 0x7f800001, 0xffc00000 | 0, 0x7fffffff]);
  const nans = new Float32Array(bits.buffer);
  const thresholdBits = new Float32Array(new Int32Array([0x7fffffff]).buffer);
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const w = tf.tensor(Float32Array.from([...nans, 1, Infinity]));
    for (const t of [tf.scalar(thresholdBits[0]), tf.scalar(NaN), tf.scalar(Infinity)]) {
      const m = maskFromThreshold(w, t);
      const expected = t.dataSync()[0] === Infinity ? [1, 1, 1, 1, 0, 1] : [1, 1, 1, 1, 0, 0];
      assert.equal(Array.from(m.dataSync()), expected, `${backend} threshold ${t.dataSync()[0]}`);
      tf.dispose([m, t]);
    }
    w.dispose();
  }
});

maskSuite('maskFromThreshold takes a scalar tensor threshold', async () => {
  const t = tf.scalar(1.5);
  const m = maskFromThreshold([1, 2], t);
  assert.equal(Array.from(m.dataSync()), [0, 1]);
  tf.dispose([t, m]);
});

maskSuite('maskFromThreshold rejects bad arguments without leaking', () => {
  const i32 = tf.tensor([1, 2], [2], 'int32');
  const vec = tf.tensor([1, 2]);
  const before = tf.memory().numTensors;
  assert.throws(() => maskFromThreshold(i32, 1), /'w' passed to 'maskFromThreshold' must be a float32 tensor, but got a int32/);
  assert.throws(() => maskFromThreshold([1, 2], vec as tf.Scalar), /'threshold' passed to 'maskFromThreshold' must have rank 0/);
  assert.throws(() => maskFromThreshold('x' as unknown as number[], 1), /'w' passed to 'maskFromThreshold' must be a Tensor or TensorLike/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([i32, vec]);
});

maskSuite.run();

// ---

const applySuite = suite('applyMask');

for (const backend of BACKENDS) {
  applySuite(`applyMask(w, mask) equals tf.mul bit for bit on ${backend}`, async () => {
    await useBackend(backend);
    for (const [shapeName, shape] of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const [valueName, values] of valueCases(n, 7 * n)) {
        const w = tf.tensor(values, shape);
        const m = tf.tensor(Float32Array.from(values, (_, i) => (i * 2654435761) % 3 === 0 ? 0 : 1), shape);
        const got = noLeak(() => applyMask(w, m), 'applyMask');
        const want = tf.mul(w, m);
        assertBitsEqual(got.dataSync() as Float32Array, want.dataSync() as Float32Array, `${backend} ${shapeName} ${valueName}`);
        tf.dispose([w, m, got, want]);
      }
    }
  });
}

applySuite('applyMask returns a new tensor and leaves w unchanged', () => {
  const w = tf.tensor([1, 2, 3]);
  const out = applyMask(w, [0, 1, 0]);
  assert.is.not(out.dataId, w.dataId);
  assert.equal(Array.from(w.dataSync()), [1, 2, 3]);
  assert.equal(Array.from(out.dataSync()), [0, 2, 0]);
  tf.dispose([w, out]);
});

applySuite('applyMask rejects bad arguments without leaking', () => {
  const bool = tf.tensor([1, 0], [2], 'bool');
  const before = tf.memory().numTensors;
  assert.throws(() => applyMask([1, 2], [1]), /'w' and 'mask' passed to 'applyMask' must have the same shape, but got \[2\] and \[1\]/);
  assert.throws(() => applyMask([1, 2], bool), /'mask' passed to 'applyMask' must be a float32 tensor, but got a bool/);
  assert.is(tf.memory().numTensors, before);
  bool.dispose();
});

applySuite.run();

// ---

const countSuite = suite('countNonzero');

for (const backend of BACKENDS) {
  countSuite(`countNonzero(w) equals the reference on ${backend}`, async () => {
    await useBackend(backend);
    for (const [shapeName, shape] of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const [valueName, values] of valueCases(n, 3 * n)) {
        const w = tf.tensor(values, shape);
        const c = noLeak(() => countNonzero(w), 'countNonzero');
        assert.is(c.dtype, 'int32');
        assert.is(c.dataSync()[0], ref.countNonzero(values), `${backend} ${shapeName} ${valueName}`);
        tf.dispose([w, c]);
      }
    }
  });
}

countSuite('countNonzero counts NaN and not -0', () => {
  const c = countNonzero([NaN, -0, 0, 1e-45]);
  assert.is(c.dataSync()[0], 2);
  c.dispose();
});

countSuite.run();
