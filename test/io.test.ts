import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {fileSystem, NodeFileSystem} from '../src/index';
import {assertBitsEqual, normal, useBackend} from './helpers';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-io-'));
  tempDirs.push(dir);
  return dir;
}

function smallModel(): tfl.LayersModel {
  const input = tfl.input({shape: [6]});
  const h = tfl.layers.dense({units: 5, activation: 'relu', name: 'hidden'}).apply(input) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({name: 'norm'}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({units: 3, name: 'out'}).apply(bn) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out});
}

async function expectReject(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

async function predictionsEqual(a: tfl.LayersModel, b: tfl.LayersModel): Promise<void> {
  const x = tf.tensor2d(normal(4 * 6, 5), [4, 6]);
  const ya = a.predict(x) as tf.Tensor, yb = b.predict(x) as tf.Tensor;
  assertBitsEqual(await ya.data() as Float32Array, await yb.data() as Float32Array, 'predictions');
  tf.dispose([x, ya, yb]);
}

// ---

const roundTrip = suite('fileSystem save/load');

roundTrip.before(() => useBackend('cpu'));
roundTrip.after(() => { for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true}); });

roundTrip('model.save(\'file://dir\') and tf.loadLayersModel(\'file://dir/model.json\') round trip exactly', async () => {
  const dir = join(tempDir(), 'nested', 'model');
  const model = smallModel();
  const before = tf.memory().numTensors;
  const result = await model.save(`file://${dir}`);
  assert.is(tf.memory().numTensors, before, 'save leaks no tensors');
  assert.equal(readdirSync(dir).sort(), ['model.json', 'weights.bin'], 'no temporary files left');
  assert.is(result.modelArtifactsInfo.weightDataBytes, statSync(join(dir, 'weights.bin')).size);
  assert.is(result.modelArtifactsInfo.modelTopologyType, 'JSON');
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.weightsManifest[0].paths, ['./weights.bin']);
  assert.equal(json.weightsManifest[0].weights.map((w: {name: string}) => w.name),
      model.weights.map(w => w.originalName));
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(model, loaded);
  const wa = model.getWeights(), wb = loaded.getWeights();
  for (let i = 0; i < wa.length; i++) assertBitsEqual(wa[i].dataSync() as Float32Array, wb[i].dataSync() as Float32Array, `weight ${i}`);
  model.dispose();
  loaded.dispose();
});

roundTrip('fileSystem(path) works as an explicit handler, with or without file://, and overwrites a previous save', async () => {
  const dir = tempDir();
  const a = smallModel(), b = smallModel();
  await a.save(fileSystem(dir));
  await b.save(fileSystem(`file://${dir}`));
  assert.equal(readdirSync(dir).sort(), ['model.json', 'weights.bin']);
  const loaded = await tfl.loadLayersModel(fileSystem(join(dir, 'model.json')));
  await predictionsEqual(b, loaded);
  assert.instance(fileSystem(dir), NodeFileSystem);
  assert.is(fileSystem(`file://${dir}`).path, dir);
  tf.dispose([a, b, loaded].flatMap(m => m.getWeights()));
});

roundTrip('the optimizer and training config survive (includeOptimizer), and int32 weights', async () => {
  const dir = tempDir();
  const model = smallModel();
  model.compile({loss: 'meanSquaredError', optimizer: tf.train.adam(0.01)});
  const [x, y] = [tf.tensor2d(normal(8 * 6, 1), [8, 6]), tf.tensor2d(normal(8 * 3, 2), [8, 3])];
  await model.fit(x, y, {epochs: 1, batchSize: 8, verbose: 0});
  await model.save(`file://${dir}`, {includeOptimizer: true});
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.is(json.trainingConfig.loss, 'mean_squared_error');
  const artifacts = await fileSystem(join(dir, 'model.json')).load();
  assert.equal(artifacts.weightSpecs!.map(w => w.name), json.weightsManifest[0].weights.map((w: {name: string}) => w.name));
  assert.ok(artifacts.weightSpecs!.some(w => w.group === 'optimizer'));
  assert.is((artifacts.weightData as ArrayBuffer).byteLength, statSync(join(dir, 'weights.bin')).size);
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  const [wa, wb] = [await model.optimizer.getWeights(), await loaded.optimizer.getWeights()];
  assert.is(wb.length, wa.length);
  for (let i = 0; i < wa.length; i++) {
    assertBitsEqual(wa[i].tensor.dataSync() as Float32Array, wb[i].tensor.dataSync() as Float32Array, `optimizer weight ${i}`);
  }
  await predictionsEqual(model, loaded);
  tf.dispose([x, y, ...wa.map(w => w.tensor), ...wb.map(w => w.tensor)]);
  model.dispose();
  loaded.dispose();
  // Raw artifacts with an int32 weight round-trip bit for bit.
  const ints = Int32Array.from([1, -2, 2147483647, -1]);
  const raw: tf.io.ModelArtifacts = {modelTopology: {custom: true}, format: 'layers-model', generatedBy: 'test',
    convertedBy: null, weightSpecs: [{name: 'step', shape: [4], dtype: 'int32'}], weightData: ints.buffer};
  const dir2 = tempDir();
  await fileSystem(dir2).save(raw);
  const back = await fileSystem(join(dir2, 'model.json')).load();
  assert.equal(Array.from(new Int32Array(back.weightData as ArrayBuffer)), Array.from(ints));
  assert.equal(back.modelTopology, {custom: true});
  assert.is(back.generatedBy, 'test');
});

roundTrip('sharded weights listed in a manifest load in order', async () => {
  const dir = tempDir();
  const a = Float32Array.from([1, 2, 3]), b = Float32Array.from([4, 5]);
  writeFileSync(join(dir, 'shard1.bin'), new Uint8Array(a.buffer));
  writeFileSync(join(dir, 'shard2.bin'), new Uint8Array(b.buffer));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({modelTopology: {}, weightsManifest: [
    {paths: ['shard1.bin', 'shard2.bin'], weights: [{name: 'w', shape: [5], dtype: 'float32'}]}]}));
  const back = await fileSystem(join(dir, 'model.json')).load();
  assert.equal(Array.from(new Float32Array(back.weightData as ArrayBuffer)), [1, 2, 3, 4, 5]);
});

roundTrip('routers ignore other schemes', () => {
  assert.is(tf.io.getSaveHandlers('file:///tmp/x').length, 1);
  assert.is(tf.io.getLoadHandlers('file:///tmp/x/model.json').length, 1);
  assert.is(tf.io.getSaveHandlers('localstorage://x').length, 0);
  assert.is(tf.io.getLoadHandlers(['file:///a', 'file:///b']).length, 0);
});

roundTrip.run();

// ---

const errors = suite('fileSystem errors');

errors.before(() => useBackend('cpu'));
errors.after(() => { for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true}); });

errors('loading a missing file, a directory, malformed JSON or an empty object gives a clear error', async () => {
  const dir = tempDir();
  await expectReject(fileSystem(join(dir, 'model.json')).load(), /fileSystem\.load: no model file at '.*model\.json'/);
  await expectReject(tfl.loadLayersModel(`file://${dir}`),
      new RegExp(`fileSystem\\.load: '${dir}' is a directory; pass the path of its model file \\('${dir}/model\\.json'\\)`));
  writeFileSync(join(dir, 'model.json'), '{"modelTopology": ');
  await expectReject(fileSystem(join(dir, 'model.json')).load(), /fileSystem\.load: '.*model\.json' is not valid JSON: /);
  writeFileSync(join(dir, 'model.json'), '{"format": "layers-model"}');
  await expectReject(fileSystem(join(dir, 'model.json')).load(), /contains neither a model topology nor a weights manifest/);
  writeFileSync(join(dir, 'model.json'), 'null');
  await expectReject(fileSystem(join(dir, 'model.json')).load(), /contains neither a model topology nor a weights manifest/);
});

errors('a truncated, oversized or missing weights.bin is detected', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  const bin = join(dir, 'weights.bin');
  const size = statSync(bin).size;
  const saved = readFileSync(bin);
  truncateSync(bin, size - 1);
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`),
      new RegExp(`weights files \\[\\./weights\\.bin\\] of '.*model\\.json' hold ${size - 1} bytes, but its weights manifest needs ${size} \\(the file is truncated\\)`));
  writeFileSync(bin, Buffer.concat([saved, Buffer.alloc(8)]));
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`), /hold \d+ bytes, but .* needs \d+ \(the file does not belong to this model\.json\)/);
  rmSync(bin);
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`), /the weights file '.*weights\.bin' listed in '.*model\.json' is missing/);
  model.dispose();
});

errors('saving onto a file, or a binary topology, is refused and leaves no temporary files', async () => {
  const dir = tempDir();
  const file = join(dir, 'model.json');
  writeFileSync(file, 'x');
  const model = smallModel();
  await expectReject(model.save(`file://${file}`), /fileSystem\.save: '.*model\.json' is a file, but models are saved into a directory/);
  await expectReject(fileSystem(dir).save({modelTopology: new ArrayBuffer(4)}), /binary model topology cannot be saved/);
  assert.equal(readdirSync(dir), ['model.json']);
  model.dispose();
});

errors('a failing write removes its temporary files and keeps the previous model intact', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  const before = readFileSync(join(dir, 'model.json'), 'utf8');
  // A directory named model.json makes the final rename fail after both temporary files were written.
  rmSync(join(dir, 'model.json'));
  mkdirSync(join(dir, 'model.json'));
  writeFileSync(join(dir, 'model.json', 'keep'), 'x');
  await expectReject(model.save(`file://${dir}`), /fileSystem\.save: could not save the model to '.*': /);
  assert.equal(readdirSync(dir).sort(), ['model.json', 'weights.bin'], 'temporary files removed');
  rmSync(join(dir, 'model.json'), {recursive: true});
  writeFileSync(join(dir, 'model.json'), before);
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(model, loaded);
  model.dispose();
  loaded.dispose();
});

errors('bad paths are rejected', () => {
  assert.throws(() => fileSystem(''), /fileSystem: path must be a non-empty string, but got ''/);
  assert.throws(() => fileSystem(undefined as never), /path must be a non-empty string, but got undefined/);
});

errors.run();

// ---

const importSafety = suite('import safety');

importSafety('src/io/file.ts and src/tensorboard.ts import node: modules only lazily (browser bundles can include them)', () => {
  for (const file of ['../src/io/file.ts', '../src/tensorboard.ts']) {
    const source = readFileSync(new URL(file, import.meta.url), 'utf8');
    const staticImports = source.split('\n').filter(line => /^\s*import\s[^(]*from\s+['"]node:/.test(line));
    assert.equal(staticImports, [], file);
    assert.match(source, /import\('node:fs\/promises'\)/, file);
  }
});

importSafety.run();

// ---

const keras = suite('Keras-compatible saves');

keras('a saved wrapper keeps tfmot\'s upper-case block_pooling_type and loads back', async () => {
  await useBackend('wasm');
  const {ConstantSparsity, pruneLowMagnitude, kerasCompatibleTopology} = await import('../src/index');
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [4], units: 16, name: 'd'})]});
  const pruned = pruneLowMagnitude(model, {
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0}), blockSize: [1, 4], blockPoolingType: 'MAX',
  }) as tfl.LayersModel;
  const dir = tempDir();
  await pruned.save(`file://${dir}`);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const layers = json.modelTopology.config.layers as Array<{class_name: string; config: {block_pooling_type?: string}}>;
  const wrapper = layers.find(l => l.class_name === 'PruneLowMagnitude');
  assert.is(wrapper?.config.block_pooling_type, 'MAX');
  const loaded = await tfl.loadLayersModel(`file://${join(dir, 'model.json')}`);
  assert.is((loaded.layers[0] as unknown as {blockPoolingType: string}).blockPoolingType, 'MAX');
  assert.equal(kerasCompatibleTopology({class_name: 'PruneLowMagnitude', config: {block_pooling_type: 'avg'}}),
               {class_name: 'PruneLowMagnitude', config: {block_pooling_type: 'AVG'}});
  loaded.dispose();
});

keras.run();
