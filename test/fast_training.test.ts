import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {disableFastTraining, enableFastTraining, fastDenseCall, fastMatMul, isFastTrainingEnabled,
  maskedDense} from '../src/index';
import {kernelConfigs} from '../src/kernels/bridge';
import {MASKED_DENSE, maskedDenseKernel} from '../src/kernels/masked_dense';
import {BACKENDS, noLeak, normal, rng, useBackend} from './helpers';

/** [m, k, n] of C[m, n] = A[m, k] · B[k, n], named for the edge they hit (tiles are 4x8). */
const MATMUL_SHAPES: Array<[string, [number, number, number]]> = [
  ['all_one', [1, 1, 1]],
  ['m_eq_1', [1, 33, 8]],
  ['m_lt_4_n_tail', [3, 17, 10]],
  ['one_tile', [4, 8, 8]],
  ['all_tails', [5, 7, 9]],
  ['n_eq_1', [6, 5, 1]],
  ['odd', [13, 31, 17]],
  ['k_eq_1', [9, 1, 12]],
  ['larger', [64, 100, 24]],
  ['scratch_k_tail', [64, 10, 64]],
  ['deep', [16, 300, 40]],
  ['k_eq_0', [3, 0, 5]],
  ['m_eq_0', [0, 4, 5]],
];

/** C = op(A) · op(B) in float64, from row-major A and B as stored (before op). */
function refMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean) {
  const c = new Float64Array(m * n), bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, sa = 0;
      for (let p = 0; p < k; p++) {
        const x = ta ? a[p * m + i] : a[i * k + p];
        const y = tb ? b[j * k + p] : b[p * n + j];
        s += x * y;
        sa += Math.abs(x * y);
      }
      c[i * n + j] = s;
      bound[i * n + j] = sa;
    }
  }
  return {c, bound};
}

/** Asserts |actual - expected| <= rel · scale elementwise (NaN and ±Inf must match exactly). */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>|number,
                     rel: number, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const s = typeof scale === 'number' ? scale : scale[i];
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= rel * s + 1e-30 : Object.is(a, e) || (isNaN(a) && isNaN(e));
    if (!ok) assert.unreachable(`${what}: index ${i} of ${actual.length}: got ${a}, expected ${e} (scale ${s})`);
  }
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

const TRANSPOSES: Array<[boolean, boolean]> = [[false, false], [true, false], [false, true], [true, true]];

const fastMatMulSuite = suite('fastMatMul');

for (const backend of BACKENDS) {
  fastMatMulSuite(`fastMatMul(a, b, ta, tb) equals a float64 product on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 1;
    for (const [name, [m, k, n]] of MATMUL_SHAPES) {
      for (const [ta, tb] of TRANSPOSES) {
        const av = normal(m * k, seed++), bv = normal(k * n, seed++);
        const a = tf.tensor(av, ta ? [k, m] : [m, k]), b = tf.tensor(bv, tb ? [n, k] : [k, n]);
        const c = noLeak(() => fastMatMul(a, b, ta, tb), 'fastMatMul');
        assert.equal(c.shape, [m, n], `${name} shape`);
        const {c: ref, bound} = refMatMul(av, bv, m, k, n, ta, tb);
        assertClose(c.dataSync(), ref, bound, 1e-5, `${backend} ${name} ta=${ta} tb=${tb} [${m},${k},${n}]`);
        tf.dispose([a, b, c]);
      }
    }
    // A kernel writing past its output or scratch corrupts the backend's heap: allocation then fails.
    const probe = tf.ones([100000]), total = tf.sum(probe);
    assert.is(total.dataSync()[0], 100000);
    tf.dispose([probe, total]);
  });
}

fastMatMulSuite('fastMatMul propagates NaN and ±Inf as a plain product does', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const [m, k, n] = [6, 9, 11];
    const av = normal(m * k, 3), bv = normal(k * n, 4);
    av[5] = NaN; av[20] = Infinity; bv[7] = -Infinity; bv[30] = 0;
    for (const [ta, tb] of TRANSPOSES) {
      const a = tf.tensor(av, ta ? [k, m] : [m, k]), b = tf.tensor(bv, tb ? [n, k] : [k, n]);
      const c = fastMatMul(a, b, ta, tb);
      const {c: ref, bound} = refMatMul(av, bv, m, k, n, ta, tb);
      assertClose(c.dataSync(), ref, bound, 1e-5, `${backend} specials ta=${ta} tb=${tb}`);
      tf.dispose([a, b, c]);
    }
  }
});

fastMatMulSuite('fastMatMul keeps leading batch dimensions of size 1', async () => {
  await useBackend('wasm');
  const a = tf.tensor(normal(12, 5), [1, 3, 4]), b = tf.tensor(normal(20, 6), [1, 5, 4]);
  const c = fastMatMul(a, b, false, true);
  assert.equal(c.shape, [1, 3, 5]);
  const ref = tf.matMul(a, b, false, true);
  assertClose(c.dataSync(), ref.dataSync(), maxAbs(ref.dataSync()), 1e-5, 'batch-1');
  tf.dispose([a, b, c, ref]);
});

fastMatMulSuite('fastMatMul rejects bad arguments without leaking', () => {
  const a = tf.ones([2, 3]), i32 = tf.ones([2, 3], 'int32'), v = tf.ones([3]), batched = tf.ones([2, 2, 3]);
  const before = tf.memory().numTensors;
  assert.throws(() => fastMatMul(i32, a, false, true), /'a' passed to 'fastMatMul' must be a float32 tensor, but got a int32/);
  assert.throws(() => fastMatMul(a, v), /'b' passed to 'fastMatMul' must have rank >= 2, but got rank 1/);
  assert.throws(() => fastMatMul(a, a), /Inner dimensions of 'fastMatMul' must match: op\(a\) is \[2, 3\] and op\(b\) is \[2, 3\]/);
  assert.throws(() => fastMatMul(batched, a, false, true), /batch dimensions of size 1 \(use tf.matMul for batched products\)/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([a, i32, v, batched]);
});

fastMatMulSuite.run();

// ---

const maskedDenseSuite = suite('maskedDense');

/**
 * Dense shapes [batch, in, out] including 1 and non-multiples of 4 and 8. Sparse masks take the
 * sparse kernels from batch 16 (input gradient) and 32 (forward), with batch tails of 32 and 4
 * (40, 35).
 */
const DENSE_SHAPES: Array<[string, [number, number, number]]> = [
  ['m_eq_1_k_eq_1_n_eq_1', [1, 1, 1]], ['m_eq_1_n_tail', [1, 5, 3]], ['n_gt_16_tail', [2, 9, 17]], ['m_odd_n_tail', [7, 13, 10]],
  ['m_eq_16_sparse_dx', [16, 33, 8]], ['n_eq_1', [5, 8, 1]], ['m_gt_32_sparse_forward', [33, 70, 24]],
  ['m_batch_tail_32', [40, 19, 13]], ['m_batch_tail_4', [35, 64, 33]], ['k_lt_4_n_eq_1', [8, 3, 1]],
];

/** Mask densities: sparse forward and input gradient; dense forward and sparse input gradient; all dense. */
const DENSITIES = [0.2, 0.4, 0.8];

function randomMask(shape: number[], seed: number, keep = 0.5): tf.Tensor {
  const r = rng(seed);
  const n = shape[0] * shape[1];
  return tf.tensor(Float32Array.from({length: n}, () => (r() < keep ? 1 : 0)), shape);
}

/**
 * Gradients of sum(maskedDense(...) · r) against tf.grad of the plain tfjs computation
 * act(x · wm + b) with wm = kernel ⊙ mask taken as the variable: tfmot's semantics, where masked
 * weights receive the full gradient.
 */
async function checkGradients(backend: string, [name, [m, k, n]]: [string, [number, number, number]], relu: boolean,
                              density: number|null, biased: boolean, seed: number): Promise<void> {
  const masked = density != null;
  const what = `${backend} ${name} [${m},${k},${n}] ${relu ? 'relu' : 'linear'} mask=${density} bias=${biased}`;
  const x = tf.tensor(normal(m * k, seed), [m, k]);
  const kernel = tf.tensor(normal(k * n, seed + 1), [k, n]);
  const mask = masked ? randomMask([k, n], seed + 2, density) : null;
  const bias = biased ? tf.tensor(normal(n, seed + 3), [n]) : null;
  const r = tf.tensor(normal(m * n, seed + 4), [m, n]);
  const act = relu ? 'relu' : 'linear';
  const before = tf.memory().numTensors;
  const args = biased ? [x, kernel, bias!] : [x, kernel];
  const [dx, dw, db = tf.zeros([0])] = tf.grads((...t: tf.Tensor[]) =>
    tf.sum(tf.mul(maskedDense(t[0], t[1], mask, biased ? t[2] : null, act), r)))(args);
  const y = maskedDense(x, kernel, mask, bias, act);
  const wm = mask ? tf.mul(kernel, mask) : kernel;
  const plain = (t: tf.Tensor[]) => {
    const z = biased ? tf.add(tf.matMul(t[0], t[1]), t[2]) : tf.matMul(t[0], t[1]);
    return relu ? tf.relu(z) : z;
  };
  const refArgs = biased ? [x, wm, bias!] : [x, wm];
  const [rdx, rdw, rdb = tf.zeros([0])] = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(plain(t), r)))(refArgs);
  const ry = tf.tidy(() => plain(refArgs));
  for (const [got, ref, name] of [[y, ry, 'y'], [dx, rdx, 'dx'], [dw, rdw, 'dw'], [db, rdb, 'db']] as const) {
    assert.equal(got.shape, ref.shape, `${what} ${name} shape`);
    const e = ref.dataSync();
    assertClose(got.dataSync(), e, Math.max(maxAbs(e), 1e-30), 1e-5, `${what} ${name}`);
  }
  if (mask && relu === false && m > 1) {
    // Masked positions receive their full gradient (tfmot semantics), not zero.
    const mv = mask.dataSync(), gv = dw.dataSync();
    const masked0 = Array.from(mv).findIndex(v => v === 0);
    if (masked0 >= 0) assert.ok(gv[masked0] !== 0, `${what}: masked position ${masked0} gets a gradient`);
  }
  tf.dispose([dx, dw, db, y, rdx, rdw, rdb, ry]);
  if (mask) wm.dispose();
  assert.is(tf.memory().numTensors, before, `${what}: leaked tensors`);
  tf.dispose([x, kernel, r]);
  if (mask) mask.dispose();
  if (bias) bias.dispose();
}

for (const backend of BACKENDS) {
  maskedDenseSuite(`maskedDense gradients equal tf.grad of x·(kernel⊙mask)+bias on ${backend}`, async () => {
    await useBackend(backend);
    tf.env().set('IS_TEST', true);  // the engine then checks every kernel for leaked data ids
    try {
      let seed = 100;
      for (const shape of DENSE_SHAPES) {
        for (const relu of [false, true]) {
          for (const density of [null, ...DENSITIES]) {
            for (const biased of [false, true]) await checkGradients(backend, shape, relu, density, biased, seed += 10);
          }
        }
      }
    } finally {
      tf.env().set('IS_TEST', false);
    }
  });
}

maskedDenseSuite('maskedDense with a mask of values other than 0 and 1 multiplies by it', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const x = tf.tensor(normal(16 * 6, 21), [16, 6]), kernel = tf.tensor(normal(6 * 5, 22), [6, 5]);
    const mask = tf.tensor(Float32Array.from({length: 30}, (_, i) => (i % 5 === 0 ? 0.5 : 0)), [6, 5]);
    const [y, dx] = [maskedDense(x, kernel, mask), tf.grad((xx: tf.Tensor) => tf.sum(maskedDense(xx, kernel, mask)))(x)];
    const ref = tf.matMul(x, tf.mul(kernel, mask));
    const rdx = tf.grad((xx: tf.Tensor) => tf.sum(tf.matMul(xx, tf.mul(kernel, mask))))(x);
    assertClose(y.dataSync(), ref.dataSync(), maxAbs(ref.dataSync()), 1e-5, `${backend} forward`);
    assertClose(dx.dataSync(), rdx.dataSync(), maxAbs(rdx.dataSync()), 1e-5, `${backend} dx`);
    tf.dispose([x, kernel, mask, y, dx, ref, rdx]);
  }
});

maskedDenseSuite('maskedDense gives the mask no gradient and flattens rank-3 inputs', async () => {
  await useBackend('wasm');
  const x = tf.tensor(normal(2 * 3 * 5, 7), [2, 3, 5]);
  const kernel = tf.tensor(normal(5 * 4, 8), [5, 4]);
  const mask = randomMask([5, 4], 9);
  const [dx, dmask] = tf.grads((xx: tf.Tensor, mm: tf.Tensor) => tf.sum(maskedDense(xx, kernel, mm)))([x, mask]);
  assert.equal(dx.shape, [2, 3, 5]);
  assert.equal(Array.from(dmask.dataSync()), new Array(20).fill(0));
  const y = maskedDense(x, kernel, mask);
  const ref = tf.matMul(tf.reshape(x, [6, 5]), tf.mul(kernel, mask));
  assert.equal(y.shape, [2, 3, 4]);
  assertClose(y.dataSync(), ref.dataSync(), maxAbs(ref.dataSync()), 1e-5, 'rank-3 forward');
  tf.dispose([x, kernel, mask, dx, dmask, y, ref]);
});

maskedDenseSuite('maskedDense rejects bad arguments without leaking', () => {
  const x = tf.ones([2, 3]), k = tf.ones([3, 4]), k1 = tf.ones([3]), m = tf.ones([4, 3]), b = tf.ones([3]);
  const xi = tf.ones([2, 3], 'int32');
  const before = tf.memory().numTensors;
  assert.throws(() => maskedDense(x, k, null, null, 'tanh' as 'relu'),
      /'activation' passed to 'maskedDense' must be one of 'linear', 'relu', but got 'tanh'/);
  assert.throws(() => maskedDense(xi, k), /'x' passed to 'maskedDense' must be a float32 tensor, but got a int32/);
  assert.throws(() => maskedDense(x, k1), /'kernel' passed to 'maskedDense' must have rank 2, but got rank 1/);
  assert.throws(() => maskedDense(b, k), /'x' passed to 'maskedDense' must have rank >= 2, but got rank 1/);
  assert.throws(() => maskedDense(tf.ones([2, 5]), k), /last dimension of 'x' passed to 'maskedDense' must equal the first dimension of 'kernel' \(3\)/);
  assert.throws(() => maskedDense(x, k, m), /'kernel' and 'mask' passed to 'maskedDense' must have the same shape, but got \[3,4\] and \[4,3\]/);
  assert.throws(() => maskedDense(x, k, null, b), /'bias' passed to 'maskedDense' must have shape \[4\], but got \[3\]/);
  assert.is(tf.memory().numTensors, before + 1);  // the ones([2, 5]) made inside the assert
  tf.dispose([x, k, k1, m, b, xi]);
});

maskedDenseSuite.run();

// ---

const fastDenseCallSuite = suite('fastDenseCall');

fastDenseCallSuite('fastDenseCall(dense, x) equals dense.apply(x) for relu, linear and tanh', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const activation of ['relu', 'linear', 'tanh'] as const) {
      for (const useBias of [true, false]) {
        const layer = tfl.layers.dense({units: 11, activation, useBias, biasInitializer: 'randomNormal'});
        const x = tf.tensor(normal(6 * 9, 11), [6, 9]);
        const ref = layer.apply(x) as tf.Tensor;
        const y = noLeak(() => fastDenseCall(layer, x), 'fastDenseCall')!;
        assertClose(y.dataSync(), ref.dataSync(), maxAbs(ref.dataSync()), 1e-5, `${backend} ${activation} bias=${useBias}`);
        tf.dispose([x, ref, y]);
        layer.dispose();
      }
    }
  }
});

fastDenseCallSuite('fastDenseCall returns null for other layers, unbuilt layers and backends without the kernel', async () => {
  await useBackend('wasm');
  const x = tf.ones([2, 4]);
  const conv = tfl.layers.conv1d({filters: 2, kernelSize: 1});
  assert.is(fastDenseCall(conv, x), null);
  const unbuilt = tfl.layers.dense({units: 3});
  assert.is(fastDenseCall(unbuilt, x), null);
  const dense = tfl.layers.dense({units: 3});
  dense.apply(x);
  assert.is(fastDenseCall(dense, [x, x]), null);
  assert.is(fastDenseCall(dense, tf.ones([2, 4], 'int32')), null);
  const [wasmConfig] = kernelConfigs(maskedDenseKernel).filter(c => c.backendName === 'wasm');
  tf.unregisterKernel(MASKED_DENSE, 'wasm');
  try {
    assert.is(fastDenseCall(dense, x), null);
  } finally {
    tf.registerKernel(wasmConfig);
  }
  const y = fastDenseCall(dense, x)!;
  assert.equal(y.shape, [2, 3]);
  tf.dispose([x, y]);
});

/** A small MLP and its data, identical for every call with the same seed. */
function mlp(seed: number, batch = 10): {model: tfl.Sequential; x: tf.Tensor; y: tf.Tensor} {
  const init = (s: number) => tfl.initializers.glorotUniform({seed: seed + s});
  const model = tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [13], units: 21, activation: 'relu', kernelInitializer: init(1), biasInitializer: 'ones'}),
    tfl.layers.dense({units: 9, activation: 'tanh', kernelInitializer: init(2)}),
    tfl.layers.dense({units: 3, kernelInitializer: init(3)}),
  ]});
  return {model, x: tf.tensor(normal(batch * 13, seed), [batch, 13]), y: tf.tensor(normal(batch * 3, seed + 1), [batch, 3])};
}

function assertSameWeights(a: tfl.LayersModel, b: tfl.LayersModel, what: string): void {
  const wa = a.getWeights(), wb = b.getWeights();
  assert.is(wa.length, wb.length);
  wa.forEach((w, i) => {
    const e = wb[i].dataSync();
    assertClose(w.dataSync(), e, Math.max(maxAbs(e), 1e-30), 1e-5, `${what} weight ${i}`);
  });
}

fastDenseCallSuite('SGD steps through fastDenseCall (masked as the pruning wrapper does) equal the plain path', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    // Batch 40 and 15% masks: the sparse forward and input-gradient kernels run.
    const fast = mlp(5, 40), plain = mlp(5, 40);
    const masks = fast.model.layers.map((l, i) => randomMask(l.getWeights()[0].shape, 40 + i, 0.15));
    const opt = [tf.train.sgd(0.1), tf.train.sgd(0.1)];
    const step = (model: tfl.Sequential, x: tf.Tensor, y: tf.Tensor, o: tf.Optimizer, useFast: boolean) => {
      // The wrapper's weightMaskOp: kernel := kernel ⊙ mask, outside the tape.
      model.layers.forEach((l, i) => {
        const [k, ...rest] = l.getWeights();
        const masked = tf.mul(k, masks[i]);
        l.setWeights([masked, ...rest]);
        masked.dispose();
      });
      o.minimize(() => {
        let h = x;
        model.layers.forEach((l, i) => {
          h = useFast ? fastDenseCall(l, h, masks[i])! : l.apply(h) as tf.Tensor;
        });
        return tf.losses.meanSquaredError(y, h) as tf.Scalar;
      });
    };
    step(fast.model, fast.x, fast.y, opt[0], true);
    step(plain.model, plain.x, plain.y, opt[1], false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      step(fast.model, fast.x, fast.y, opt[0], true);
      step(plain.model, plain.x, plain.y, opt[1], false);
      assert.is(tf.memory().numTensors, before, `${backend}: tensors leaked in step ${i}`);
    }
    assertSameWeights(fast.model, plain.model, `${backend} masked SGD`);
    // Masked positions were updated by the last step (tfmot semantics) and are re-zeroed only by the next mask.
    const k0 = fast.model.layers[0].getWeights()[0].dataSync(), m0 = masks[0].dataSync();
    assert.ok(Array.from(m0).some((v, i) => v === 0 && k0[i] !== 0), `${backend}: masked weights receive updates`);
    tf.dispose([fast.x, fast.y, plain.x, plain.y, ...masks]);
    fast.model.dispose();
    plain.model.dispose();
    opt.forEach(o => o.dispose());
  }
});

fastDenseCallSuite.run();

// ---

const enableSuite = suite('enableFastTraining');

enableSuite('enableFastTraining() / disableFastTraining() swap the wasm BatchMatMul and restore the original', async () => {
  await useBackend('wasm');
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const cpuOriginal = tf.getKernel('BatchMatMul', 'cpu');
  assert.ok(original != null);
  assert.is(isFastTrainingEnabled(), false);
  enableFastTraining();
  enableFastTraining();
  assert.is(isFastTrainingEnabled(), true);
  assert.is.not(tf.getKernel('BatchMatMul', 'wasm'), original);
  assert.is(tf.getKernel('BatchMatMul', 'wasm')!.setupFunc, original!.setupFunc);
  assert.is(tf.getKernel('BatchMatMul', 'cpu'), cpuOriginal);
  disableFastTraining();
  disableFastTraining();
  assert.is(isFastTrainingEnabled(), false);
  assert.is(tf.getKernel('BatchMatMul', 'wasm'), original);
});

enableSuite('with enableFastTraining, tf.matMul equals the stock kernel for every transpose, batch and shape', async () => {
  await useBackend('wasm');
  tf.env().set('IS_TEST', true);  // the engine then checks every kernel for leaked data ids
  try {
    const cases: Array<[number[], number[]]> = [[[5, 7], [7, 9]], [[1, 3, 4], [1, 4, 6]], [[3, 5, 4], [3, 4, 2]],
      [[3, 5, 4], [1, 4, 2]], [[2, 1, 3, 4], [4, 6]], [[64, 33], [33, 17]], [[1, 1], [1, 1]]];
    let seed = 300;
    for (const [as, bs] of cases) {
      for (const [ta, tb] of TRANSPOSES) {
        const swap = (s: number[], t: boolean) => t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
        const a = tf.tensor(normal(as.reduce((p, q) => p * q, 1), seed++), swap(as, ta));
        const b = tf.tensor(normal(bs.reduce((p, q) => p * q, 1), seed++), swap(bs, tb));
        const ref = tf.matMul(a, b, ta, tb);
        enableFastTraining();
        try {
          const c = noLeak(() => tf.matMul(a, b, ta, tb), 'matMul');
          assert.equal(c.shape, ref.shape);
          assertClose(c.dataSync(), ref.dataSync(), maxAbs(ref.dataSync()), 1e-5, `[${as}]x[${bs}] ta=${ta} tb=${tb}`);
          c.dispose();
          const inner = as[as.length - 1];
          const bad = tf.ones(swap([inner + 1, bs[bs.length - 1]], tb));
          assert.throws(() => tf.matMul(a, bad, ta, tb), /inner shapes|must match/);
          bad.dispose();
        } finally {
          disableFastTraining();
        }
        tf.dispose([a, b, ref]);
      }
    }
  } finally {
    tf.env().set('IS_TEST', false);
  }
});

enableSuite('model.fit with enableFastTraining gives the weights of plain model.fit, without leaks', async () => {
  await useBackend('wasm');
  const fast = mlp(9), plain = mlp(9);
  for (const m of [fast.model, plain.model]) m.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  await plain.model.fit(plain.x, plain.y, {epochs: 3, batchSize: 4, shuffle: false, verbose: 0});
  enableFastTraining();
  try {
    await fast.model.fit(fast.x, fast.y, {epochs: 1, batchSize: 4, shuffle: false, verbose: 0});
    const before = tf.memory().numTensors;
    await fast.model.fit(fast.x, fast.y, {epochs: 2, batchSize: 4, shuffle: false, verbose: 0});
    assert.is(tf.memory().numTensors, before, 'tensors leaked across fit steps');
  } finally {
    disableFastTraining();
  }
  assertSameWeights(fast.model, plain.model, 'fit');
  tf.dispose([fast.x, fast.y, plain.x, plain.y]);
  fast.model.dispose();
  plain.model.dispose();
});

enableSuite('enableFastTraining throws a clear error without the wasm kernels', async () => {
  const original = tf.getKernel('BatchMatMul', 'wasm')!;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  try {
    assert.throws(() => enableFastTraining(), /enableFastTraining needs the tfjs wasm backend's kernels: import '@tensorflow\/tfjs-backend-wasm'/);
    assert.is(isFastTrainingEnabled(), false);
  } finally {
    tf.registerKernel(original);
  }
});

enableSuite.run();

// ---

const wrapperSuite = suite('PruneLowMagnitude training path');

wrapperSuite('a pruned Dense trains through the fast kernels in fit, and predicts through tfjs\'s own', async () => {
  await useBackend('wasm');
  const {ConstantSparsity, pruneLowMagnitude, UpdatePruningStep} = await import('../src/index');
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [12], units: 16, activation: 'relu'}),
                                         tfl.layers.dense({units: 3})]});
  const pruned = pruneLowMagnitude(model, {
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.8, beginStep: 0, frequency: 1}),
  }) as tfl.LayersModel;
  pruned.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const xs = tf.tensor2d(normal(32 * 12, 3), [32, 12]);
  const ys = tf.tensor2d(normal(32 * 3, 4), [32, 3]);
  const training = await tf.profile(async () => {
    await pruned.fit(xs, ys, {epochs: 1, batchSize: 16, verbose: 0, callbacks: [new UpdatePruningStep()]});
  });
  const trainKernels = new Set(training.kernels.map(k => k.name));
  assert.ok(trainKernels.has(MASKED_DENSE), `fit ran ${[...trainKernels].join(', ')}`);
  const inference = await tf.profile(() => tf.dispose(pruned.predict(xs) as tf.Tensor));
  assert.not.ok(inference.kernels.some(k => k.name === MASKED_DENSE), 'predict stays on tfjs kernels');
  tf.dispose([xs, ys]);
});

wrapperSuite.run();
