import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {collectPrunableLayers, ConstantSparsity, fileSystem, getModelSparsity, PolynomialDecay, pruneLowMagnitude,
  PruneLowMagnitude, stripPruning, UpdatePruningStep} from '../src/index';
import {BACKENDS, normal, useBackend} from './helpers';

const L = tfl.layers;
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const modelPath = (name: string) => join(FIXTURES, 'models', name, 'model.json');

interface WeightSpec {name: string, shape: number[], dtype: string}

/** The golden weights straight from weights.bin, by name (no tfjs involved). */
async function goldenWeights(name: string): Promise<Map<string, Float32Array|Int32Array>> {
  const json = JSON.parse(await readFile(modelPath(name), 'utf8'));
  const bin = await readFile(join(FIXTURES, 'models', name, 'weights.bin'));
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const out = new Map<string, Float32Array|Int32Array>();
  let offset = 0;
  for (const spec of json.weightsManifest[0].weights as WeightSpec[]) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    out.set(spec.name, spec.dtype === 'int32' ? new Int32Array(buffer, offset, n) : new Float32Array(buffer, offset, n));
    offset += 4 * n;
  }
  return out;
}

/** relu(x (W1 * M1) + b1) (W2 * M2) + b2 in float64 from the stored weights: what Keras computes. */
function referencePredict(w: Map<string, Float32Array|Int32Array>, x: Float32Array, rows: number): Float64Array {
  const layer = (input: Float64Array, inDim: number, outDim: number, prefix: string, wrapper: string, relu: boolean) => {
    const k = w.get(`${prefix}/kernel`) as Float32Array, b = w.get(`${prefix}/bias`) as Float32Array;
    const m = w.get(`${wrapper}/mask`) as Float32Array;
    const out = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < outDim; j++) {
        let s = b[j];
        for (let i = 0; i < inDim; i++) s += input[r * inDim + i] * k[i * outDim + j] * m[i * outDim + j];
        out[r * outDim + j] = relu ? Math.max(0, s) : s;
      }
    }
    return out;
  };
  const h = layer(Float64Array.from(x), 20, 32, 'dense', 'prune_low_magnitude_dense', true);
  return layer(h, 32, 10, 'dense_1', 'prune_low_magnitude_dense_1', false);
}

function issueModel(args: {pruningSchedule: ConstantSparsity|PolynomialDecay, blockSize?: [number, number],
    blockPoolingType?: 'AVG'|'MAX', sparsityMByN?: [number, number]}): tfl.Sequential {
  const model = tfl.sequential({layers: [
    L.dense({units: 32, activation: 'relu', inputShape: [20], name: 'dense'}),
    L.dense({units: 10, name: 'dense_1'}),
  ]});
  return pruneLowMagnitude(model, args);
}

/** test/fixtures/serialization.json: what tfmot 0.8.1 saved and reloaded. */
async function goldenSerialization(): Promise<Record<string, {reload_weight_names: string[];
    layers_model: {weights_manifest: WeightSpec[]}}>> {
  return JSON.parse(await readFile(join(FIXTURES, 'serialization.json'), 'utf8'));
}

function allWeights(model: tfl.LayersModel): Map<string, number[]> {
  return new Map(model.weights.map(w => [w.originalName, Array.from(w.read().dataSync())]));
}

async function fitSteps(model: tfl.LayersModel, batches: number, seed: number): Promise<void> {
  const x = tf.tensor2d(normal(16 * batches * 20, seed), [16 * batches, 20]);
  const y = tf.tensor2d(normal(16 * batches * 10, seed + 1), [16 * batches, 10]);
  model.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  await model.fit(x, y, {batchSize: 16, epochs: 1, verbose: 0, shuffle: false, callbacks: [new UpdatePruningStep()]});
  tf.dispose([x, y]);
}

// ---

const goldenSuite = suite('tfmot golden models');

for (const backend of BACKENDS) {
  goldenSuite(`sequential_trained loads with its settings and predicts as Keras's weights do (${backend})`, async () => {
    await useBackend(backend);
    const model = await tfl.loadLayersModel(fileSystem(modelPath('sequential_trained')));
    const wrappers = collectPrunableLayers(model);
    assert.equal(wrappers.map(w => w.name), ['prune_low_magnitude_dense', 'prune_low_magnitude_dense_1']);
    for (const w of wrappers) {
      assert.is(w.pruningSchedule.getClassName(), 'PolynomialDecay');
      assert.equal(w.pruningSchedule.getConfig(), {initialSparsity: 0.2, finalSparsity: 0.8, power: 3, beginStep: 0,
        endStep: 8, frequency: 2});
      assert.equal([w.blockSize, w.blockPoolingType, w.sparsityMByN], [[1, 1], 'AVG', null]);
      assert.is(w.pruningStep, 12, '3 epochs x 4 batches');
    }
    const golden = await goldenWeights('sequential_trained');
    const loaded = allWeights(model);
    // The file has tfmot's names for a model whose layers were built before wrapping (dense/kernel);
    // loaded, the wrappers build their layers, so the weights take the names tfmot gives a reloaded
    // model (prune_low_magnitude_dense/kernel): serialization.json's reload_weight_names.
    const reloadNames = (await goldenSerialization()).sequential_trained.reload_weight_names.map(n => n.replace(/:0$/, ''));
    assert.equal([...loaded.keys()].sort(), reloadNames.sort());
    const asReloaded = (name: string) => name.startsWith('prune_low_magnitude_') ? name : `prune_low_magnitude_${name}`;
    for (const [name, values] of golden) assert.equal(loaded.get(asReloaded(name)), Array.from(values), name);
    assert.is(getModelSparsity(model), 0.8);
    const xs = normal(5 * 20, 21);
    const expected = referencePredict(golden, xs, 5);
    const x = tf.tensor2d(xs, [5, 20]);
    const out = model.predict(x) as tf.Tensor;
    const got = out.dataSync();
    expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-5 * (1 + Math.abs(e)), `output ${i}: ${got[i]} vs ${e}`));
    tf.dispose([x, out]);
  });
}

goldenSuite('sequential_trained continues training from step 12 and strips to an equal plain model', async () => {
  await useBackend('wasm');
  const model = await tfl.loadLayersModel(fileSystem(modelPath('sequential_trained')));
  await fitSteps(model, 4, 31);
  assert.equal(collectPrunableLayers(model).map(w => w.pruningStep), [16, 16]);
  assert.is(getModelSparsity(model), 0.8, 'past endStep the masks stay, and are re-applied at epoch end');
  const stripped = stripPruning(model);
  assert.equal(stripped.layers.map(l => l.getClassName()), ['InputLayer', 'Dense', 'Dense'], 'Keras\'s InputLayer is kept');
  const x = tf.tensor2d(normal(4 * 20, 33), [4, 20]);
  const a = model.predict(x) as tf.Tensor, b = stripped.predict(x) as tf.Tensor;
  assert.equal(Array.from(b.dataSync()), Array.from(a.dataSync()));
  tf.dispose([x, a, b]);
});

goldenSuite('sequential_fresh_block loads untrained (step -1, ones masks), then prunes 1x4 MAX blocks', async () => {
  await useBackend('wasm');
  const model = await tfl.loadLayersModel(fileSystem(modelPath('sequential_fresh_block')));
  const wrappers = collectPrunableLayers(model);
  for (const w of wrappers) {
    assert.equal([w.blockSize, w.blockPoolingType, w.pruningStep], [[1, 4], 'MAX', -1]);
    assert.ok(Array.from(w.maskWeights[0].read().dataSync()).every(v => v === 1));
  }
  await fitSteps(model, 1, 41);
  const [first] = wrappers;
  const mask = first.maskWeights[0].read().dataSync();
  for (let r = 0; r < 20; r++) {
    for (let c = 0; c < 32; c += 4) {
      const block = Array.from(mask.slice(r * 32 + c, r * 32 + c + 4));
      assert.ok(block.every(v => v === block[0]), `row ${r} block ${c / 4} is split: ${block}`);
    }
  }
  assert.is(Array.from(mask).filter(v => v === 0).length, 320, 'half of the 160 blocks of the 20x32 kernel');
});

goldenSuite.run();

// ---

const formatSuite = suite('saved JSON');

formatSuite('a model pruned here saves with the structure of tfmot\'s JSON (serialization.json)', async () => {
  await useBackend('wasm');
  const golden = JSON.parse(await readFile(join(FIXTURES, 'serialization.json'), 'utf8'));
  for (const [name, args] of [
    ['sequential_trained', {pruningSchedule: new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2})}],
    ['sequential_fresh_block', {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}),
      blockSize: [1, 4], blockPoolingType: 'MAX'}],
  ] as const) {
    const model = issueModel(args as Parameters<typeof issueModel>[0]);
    let artifacts: tf.io.ModelArtifacts|null = null;
    await model.save(tf.io.withSaveHandler(async a => {
      artifacts = a;
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    const saved = (artifacts as unknown as tf.io.ModelArtifacts);
    const ours = (saved.modelTopology as {model_config?: {config: {layers: Array<{class_name: string, config: Record<string, unknown>}>}}})
        .model_config ?? (saved.modelTopology as {config: {layers: Array<{class_name: string, config: Record<string, unknown>}>}});
    const theirs = golden[name].to_json.config.layers.filter((l: {class_name: string}) => l.class_name === 'PruneLowMagnitude');
    const mine = ours.config.layers.filter(l => l.class_name === 'PruneLowMagnitude');
    assert.is(mine.length, theirs.length);
    mine.forEach((layer, i) => {
      const t = theirs[i].config;
      const keys = Object.keys(layer.config).filter(k => k !== 'sparsity_m_by_n').sort();
      assert.equal(keys, Object.keys(t).sort(), `${name} wrapper ${i} keys`);
      assert.is(layer.config.name, t.name);
      assert.equal(layer.config.pruning_schedule, t.pruning_schedule);
      assert.equal(layer.config.block_size, t.block_size);
      // tfjs snake_cases every string value it saves: 'AVG' is written 'avg' (we read both back).
      assert.is(String(layer.config.block_pooling_type).toUpperCase(), t.block_pooling_type);
      assert.is(layer.config.sparsity_m_by_n, null);
      const inner = layer.config.layer as {class_name: string, config: Record<string, unknown>};
      assert.is(inner.class_name, t.layer.class_name);
      assert.is(inner.config.name, t.layer.config.name);
      assert.is(inner.config.units, t.layer.config.units);
    });
    const specs = (saved.weightSpecs as WeightSpec[]).map(s => JSON.stringify([s.name, s.shape, s.dtype])).sort();
    const goldenSpecs = (golden[name].layers_model.weights_manifest as WeightSpec[])
        .map(s => JSON.stringify([s.name, s.shape, s.dtype])).sort();
    assert.equal(specs, goldenSpecs, `${name}: weight names, shapes and dtypes`);
  }
});

formatSuite.run();

// ---

const roundTripSuite = suite('save and load');

roundTripSuite('file:// save/load keeps masks, thresholds, steps, schedule, blocks and M:N; training resumes', async () => {
  await useBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'pruned-model-'));
  try {
    const cases = [
      {pruningSchedule: new PolynomialDecay({initialSparsity: 0.3, finalSparsity: 0.6, beginStep: 1, endStep: 4, frequency: 1}),
        blockSize: [1, 4], blockPoolingType: 'MAX'},
      {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}), sparsityMByN: [2, 4]},
    ] as const;
    for (const [i, args] of cases.entries()) {
      const model = issueModel(args as Parameters<typeof issueModel>[0]);
      await fitSteps(model, 2, 51 + i);
      const url = `file://${join(dir, `m${i}`)}`;
      await model.save(url);
      const loaded = await tfl.loadLayersModel(`${url}/model.json`);
      // Same values in the same order; the names are tfmot's for a reloaded model (see above).
      assert.equal([...allWeights(loaded).values()], [...allWeights(model).values()], 'every weight, mask, threshold and step');
      const [a, b] = [collectPrunableLayers(model), collectPrunableLayers(loaded)];
      b.forEach((w, j) => {
        assert.equal(w.pruningSchedule.getConfig(), a[j].pruningSchedule.getConfig());
        assert.is(w.pruningSchedule.getClassName(), a[j].pruningSchedule.getClassName());
        assert.equal([w.blockSize, w.blockPoolingType, w.sparsityMByN, w.pruningStep],
            [a[j].blockSize, a[j].blockPoolingType, a[j].sparsityMByN, 2]);
      });
      await fitSteps(loaded, 2, 61);
      assert.equal(collectPrunableLayers(loaded).map(w => w.pruningStep), [4, 4]);
      assert.ok(b.every(w => w.getClassName() === PruneLowMagnitude.className));
    }
    // After resuming, the PolynomialDecay model reached its final 0.6 (block-rounded), the M:N model keeps 2:4.
    const mn = await tfl.loadLayersModel(`file://${join(dir, 'm1')}/model.json`);
    const mask = collectPrunableLayers(mn)[0].maskWeights[0].read().dataSync();
    for (let out = 0; out < 32; out++) {
      for (let g = 0; g < 20; g += 4) {
        let kept = 0;
        for (let k = g; k < g + 4; k++) kept += mask[k * 32 + out];
        assert.is(kept, 2, `output ${out}, inputs ${g}..${g + 3}`);
      }
    }
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
});

roundTripSuite.run();

// ---

const namesSuite = suite('tfmot weight names');

/**
 * A functional model with one layer wrapped by itself (tfmot's `prune_low_magnitude(Dense(...))`
 * inside a model definition): in 8 -> prune_low_magnitude(Dense 16 'hidden', relu) -> Dense 4 'out'.
 */
function perLayerWrapped(): tfl.LayersModel {
  const input = tfl.input({shape: [8], name: 'features'});
  const hidden = pruneLowMagnitude(L.dense({units: 16, activation: 'relu', name: 'hidden'}),
      {pruningSchedule: new ConstantSparsity({targetSparsity: 0.75, beginStep: 0, frequency: 1})});
  const out = L.dense({units: 4, name: 'out'}).apply(hidden.apply(input)) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out, name: 'functional'});
}

/** Weight values for the per-layer model: a 75 %-sparse masked kernel, as a pruned model stores it. */
function perLayerValues(): Array<[string, number[], Float32Array|Int32Array]> {
  const kernel = normal(8 * 16, 71), mask = new Float32Array(8 * 16);
  for (let i = 0; i < mask.length; i++) mask[i] = i % 4 === 0 ? 1 : 0;
  return [
    ['hidden/kernel', [8, 16], kernel.map((v, i) => v * mask[i])],
    ['hidden/bias', [16], normal(16, 72)],
    ['mask', [8, 16], mask],
    ['threshold', [], Float32Array.of(0.5)],
    ['pruning_step', [], Int32Array.of(3)],
    ['out/kernel', [16, 4], normal(16 * 4, 73)],
    ['out/bias', [4], normal(4, 74)],
  ];
}

/**
 * Writes model.json + weights.bin by hand: the topology of `perLayerWrapped()` and the weights under
 * `names` (one for each entry of `perLayerValues()`), as the tfjs converter writes a Keras model.
 */
async function writePerLayerFiles(dir: string, names: string[]): Promise<string> {
  const model = perLayerWrapped();
  const topology = model.toJSON(null, false);
  model.dispose();
  const values = perLayerValues();
  const bytes = new Uint8Array(values.reduce((n, [, , v]) => n + 4 * v.length, 0));
  let offset = 0;
  for (const [, , v] of values) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, 4 * v.length), offset);
    offset += 4 * v.length;
  }
  const manifest = [{paths: ['weights.bin'], weights: values.map(([, shape, v], i) =>
    ({name: names[i], shape, dtype: v instanceof Int32Array ? 'int32' : 'float32'}))}];
  await mkdir(dir, {recursive: true});
  await writeFile(join(dir, 'weights.bin'), bytes);
  await writeFile(join(dir, 'model.json'), JSON.stringify({format: 'layers-model', generatedBy: 'keras v2.21.0',
    convertedBy: 'test/serialization.test.ts', modelTopology: topology, weightsManifest: manifest}));
  return join(dir, 'model.json');
}

/** relu(x W1 + b1) W2 + b2 in float64 from the values written. */
function perLayerReference(x: Float32Array, rows: number): Float64Array {
  const v = new Map(perLayerValues().map(([name, , values]) => [name, values]));
  const dense = (input: Float64Array, k: ArrayLike<number>, b: ArrayLike<number>, inDim: number, outDim: number, relu: boolean) => {
    const out = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < outDim; j++) {
        let sum = b[j];
        for (let i = 0; i < inDim; i++) sum += input[r * inDim + i] * k[i * outDim + j];
        out[r * outDim + j] = relu ? Math.max(0, sum) : sum;
      }
    }
    return out;
  };
  const h = dense(Float64Array.from(x), v.get('hidden/kernel')!, v.get('hidden/bias')!, 8, 16, true);
  return dense(h, v.get('out/kernel')!, v.get('out/bias')!, 16, 4, false);
}

/** tfmot's names for the per-layer model: the wrapper built 'hidden', so its weights carry the wrapper's scope. */
const TFMOT_NAMES = ['prune_low_magnitude_hidden/kernel', 'prune_low_magnitude_hidden/bias', 'prune_low_magnitude_hidden/mask',
  'prune_low_magnitude_hidden/threshold', 'prune_low_magnitude_hidden/pruning_step', 'out/kernel', 'out/bias'];
/** The same weights named in the inner layer's scope (a layer built before it was wrapped). */
const INNER_NAMES = ['hidden/kernel', 'hidden/bias', ...TFMOT_NAMES.slice(2)];

namesSuite('a per-layer wrapped functional model loads under tfmot\'s names and under the inner layer\'s', async () => {
  await useBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'tfmot-names-'));
  try {
    const xs = normal(3 * 8, 75);
    const expected = perLayerReference(xs, 3);
    for (const [how, names] of [['tfmot', TFMOT_NAMES], ['inner scope', INNER_NAMES]] as const) {
      const path = await writePerLayerFiles(join(dir, how.replace(' ', '-')), [...names]);
      const model = await tfl.loadLayersModel(`file://${path}`);
      const [wrapper] = collectPrunableLayers(model);
      assert.is(wrapper.name, 'prune_low_magnitude_hidden', how);
      assert.is(wrapper.pruningStep, 3, how);
      assert.equal(Array.from(wrapper.maskWeights[0].read().dataSync()), Array.from(perLayerValues()[2][2]), how);
      const x = tf.tensor2d(xs, [3, 8]);
      const y = model.predict(x) as tf.Tensor;
      const got = y.dataSync();
      expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-5 * (1 + Math.abs(e)), `${how}: output ${i}: ${got[i]} vs ${e}`));
      tf.dispose([x, y]);
      // It trains on (the wrapper's state came back), and strips to a plain model.
      const xt = tf.tensor2d(normal(16 * 8, 76), [16, 8]), yt = tf.tensor2d(normal(16 * 4, 77), [16, 4]);
      model.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
      await model.fit(xt, yt, {epochs: 1, batchSize: 16, verbose: 0, callbacks: [new UpdatePruningStep()]});
      assert.is(wrapper.pruningStep, 4, how);
      assert.is(getModelSparsity(model), 0.75, how);
      tf.dispose([xt, yt]);
      model.dispose();
    }
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
});

namesSuite('models save the names tfmot saves: built before wrapping, built by the wrapper, reloaded, stripped', async () => {
  await useBackend('wasm');
  const dir = await mkdtemp(join(tmpdir(), 'tfmot-names-'));
  const savedNames = async (model: tfl.LayersModel, name: string) => {
    await model.save(`file://${join(dir, name)}`);
    const json = JSON.parse(await readFile(join(dir, name, 'model.json'), 'utf8'));
    // Sorted: the order of a manifest is tfjs's (trainable weights first), tfmot's follows its h5 file.
    return (json.weightsManifest as Array<{weights: WeightSpec[]}>).flatMap(g => g.weights.map(w => w.name)).sort();
  };
  try {
    // Wrapped inside the model definition: tfmot's prune_low_magnitude(Dense(...)) names.
    const perLayer = perLayerWrapped();
    assert.equal(await savedNames(perLayer, 'per-layer'), [...TFMOT_NAMES].sort());
    // A built model pruned whole keeps its layers' names (serialization.json's layers_model, from tfmot).
    const golden = await goldenSerialization();
    const whole = issueModel({pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})});
    assert.equal(await savedNames(whole, 'whole'), golden.sequential_trained.layers_model.weights_manifest.map(w => w.name).sort());
    // Reloaded, the wrappers build their layers: saved again with the prefixed names, as tfmot does.
    const reloaded = await tfl.loadLayersModel(`file://${join(dir, 'whole', 'model.json')}`);
    const reloadNames = golden.sequential_trained.reload_weight_names.map(n => n.replace(/:0$/, '')).sort();
    assert.equal(await savedNames(reloaded, 'reloaded'), reloadNames);
    // Stripped, the Dense layers keep those names (tfmot's strip_pruning keeps the layers), and load back.
    const stripped = stripPruning(reloaded);
    assert.equal(await savedNames(stripped, 'stripped'), reloadNames.filter(n => /\/(kernel|bias)$/.test(n)));
    const plain = await tfl.loadLayersModel(`file://${join(dir, 'stripped', 'model.json')}`);
    assert.equal([...allWeights(plain).values()], [...allWeights(stripped).values()]);
    for (const m of [perLayer, whole, reloaded, plain]) m.dispose();
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
});

namesSuite.run();

