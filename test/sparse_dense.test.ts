import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {planBlockSparseMatMul, toSparse} from '../src/index';
import {crc32c} from '../src/util/crc32c';
import {SparseConv2D} from '../src/sparse/sparse_conv2d';
import {SparseDense, SparseDenseArgs} from '../src/sparse/sparse_dense';
import type {StoredDtype} from '../src/sparse/quantize';
import {encodeWeight, int8ToWords} from '../src/sparse/storage';
import {BACKENDS, blockSparseWeight, int8Bound, normal, useBackend} from './helpers';

/** A built SparseDense holding `w` (`[K, N]`), its weights set, plus its stored form. */
function makeLayer(w: Float32Array, shape: [number, number], opts: {block?: [number, number]; dtype?: StoredDtype;
    bias?: Float32Array; activation?: string; kernelWidth?: number; name?: string} = {}) {
  const [K, N] = shape;
  const dtype = opts.dtype ?? 'float32';
  const block = opts.block ?? [1, 1];
  const stored = encodeWeight(w, shape, block, dtype);
  const layer = new SparseDense({
    name: opts.name, units: N, inputDim: K, activation: opts.activation, useBias: opts.bias != null, blockSize: block,
    valueDtype: dtype, positionCoding: stored.coding, riceParameter: stored.riceParameter,
    nonzeroBlocks: stored.nonzeroBlocks, storedValues: stored.storedValues, positionWords: stored.positionWords,
    kernelBlockSize: [1, opts.kernelWidth ?? Math.min(16, N)],
  });
  // Built inside apply, as in a model: weights get the layer's name scope and dispose() works.
  layer.apply(tfl.input({shape: [K]}));
  const values = [tf.tensor1d(stored.positions, 'int32'),
    dtype === 'int8' ? tf.tensor1d(int8ToWords(stored.values as Int8Array), 'int32') : tf.tensor1d(stored.values as Float32Array)];
  if (stored.scales) values.push(tf.tensor1d(stored.scales));
  if (opts.bias) values.push(tf.tensor1d(opts.bias));
  layer.setWeights(values);
  tf.dispose(values);
  return {layer, stored};
}

/** Reference output and, per entry, the scale of its sum (sum of |x·w| + |b|) for relative bounds. */
function reference(x: Float32Array, M: number, w: Float32Array, [K, N]: [number, number], bias?: Float32Array) {
  const y = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0, a = bias ? Math.abs(bias[n]) : 0;
      for (let k = 0; k < K; k++) {
        s += x[m * K + k] * w[k * N + n];
        a += Math.abs(x[m * K + k] * w[k * N + n]);
      }
      y[m * N + n] = s;
      mag[m * N + n] = a;
    }
  }
  return {y, mag};
}

const SHAPES: Array<[string, [number, number]]> = [
  ['k_eq_1', [1, 16]], ['n_lt_4', [20, 3]], ['n_tail', [33, 37]], ['square', [64, 64]], ['wide', [24, 80]],
];

const forward = suite('SparseDense.call');

for (const backend of BACKENDS) {
  forward(`SparseDense.apply equals x·W + b (float32, relative 1e-5) on ${backend}`, async () => {
    await useBackend(backend);
    let cases = 0;
    for (const [name, shape] of SHAPES) {
      const [K, N] = shape;
      for (const [block, sparsity] of [[[1, 1], 0.8], [[1, 16], 0.9], [[2, 2], 0.5], [[1, 4], 0], [[1, 1], 1]] as Array<[[number, number], number]>) {
        if (block[0] > K || block[1] > N) continue;
        const w = blockSparseWeight(K, N, block, sparsity, K * N + cases);
        const bias = normal(N, 3);
        for (const kernelWidth of [1, 4, 8, 16].filter(v => v <= N)) {
          for (const activation of ['linear', 'relu']) {
            const {layer} = makeLayer(w, shape, {block, bias, activation, kernelWidth});
            for (const M of [1, 3, 32]) {
              const x = normal(M * K, M + cases);
              const {y: ref, mag} = reference(x, M, w, shape, bias);
              const xt = tf.tensor2d(x, [M, K]);
              // The first call of a path decodes and caches the kernel (freed by dispose); later calls allocate nothing.
              tf.dispose(layer.apply(xt) as tf.Tensor);
              const before = tf.memory().numTensors;
              const yt = layer.apply(xt) as tf.Tensor;
              const y = yt.dataSync();
              yt.dispose();
              assert.is(tf.memory().numTensors, before, 'apply leaked');
              xt.dispose();
              for (let i = 0; i < M * N; i++) {
                const want = activation === 'relu' ? Math.max(0, ref[i]) : ref[i];
                if (!(Math.abs(y[i] - want) <= 1e-5 * mag[i] + 1e-30)) {
                  assert.unreachable(`${backend} ${name} block ${block} s=${sparsity} strips ${kernelWidth} ${activation} ` +
                      `M=${M}: y[${Math.floor(i / N)}, ${i % N}] = ${y[i]}, expected ${want}`);
                }
              }
              cases++;
            }
            layer.dispose();
          }
        }
      }
    }
    assert.ok(cases > 200, `${cases} cases`);
  });

  forward(`int8 SparseDense stays within the derived quantization bound on ${backend}`, async () => {
    await useBackend(backend);
    for (const [name, shape] of SHAPES) {
      const [K, N] = shape;
      for (const [block, sparsity] of [[[1, 1], 0.8], [[1, 16], 0.9], [[1, 4], 0]] as Array<[[number, number], number]>) {
        if (block[1] > N) continue;
        const w = blockSparseWeight(K, N, block, sparsity, K + N);
        const bias = normal(N, 5);
        const {layer, stored} = makeLayer(w, shape, {block, bias, dtype: 'int8', kernelWidth: Math.min(16, N)});
        for (const M of [1, 2, 32]) {
          const x = normal(M * K, 11 * M);
          const {y: ref, mag} = reference(x, M, w, shape, bias);
          const xt = tf.tensor2d(x, [M, K]);
          const yt = layer.apply(xt) as tf.Tensor;
          const y = yt.dataSync();
          tf.dispose([xt, yt]);
          for (let i = 0; i < M * N; i++) {
            const bound = int8Bound(x, Math.floor(i / N), w, shape, stored.scales!, i % N) + 1e-5 * mag[i];
            if (!(Math.abs(y[i] - ref[i]) <= bound)) {
              assert.unreachable(`${backend} ${name} block ${block} M=${M} entry ${i}: |${y[i]} - ${ref[i]}| > ${bound}`);
            }
          }
        }
        layer.dispose();
      }
    }
  });
}

forward('SparseDense applies to rank-3 inputs and runs other activations as tfjs does', async () => {
  await useBackend('wasm');
  const shape: [number, number] = [12, 20];
  const w = blockSparseWeight(12, 20, [1, 4], 0.6, 1);
  const bias = normal(20, 2);
  for (const activation of ['tanh', 'softmax', 'sigmoid']) {
    const {layer} = makeLayer(w, shape, {block: [1, 4], bias, activation, kernelWidth: 4});
    const dense = tfl.layers.dense({units: 20, activation: activation as 'tanh'});
    dense.apply(tfl.input({shape: [12]}));
    dense.setWeights([tf.tensor2d(w, shape), tf.tensor1d(bias)]);
    const x = tf.tensor3d(normal(2 * 5 * 12, 3), [2, 5, 12]);
    const got = layer.apply(x) as tf.Tensor, want = dense.apply(x) as tf.Tensor;
    assert.equal(got.shape, [2, 5, 20]);
    const diff = tf.max(tf.abs(tf.sub(got, want)));
    assert.ok(diff.dataSync()[0] <= 1e-5, `${activation}: max diff ${diff.dataSync()[0]}`);
    tf.dispose([x, got, want, diff]);
    layer.dispose();
    dense.dispose();
  }
});

forward('SparseDense.dispose frees its weights and the decoded kernel', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const {layer} = makeLayer(blockSparseWeight(30, 40, [1, 16], 0.5, 1), [30, 40], {block: [1, 16], bias: normal(40, 1)});
  for (const M of [1, 8]) {
    const x = tf.ones([M, 30]);
    tf.dispose([x, layer.apply(x) as tf.Tensor]);
  }
  assert.ok(tf.memory().numTensors > before);
  layer.dispose();
  assert.is(tf.memory().numTensors, before);
});

forward('SparseDense under a gradient tape throws instead of a wrong gradient', async () => {
  await useBackend('cpu');
  const {layer} = makeLayer(blockSparseWeight(8, 8, [1, 1], 0.5, 1), [8, 8]);
  const x = tf.ones([2, 8]);
  assert.throws(() => tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v) as tf.Tensor))(x), /inference-only: it has no gradient/);
  x.dispose();
  layer.dispose();
});

forward.run();

// ---

const weights = suite('SparseDense weights');

weights('setWeights refuses corrupt or mismatched weights, naming the layer and the weight', async () => {
  await useBackend('wasm');
  const w = blockSparseWeight(20, 24, [1, 1], 0.8, 4);
  const {layer, stored} = makeLayer(w, [20, 24], {name: 'hidden', bias: normal(24, 1)});
  const [, values, bias] = layer.getWeights();
  // Shape checks run where tf.loadLayersModel writes (LayerVariable.write); setWeights checks shapes itself first.
  const writes: Array<[number, tf.Tensor, RegExp]> = [
    [0, tf.zeros([stored.positionWords + 1], 'int32'),
     /SparseDense 'hidden': weight 'positions' must be int32 \[\d+\] as the layer config says, but got int32 \[\d+\]: the artifact is corrupt/],
    [1, tf.zeros([stored.storedValues], 'int32'), /weight 'values' must be float32 \[\d+\] .* but got int32/],
  ];
  for (const [i, bad, pattern] of writes) {
    assert.throws(() => layer.weights[i].write(bad), pattern);
    bad.dispose();
  }
  const cases: Array<[tf.Tensor[], RegExp]> = [
    [[tf.tensor1d(stored.positions.map((v, i) => (i === stored.positionWords - 1 ? v | (1 << 31) : v)), 'int32'), values, bias],
     /SparseDense 'hidden': weight 'positions' is corrupt: (the positions have stray bits|the Rice-coded positions end)/],
    [[tf.fill([stored.positionWords], -1, 'int32'), values, bias], /weight 'positions' is corrupt/],
  ];
  for (const [bad, pattern] of cases) {
    const before = tf.memory().numTensors;
    assert.throws(() => layer.setWeights(bad), pattern);
    assert.is(tf.memory().numTensors, before);
    bad[0].dispose();
  }
  const x = tf.ones([1, 20]);
  const y = layer.apply(x) as tf.Tensor;
  assert.ok(Number.isFinite(y.dataSync()[0]), 'the layer still works after refused writes');
  tf.dispose([x, y]);
  layer.dispose();
});

weights('int8 weights: -128, padding and bad scales are refused', async () => {
  await useBackend('cpu');
  const w = blockSparseWeight(10, 6, [1, 1], 0.5, 2);
  const {layer, stored} = makeLayer(w, [10, 6], {dtype: 'int8', name: 'q'});
  const [positions, values, scales] = layer.getWeights();
  const q = Int8Array.from(stored.values as Int8Array);
  q[0] = -128;
  const minus128 = tf.tensor1d(int8ToWords(q), 'int32');
  assert.throws(() => layer.setWeights([positions, minus128, scales]), /SparseDense 'q': weight 'values' is corrupt: .*value 0 is -128/);
  const nanScales = tf.tensor1d(Float32Array.from({length: 6}, (_, i) => (i === 2 ? NaN : 1)));
  assert.throws(() => layer.setWeights([positions, values, nanScales]), /weight 'scales' is corrupt: scales must be finite and >= 0, but scales\[2\] = NaN/);
  if (stored.storedValues % 4 !== 0) {
    const padded = int8ToWords(stored.values as Int8Array);
    new Int8Array(padded.buffer)[padded.length * 4 - 1] = 1;
    const bad = tf.tensor1d(padded, 'int32');
    assert.throws(() => layer.setWeights([positions, bad, scales]), /padding bytes/);
    bad.dispose();
  }
  tf.dispose([minus128, nanScales]);
  layer.dispose();
});

weights('a layer whose weights were never set says so when called', async () => {
  await useBackend('cpu');
  const stored = encodeWeight(blockSparseWeight(6, 6, [1, 1], 0.5, 3), [6, 6], [1, 1], 'float32');
  const layer = new SparseDense({name: 'fresh', units: 6, inputDim: 6, blockSize: [1, 1], valueDtype: 'float32',
    positionCoding: stored.coding, riceParameter: stored.riceParameter, nonzeroBlocks: stored.nonzeroBlocks,
    storedValues: stored.storedValues, positionWords: stored.positionWords});
  layer.apply(tfl.input({shape: [6]}));
  const x = tf.ones([1, 6]);
  assert.throws(() => layer.apply(x), /SparseDense 'fresh': the stored kernel does not decode \(were its weights set\?\)/);
  const wrongK = tf.ones([1, 7]);
  assert.throws(() => layer.apply(wrongK), /expects inputs with last dimension 6|expected axis -1 of input shape to have value 6/);
  tf.dispose([x, wrongK]);
  layer.dispose();
});

weights('decodedKernel gives the stored kernel: float32 exactly, int8 dequantized with its zeros exact', async () => {
  await useBackend('wasm');
  const shape: [number, number] = [24, 20];
  const w = blockSparseWeight(24, 20, [1, 4], 0.75, 9);
  for (const [dtype, block] of [['float32', [1, 4]], ['float32', [2, 2]], ['int8', [1, 4]]] as const) {
    const {layer, stored} = makeLayer(w, shape, {dtype, block: [...block]});
    const before = tf.memory().numTensors;
    const decoded = layer.decodedKernel();
    assert.is(tf.memory().numTensors, before, 'no tensors made');
    assert.is(decoded.length, 24 * 20);
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) {
        assert.is(decoded[i], 0, `${dtype}: entry ${i} stays zero`);
      } else if (dtype === 'float32') {
        assert.is(decoded[i], w[i], `float32 entry ${i}`);
      } else {
        const scale = stored.scales![i % 20];
        assert.ok(Math.abs(decoded[i] - w[i]) <= scale / 2 + 1e-7, `int8 entry ${i}: ${decoded[i]} vs ${w[i]} (scale ${scale})`);
      }
    }
    layer.dispose();
  }
  const unbuilt = new SparseDense({name: 'unbuilt', units: 8, inputDim: 4, blockSize: [1, 4], valueDtype: 'float32',
    positionCoding: 'bitmap', riceParameter: 0, nonzeroBlocks: 0, storedValues: 0, positionWords: 1});
  assert.throws(() => unbuilt.decodedKernel(), /SparseDense 'unbuilt': is not built yet/);
});

weights.run();

// ---

const config = suite('SparseDense config');

const GOOD: SparseDenseArgs = {name: 'l', units: 8, inputDim: 4, blockSize: [1, 4], valueDtype: 'float32',
  positionCoding: 'bitmap', riceParameter: 0, nonzeroBlocks: 2, storedValues: 8, positionWords: 1, kernelBlockSize: [1, 8]};

config('getConfig -> fromConfig gives the same layer config', () => {
  const layer = new SparseDense({...GOOD, activation: 'relu'});
  const copy = SparseDense.fromConfig(SparseDense, layer.getConfig()) as SparseDense;
  assert.equal(copy.getConfig(), layer.getConfig());
  assert.is(copy.getConfig().kernelBlockSize instanceof Array, true);
});

config('bad configs are refused naming the field', () => {
  const cases: Array<[Partial<SparseDenseArgs>, RegExp]> = [
    [{units: 0}, /SparseDense 'l': invalid config: units must be an integer >= 1, but got 0/],
    [{nonzeroBlocks: -1}, /nonzeroBlocks must be an integer >= 0, but got -1/],
    [{blockSize: [0, 4]}, /blockSize must be \[height, width\] of positive integers fitting in \[4, 8\], but got \[0,4\]/],
    [{blockSize: [1, 9]}, /blockSize must be .* fitting in \[4, 8\]/],
    [{kernelBlockSize: [2, 8]}, /kernelBlockSize must be .* fitting in \[1, 8\]/],
    [{valueDtype: 'int4' as 'int8'}, /valueDtype must be one of 'float32', 'int8', but got 'int4'/],
    [{positionCoding: 'zip' as 'rice'}, /positionCoding must be one of 'bitmap', 'rice', but got 'zip'/],
    [{nonzeroBlocks: 9}, /nonzeroBlocks 9 exceeds the 8 blocks/],
    [{storedValues: 33}, /storedValues 33 exceeds the 32 kernel entries/],
    [{positionWords: 2}, /a bitmap of 8 blocks has 1 words, but positionWords is 2/],
    [{riceParameter: 31, positionCoding: 'rice'}, /riceParameter must be at most 30/],
    [{valueDtype: 'int8', inputDim: 200000}, /int8 kernels need inputDim <= 133144/],
    [{activation: 'wiggle'}, /SparseDense 'l': invalid config: activation: .*wiggle/],
    [{storedValues: 9}, /storedValues 9 cannot fill 2 blocks of 1x4 \(between 2 and 8\)/],
    [{storedValues: 1}, /storedValues 1 cannot fill 2 blocks of 1x4/],
    [{positionCoding: 'rice', riceParameter: 30, positionWords: 1}, /positionWords 1 cannot hold the Rice codes of 2 blocks \(between 2 and the bitmap's 1 words\)/],
    [{unitz: 8} as Partial<SparseDenseArgs>, /SparseDense 'l': invalid config: unknown field 'unitz'; the fields are name, /],
    [{checksumz: {positions: 1}} as Partial<SparseDenseArgs>, /unknown field 'checksumz'/],
    [{checksums: {positions: 1} as never}, /checksums must be \{positions, values, bias\} of CRC-32C values \(uint32\), but got \{"positions":1\}/],
    [{checksums: {positions: 1, values: 2, bias: -3}}, /checksums must be \{positions, values, bias\}/],
    [{checksums: {positions: 1, values: 2, bias: 3, scales: 4}}, /checksums must be \{positions, values, bias\}/],
  ];
  for (const [change, pattern] of cases) assert.throws(() => new SparseDense({...GOOD, ...change}), pattern);
});

config('oversized configs are refused in the constructor, before build allocates anything', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  // The case: units 1e9 took 13 s and 4 GB before it was refused.
  for (const [change, pattern] of [
    [{units: 1e9, inputDim: 784, blockSize: [1, 1], nonzeroBlocks: 1, storedValues: 1, positionWords: Math.ceil(784e9 / 32)},
     /a \[784, 1000000000\] kernel needs \d+ bytes on the heap \(its weights and the decoded kernel\), more than a wasm32 heap holds/],
    [{units: 1e9, inputDim: 1, blockSize: [1, 1], nonzeroBlocks: 1, storedValues: 1, positionWords: Math.ceil(1e9 / 32)},
     /a \[1, 1000000000\] kernel needs \d+ bytes on the heap/],
    [{units: 2 ** 20, inputDim: 1, blockSize: [1, 1], nonzeroBlocks: 10, storedValues: 2 ** 20, positionWords: 2 ** 15},
     /storedValues 1048576 cannot fill 10 blocks of 1x1/],
  ] as Array<[Partial<SparseDenseArgs>, RegExp]>) {
    assert.throws(() => new SparseDense({...GOOD, ...change}), pattern);
  }
  assert.is(tf.memory().numTensors, before, 'nothing allocated');
});

config('a model whose later SparseDense config is bad loads nothing and leaks nothing (functional model)', async () => {
  await useBackend('wasm');
  const input = tfl.input({shape: [6]});
  const a = tfl.layers.dense({units: 6, name: 'a'}).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({units: 6, name: 'b'}).apply(a) as tfl.SymbolicTensor;
  const dense = tfl.model({inputs: input, outputs: b});
  for (const layer of dense.layers.slice(1)) {
    const [k, bias] = layer.getWeights();
    layer.setWeights([tf.mul(k, tf.cast(tf.greater(tf.abs(k), 0.4), 'float32')), bias]);
  }
  const {model} = await toSparse(dense, {minSparsity: 0.1});
  const artifacts = await saved(model);
  const topology = artifacts.modelTopology as {config: {layers: Array<{class_name: string; config: Record<string, unknown>}>}};
  const last = topology.config.layers[topology.config.layers.length - 1];
  assert.is(last.class_name, 'SparseDense');
  last.config.stored_values = 1e9;
  const before = tf.memory().numTensors;
  await tfl.loadLayersModel(tf.io.fromMemory(artifacts)).then(() => assert.unreachable('loaded'),
      (e: Error) => assert.match(e.message, /SparseDense 'b': invalid config: storedValues 1000000000/));
  assert.is(tf.memory().numTensors, before, 'leaked tensors');
  tf.dispose([model, dense].flatMap(m => m.getWeights()));
});

config.run();

// ---

const integrity = suite('SparseDense integrity');

/** Artifacts saved to memory. */
async function saved(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let out: tf.io.ModelArtifacts|undefined;
  await model.save(tf.io.withSaveHandler(async a => {
    out = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  return out!;
}

/** A dense model 'f' (24 -> 16, unstructured 80 %) -> 'q' (16 -> 12, 1x4 blocks, 50 %), made sparse as `dtype`. */
async function sparseModel(dtype: StoredDtype): Promise<tfl.LayersModel> {
  const dense = tfl.sequential({layers: [tfl.layers.dense({inputShape: [24], units: 16, name: 'f'}),
    tfl.layers.dense({units: 12, name: 'q'})]});
  const weights = [tf.tensor2d(blockSparseWeight(24, 16, [1, 1], 0.8, 11), [24, 16]), tf.tensor1d(normal(16, 13)),
    tf.tensor2d(blockSparseWeight(16, 12, [1, 4], 0.5, 12), [16, 12]), tf.tensor1d(normal(12, 14))];
  dense.setWeights(weights);
  tf.dispose(weights);
  const {model} = await toSparse(dense, {dtype, minSparsity: 0.1});
  dense.dispose();
  return model;
}

/** The weight names of a sparse layer of `dtype`. */
const storedNames = (dtype: StoredDtype) => dtype === 'int8' ? ['positions', 'values', 'scales', 'bias'] : ['positions', 'values', 'bias'];

/** The byte range of each weight in `artifacts.weightData`. */
function byteRanges(artifacts: tf.io.ModelArtifacts): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  let offset = 0;
  for (const spec of artifacts.weightSpecs!) {
    const bytes = 4 * spec.shape.reduce((a, b) => a * b, 1);
    ranges.set(spec.name, [offset, offset + bytes]);
    offset += bytes;
  }
  return ranges;
}

integrity('getConfig records the CRC-32C of every weight; save and load round-trip it', async () => {
  await useBackend('wasm');
  for (const dtype of ['float32', 'int8'] as const) {
    const model = await sparseModel(dtype);
    const artifacts = await saved(model);
    const configs = (artifacts.modelTopology as {config: {layers: Array<{config: Record<string, unknown>}>}}).config.layers.map(l => l.config);
    const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
    const ranges = byteRanges(artifacts);
    for (const layer of ['f', 'q']) {
      const config = configs.find(c => c.name === layer)!;
      const expected = Object.fromEntries(storedNames(dtype).map(n => [n, crc32c(data.subarray(...ranges.get(`${layer}/${n}`)!))]));
      assert.equal(config.checksums, expected, `${dtype} layer ${layer}`);
    }
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    assert.equal((loaded.getLayer('q') as SparseDense).getConfig().checksums, configs[1].checksums);
    const x = tf.tensor2d(normal(3 * 24, 15), [3, 24]);
    const [ya, yb] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    assert.equal(Array.from(yb.dataSync()), Array.from(ya.dataSync()));
    tf.dispose([x, ya, yb]);
    model.dispose();
    loaded.dispose();
  }
});

integrity('a config saved before checksums existed still loads (structural checks only)', async () => {
  await useBackend('wasm');
  const model = await sparseModel('int8');
  const artifacts = await saved(model);
  for (const layer of (artifacts.modelTopology as {config: {layers: Array<{config: Record<string, unknown>}>}}).config.layers) {
    delete layer.config.checksums;
  }
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  const x = tf.tensor2d(normal(2 * 24, 16), [2, 24]);
  const [ya, yb] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
  assert.equal(Array.from(yb.dataSync()), Array.from(ya.dataSync()));
  // Saved again, it records checksums.
  assert.ok((await saved(loaded)).modelTopology && (loaded.getLayer('f') as SparseDense).getConfig().checksums);
  tf.dispose([x, ya, yb]);
  model.dispose();
  loaded.dispose();
});

integrity('every single-bit flip of the stored arrays is refused at load, naming the layer and the weight', async () => {
  await useBackend('wasm');
  let flips = 0, refused = 0, viaLoads = 0;
  for (const dtype of ['float32', 'int8'] as const) {
    const model = await sparseModel(dtype);
    const artifacts = await saved(model);
    const configs = new Map(model.layers.map(l => [l.name, l.getConfig()]));
    model.dispose();
    const ranges = byteRanges(artifacts);
    const good = new Uint8Array(artifacts.weightData as ArrayBuffer);
    for (const layer of ['f', 'q']) {
      const specs = artifacts.weightSpecs!.filter(s => s.name.startsWith(`${layer}/`));
      for (const weight of storedNames(dtype)) {
        const [start, end] = ranges.get(`${layer}/${weight}`)!;
        for (let bit = start * 8; bit < end * 8; bit++) {
          const data = good.slice();
          data[bit >> 3] ^= 1 << (bit & 7);
          flips++;
          let message = 'loaded';
          if (weight === 'positions') {
            // The coded positions (the 231 of 480 flips that decoded) through tf.loadLayersModel.
            viaLoads++;
            try {
              (await tfl.loadLayersModel(tf.io.fromMemory({...artifacts, weightData: data.buffer}))).dispose();
            } catch (e) {
              message = (e as Error).message;
            }
          } else {
            // The other arrays through the layer's own part of a load (fromConfig, build, the same weight
            // writes), which leaves no half-loaded model behind.
            const l = SparseDense.fromConfig(SparseDense, structuredClone(configs.get(layer)!)) as SparseDense;
            l.apply(tfl.input({shape: [l.inputDim]}));
            const values = specs.map(s => {
              const bytes = data.slice(...ranges.get(s.name)!).buffer;
              return s.dtype === 'int32' ? tf.tensor1d(new Int32Array(bytes), 'int32') : tf.tensor1d(new Float32Array(bytes));
            });
            try {
              l.setWeights(values);
            } catch (e) {
              message = (e as Error).message;
            }
            tf.dispose(values);
            l.dispose();
          }
          if (new RegExp(`^SparseDense '${layer}': weight '${weight}' fails its CRC-32C check`).test(message)) refused++;
          else assert.unreachable(`${dtype} ${layer}/${weight}, bit ${bit - start * 8}: ${message}`);
        }
      }
    }
  }
  assert.is(refused, flips);
  assert.ok(flips > 4000 && viaLoads > 300, `${flips} flips, ${viaLoads} through loadLayersModel`);
  console.log(`  bit flips: ${refused} of ${flips} refused (${viaLoads} in coded positions, through tf.loadLayersModel)`);
});

integrity.run();

// ---

const conv = suite('SparseConv2D');

for (const backend of BACKENDS) {
  conv(`SparseConv2D equals a 1x1 Conv2D (strides, data formats, padding) on ${backend}`, async () => {
    await useBackend(backend);
    const [C, F] = [12, 20];
    const w = blockSparseWeight(C, F, [1, 4], 0.7, 8);
    const bias = normal(F, 9);
    const cases: Array<[[number, number], 'channelsLast'|'channelsFirst', 'same'|'valid']> = [
      [[1, 1], 'channelsLast', 'valid'], [[2, 2], 'channelsLast', 'same'], [[2, 1], 'channelsLast', 'valid'],
      [[3, 3], 'channelsLast', 'valid'], [[1, 1], 'channelsFirst', 'same'], [[2, 2], 'channelsFirst', 'valid'],
    ];
    if (backend === 'wasm') cases.splice(4);  // tfjs-wasm's Conv2D supports channelsLast only
    for (const [strides, dataFormat, padding] of cases) {
      const stored = encodeWeight(w, [C, F], [1, 4], 'float32');
      const sparse = new SparseConv2D({units: F, inputDim: C, activation: 'relu', blockSize: [1, 4], valueDtype: 'float32',
        positionCoding: stored.coding, riceParameter: stored.riceParameter, nonzeroBlocks: stored.nonzeroBlocks,
        storedValues: stored.storedValues, positionWords: stored.positionWords, kernelBlockSize: [1, 4], strides, dataFormat});
      const inShape = dataFormat === 'channelsLast' ? [7, 9, C] : [C, 7, 9];
      sparse.apply(tfl.input({shape: inShape}));
      const values = [tf.tensor1d(stored.positions, 'int32'), tf.tensor1d(stored.values as Float32Array), tf.tensor1d(bias)];
      sparse.setWeights(values);
      const dense = tfl.layers.conv2d({filters: F, kernelSize: 1, strides, padding, dataFormat, activation: 'relu'});
      dense.apply(tfl.input({shape: inShape}));
      const kernel = tf.tensor4d(w, [1, 1, C, F]);
      dense.setWeights([kernel, values[2]]);
      const x = tf.tensor(normal(2 * 7 * 9 * C, 3), [2, ...inShape]);
      const got = sparse.apply(x) as tf.Tensor, want = dense.apply(x) as tf.Tensor;
      assert.equal(got.shape, want.shape, `${strides} ${dataFormat}`);
      assert.equal(sparse.computeOutputShape([null, ...inShape]), [null, ...want.shape.slice(1)]);
      const diff = tf.max(tf.abs(tf.sub(got, want)));
      assert.ok(diff.dataSync()[0] <= 1e-5, `${backend} strides ${strides} ${dataFormat} ${padding}: ${diff.dataSync()[0]}`);
      tf.dispose([x, got, want, diff, kernel, ...values]);
      sparse.dispose();
      dense.dispose();
    }
  });
}

for (const backend of BACKENDS) {
  conv(`SparseConv2D equals a k×k Conv2D (kernel sizes, strides, padding, both paths) on ${backend}`, async () => {
    await useBackend(backend);
    const [C, F] = [48, 24];  // patch rows of 144 to 1200 entries: wide enough for the sparse path
    const cases: Array<[[number, number], [number, number], 'same'|'valid', 'channelsLast'|'channelsFirst', string]> = [
      [[3, 3], [1, 1], 'same', 'channelsLast', 'relu'], [[3, 3], [2, 2], 'valid', 'channelsLast', 'linear'],
      [[2, 3], [2, 1], 'same', 'channelsLast', 'tanh'], [[5, 5], [1, 2], 'valid', 'channelsLast', 'relu'],
      [[3, 3], [2, 2], 'same', 'channelsFirst', 'relu'], [[1, 3], [1, 1], 'valid', 'channelsFirst', 'linear'],
    ];
    if (backend === 'wasm') cases.splice(4);  // tfjs-wasm's Conv2D supports channelsLast only
    for (const [kernelSize, strides, padding, dataFormat, activation] of cases) {
      const K = kernelSize[0] * kernelSize[1] * C;
      // 95 % sparse 1x16 runs patches on the sparse kernel; a dense kernel in 1x1 strips falls back
      // to tf.conv2d.
      for (const [sparsity, bw, path] of [[0.95, 16, 'sparse'], [0, 1, 'dense']] as const) {
        const what = `${backend} ${kernelSize} strides ${strides} ${padding} ${dataFormat} ${activation} ${path}`;
        const w = blockSparseWeight(K, F, [1, bw], sparsity, 21);
        const bias = normal(F, 22);
        const stored = encodeWeight(w, [K, F], [1, bw], 'float32');
        const sparse = new SparseConv2D({units: F, inputDim: K, activation, blockSize: [1, bw], valueDtype: 'float32',
          positionCoding: stored.coding, riceParameter: stored.riceParameter, nonzeroBlocks: stored.nonzeroBlocks,
          storedValues: stored.storedValues, positionWords: stored.positionWords, kernelBlockSize: [1, bw],
          kernelSize, strides, padding, dataFormat});
        const inShape = dataFormat === 'channelsLast' ? [9, 8, C] : [C, 9, 8];
        sparse.apply(tfl.input({shape: inShape}));
        const values = [tf.tensor1d(stored.positions, 'int32'), tf.tensor1d(stored.values as Float32Array), tf.tensor1d(bias)];
        sparse.setWeights(values);
        const rows = 2 * (sparse.computeOutputShape([2, ...inShape]) as number[]).slice(1).reduce((a, b) => a * b, 1) / F;
        assert.is(planBlockSparseMatMul([rows, K], sparse.packedKernel()).kernel === 'sparse', path === 'sparse', what);
        assert.not.ok(sparse.packedKernel().hasDenseWeight, what);
        const dense = tfl.layers.conv2d({filters: F, kernelSize, strides, padding, dataFormat, activation: activation as 'relu'});
        dense.apply(tfl.input({shape: inShape}));
        const kernel = tf.tensor4d(w, [...kernelSize, C, F]);
        dense.setWeights([kernel, values[2]]);
        const x = tf.tensor(normal(2 * 9 * 8 * C, 23), [2, ...inShape]);
        // The first call decodes the kernel (and the dense path keeps a dense copy): count after it.
        tf.dispose(sparse.apply(x) as tf.Tensor);
        const before = tf.memory().numTensors;
        const got = sparse.apply(x) as tf.Tensor;
        assert.is(tf.memory().numTensors, before + 1, `${what}: one output, nothing leaked`);
        // The conv2d path decodes a dense kernel; the patch path never does.
        assert.is(sparse.packedKernel().hasDenseWeight, path === 'dense', `${what}: the path taken`);
        const want = dense.apply(x) as tf.Tensor;
        assert.equal(got.shape, want.shape, what);
        assert.equal(sparse.computeOutputShape([null, ...inShape]), [null, ...want.shape.slice(1)], what);
        const scale = tf.max(tf.abs(want)).dataSync()[0];
        const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
        assert.ok(diff <= 1e-5 * Math.max(1, scale), `${what}: ${diff}`);
        tf.dispose([x, got, want, kernel, ...values]);
        sparse.dispose();
        dense.dispose();
      }
    }
  });
}

conv('SparseConv2D refuses bad strides, data formats and inputs', () => {
  const base = {name: 'c', units: 4, inputDim: 3, blockSize: [1, 1] as [number, number], valueDtype: 'float32' as const,
    positionCoding: 'bitmap' as const, riceParameter: 0, nonzeroBlocks: 0, storedValues: 0, positionWords: 1};
  assert.throws(() => new SparseConv2D({...base, strides: [0, 1]}), /SparseConv2D 'c': invalid config: strides must be a pair of positive integers/);
  assert.throws(() => new SparseConv2D({...base, dataFormat: 'nhwc' as 'channelsLast'}), /dataFormat must be one of 'channelsLast', 'channelsFirst', but got 'nhwc'/);
  assert.throws(() => new SparseConv2D({...base, kernelSize: [3, 0]}), /invalid config: kernelSize must be a pair of positive integers \[height, width\], but got \[3,0\]/);
  assert.throws(() => new SparseConv2D({...base, padding: 'causal' as 'same'}), /invalid config: padding must be one of 'valid', 'same', but got 'causal'/);
  assert.throws(() => new SparseConv2D({...base, kernelSize: [2, 2]}), /invalid config: inputDim 3 must be kernelSize 2x2 times the input channels/);
  const k3 = new SparseConv2D({...base, inputDim: 18, positionWords: 3, kernelSize: [3, 3], padding: 'same'});
  assert.throws(() => k3.apply(tfl.input({shape: [5, 5, 3]})), /SparseConv2D 'c': expects channelsLast inputs of rank 4 with 2 channels, but got shape \[,5,5,3\]/);
  const k3copy = SparseConv2D.fromConfig(SparseConv2D, k3.getConfig()) as SparseConv2D;
  assert.equal([k3copy.kernelSize, k3copy.padding, k3copy.inputChannels], [[3, 3], 'same', 2]);
  const layer = new SparseConv2D(base);
  assert.throws(() => layer.apply(tfl.input({shape: [5, 5, 4]})), /SparseConv2D 'c': expects channelsLast inputs of rank 4 with 3 channels, but got shape \[,5,5,4\]/);
  const copy = SparseConv2D.fromConfig(SparseConv2D, new SparseConv2D({...base, strides: [2, 2], dataFormat: 'channelsFirst'}).getConfig()) as SparseConv2D;
  assert.equal(copy.strides, [2, 2]);
  assert.is(copy.dataFormat, 'channelsFirst');
  assert.is(copy.getClassName(), 'SparseConv2D');
});

conv.run();
