// Sparse models saved and loaded: bit-for-bit round trips (memory and file://), the bytes they save,
// and corrupt stored arrays or configs refused at load, naming the layer and the problem.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import '../src/index';
import {toSparse} from '../src/index';
import {buildCnn} from '../src/cli/mnist_cnn';
import {useBackend} from './helpers';
import {inputFor, memoryArtifacts, MODELS, sequentialMlp, sparsify} from './sparse_models';

const io = suite('save and load');

io('sparse models round-trip through tf.io.withSaveHandler / fromMemory and the file handler, bit for bit', async () => {
  await useBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-convert-'));
  try {
    for (const [name, build] of MODELS) {
      const model = build();
      sparsify(model, [1, 16], 0.8);
      for (const dtype of ['float32', 'int8'] as const) {
        const {model: sparse} = await toSparse(model, {dtype});
        const x = inputFor(model, 4, 9);
        const want = sparse.predict(x) as tf.Tensor;
        const artifacts = await memoryArtifacts(sparse);
        const fromMemory = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
        await sparse.save(`file://${join(dir, `${name}-${dtype}`)}`);
        const fromFile = await tfl.loadLayersModel(`file://${join(dir, `${name}-${dtype}`, 'model.json')}`);
        for (const [how, loaded] of [['fromMemory', fromMemory], ['file://', fromFile]] as const) {
          // By class name: another copy of the library in the process (the browser test's bundle) may own the registration.
          assert.ok(loaded.layers.some(l => l.getClassName() === 'SparseDense'),
              `${name} via ${how}: SparseDense restored (got ${loaded.layers.map(l => l.getClassName())})`);
          const got = loaded.predict(x) as tf.Tensor;
          assert.equal(Array.from(got.dataSync()), Array.from(want.dataSync()), `${name} ${dtype}`);
          got.dispose();
          loaded.dispose();
        }
        tf.dispose([x, want]);
        sparse.dispose();
      }
      model.dispose();
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

io('the saved sparse model is much smaller than the dense one', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [300], units: 256, name: 'big'})]});
  sparsify(model, [1, 1], 0.8);
  const dense = await memoryArtifacts(model);
  const denseBytes = (dense.weightData as ArrayBuffer).byteLength;
  for (const [dtype, minRatio] of [['float32', 4], ['int8', 12]] as const) {
    const {model: sparse, report} = await toSparse(model, {dtype});
    const artifacts = await memoryArtifacts(sparse);
    const bytes = (artifacts.weightData as ArrayBuffer).byteLength;
    assert.is(bytes, report[0].bytesAfter, 'report bytes are the saved bytes');
    assert.ok(denseBytes / bytes >= minRatio, `${dtype}: ${denseBytes} / ${bytes} = ${(denseBytes / bytes).toFixed(2)}x`);
    sparse.dispose();
  }
  model.dispose();
});

io('the demo CNN pruned to 80 % unstructured saves >= 4x smaller (float32) and >= 12x smaller (int8), model.json included', async () => {
  await useBackend('wasm');
  const model = buildCnn();
  sparsify(model, [1, 1], 0.8);
  const size = (a: tf.io.ModelArtifacts) => (a.weightData as ArrayBuffer).byteLength +
      JSON.stringify({modelTopology: a.modelTopology, weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}).length;
  const dense = size(await memoryArtifacts(model));
  for (const [dtype, minRatio] of [['float32', 4], ['int8', 12]] as const) {
    const {model: sparse} = await toSparse(model, {dtype});
    const ratio = dense / size(await memoryArtifacts(sparse));
    assert.ok(ratio >= minRatio, `${dtype}: ${ratio.toFixed(2)}x`);
    sparse.dispose();
  }
  model.dispose();
});

/** Artifacts of a converted MLP plus helpers to corrupt one weight or the config of layer 'd1'. */
async function corruptible(dtype: 'float32'|'int8') {
  const model = sequentialMlp();
  sparsify(model, [1, 1], 0.8);
  const {model: sparse} = await toSparse(model, {dtype});
  const artifacts = await memoryArtifacts(sparse);
  sparse.dispose();
  model.dispose();
  const specs = artifacts.weightSpecs!;
  const offsetOf = (weight: string) => {
    let offset = 0;
    for (const s of specs) {
      if (s.name === weight) return offset;
      offset += 4 * s.shape.reduce((a, b) => a * b, 1);
    }
    throw new Error(`no weight ${weight}`);
  };
  /** One word changed; without `checksums` in the configs (as saved before them), so the structural checks answer. */
  const withWord = (weight: string, index: number, value: number, type: 'int32'|'float32' = 'int32', checksums = false) => {
    const data = (artifacts.weightData as ArrayBuffer).slice(0);
    const view = new DataView(data, offsetOf(weight) + 4 * index, 4);
    if (type === 'int32') view.setInt32(0, value, true);
    else view.setFloat32(0, value, true);
    const topology = structuredClone(artifacts.modelTopology) as {config: {layers: Array<{config: Record<string, unknown>}>}};
    if (!checksums) for (const layer of topology.config.layers) delete layer.config.checksums;
    return {...artifacts, modelTopology: topology, weightData: data};
  };
  const withConfig = (edit: (config: Record<string, unknown>) => void) => {
    const topology = structuredClone(artifacts.modelTopology) as {config: {layers: Array<{config: Record<string, unknown>}>}};
    edit(topology.config.layers.find(l => l.config.name === 'd1')!.config);
    return {...artifacts, modelTopology: topology};
  };
  const positionWords = specs.find(s => s.name === 'd1/positions')!.shape[0];
  return {artifacts, withWord, withConfig, positionWords};
}

async function loadError(artifacts: tf.io.ModelArtifacts): Promise<string> {
  try {
    (await tfl.loadLayersModel(tf.io.fromMemory(artifacts))).dispose();
  } catch (e) {
    return (e as Error).message;
  }
  return 'loaded without error';
}

io('corrupt sparse artifacts are refused at load, naming the layer and the problem', async () => {
  await useBackend('wasm');
  const f32 = await corruptible('float32');
  const cases: Array<[string, tf.io.ModelArtifacts, RegExp]> = [
    ['positions with stray or overflowing bits', f32.withWord('d1/positions', f32.positionWords - 1, -1),
     /SparseDense 'd1': weight 'positions' is corrupt: (the positions have stray bits|the Rice-coded positions end|stored block \d+ has index \d+, outside)/],
    ['positions all ones', f32.withWord('d1/positions', 0, -1),
     /SparseDense 'd1': weight 'positions' is corrupt/],
    ['positions all ones, checksums recorded', f32.withWord('d1/positions', 0, -1, 'int32', true),
     /SparseDense 'd1': weight 'positions' fails its CRC-32C check \(the config records \d+, its bytes give \d+\)/],
    ['config counts one block fewer (bitmap/value count mismatch)', f32.withConfig(c => { c.nonzero_blocks = (c.nonzero_blocks as number) - 1; }),
     /SparseDense 'd1': (weight 'positions' is corrupt: .*(config says|stray bits)|invalid config: storedValues \d+ cannot fill \d+ blocks)/],
    ['config value count disagrees with the stored values', f32.withConfig(c => { c.stored_values = (c.stored_values as number) + 1; }),
     /SparseDense 'd1': (weight 'positions' is corrupt: the stored blocks hold \d+ entries, but the config says \d+ values|invalid config: storedValues \d+ cannot fill \d+ blocks)/],
    ['config with more blocks than the kernel has', f32.withConfig(c => { c.nonzero_blocks = 1e6; }),
     /SparseDense 'd1': invalid config: nonzeroBlocks 1000000 exceeds the 960 blocks/],
    ['config with a bad dtype', f32.withConfig(c => { c.value_dtype = 'int4'; }),
     /SparseDense 'd1': invalid config: valueDtype must be one of 'float32', 'int8', but got 'int4'/],
    ['config with a wrong position word count', f32.withConfig(c => { c.position_words = (c.position_words as number) + 3; }),
     /SparseDense 'd1': weight 'positions' must be int32 \[\d+\] as the layer config says, but got int32 \[\d+\]/],
  ];
  const i8 = await corruptible('int8');
  cases.push(
    ['int8 scale NaN', i8.withWord('d1/scales', 3, NaN, 'float32'), /SparseDense 'd1': weight 'scales' is corrupt: scales must be finite and >= 0, but scales\[3\] = NaN/],
    ['int8 value -128', i8.withWord('d1/values', 0, 0x80808080 | 0), /SparseDense 'd1': weight 'values' is corrupt: int8 values must be in \[-127, 127\]/],
  );
  for (const [what, artifacts, pattern] of cases) {
    const message = await loadError(artifacts);
    assert.ok(pattern.test(message), `${what}: got "${message}"`);
  }
  // The untouched artifacts load.
  assert.is(await loadError(f32.artifacts), 'loaded without error');
  assert.is(await loadError(i8.artifacts), 'loaded without error');
});

io.run();

