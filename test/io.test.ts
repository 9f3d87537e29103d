import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFileSync, spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {fileSystem, NodeFileSystem} from '../src/index';
import {crc32c} from '../src/util/crc32c';
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

/** The weights file names of a saved model's manifest. */
function weightsFiles(dir: string): string[] {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  return json.weightsManifest.flatMap((g: {paths: string[]}) => g.paths.map(p => p.replace(/^\.\//, '')));
}

/** Writes a model.json (and nothing else) into `dir` with `manifest` and an empty topology. */
function writeModelJson(dir: string, manifest: unknown): string {
  const file = join(dir, 'model.json');
  writeFileSync(file, JSON.stringify({modelTopology: {}, weightsManifest: manifest}));
  return file;
}

const W5 = [{name: 'w', shape: [5], dtype: 'float32'}];

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
  const [bin] = weightsFiles(dir);
  assert.match(bin, /^weights\.\d+-[0-9a-f]{8}\.bin$/);
  assert.equal(readdirSync(dir).sort(), ['model.json', bin], 'no temporary files left');
  const bytes = readFileSync(join(dir, bin));
  assert.is(result.modelArtifactsInfo.weightDataBytes, bytes.length);
  assert.is(result.modelArtifactsInfo.modelTopologyType, 'JSON');
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.weightsManifest[0].paths, [`./${bin}`]);
  assert.equal(json.weightsManifest[0].byteLengths, [bytes.length]);
  assert.equal(json.weightsManifest[0].crc32c, [crc32c(bytes)]);
  assert.equal(json.weightsManifest[0].weights.map((w: {name: string}) => w.name),
      model.weights.map(w => w.originalName));
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(model, loaded);
  const wa = model.getWeights(), wb = loaded.getWeights();
  for (let i = 0; i < wa.length; i++) assertBitsEqual(wa[i].dataSync() as Float32Array, wb[i].dataSync() as Float32Array, `weight ${i}`);
  model.dispose();
  loaded.dispose();
});

roundTrip('fileSystem(path) works with or without file://; a new save writes new weights and removes the old', async () => {
  const dir = tempDir();
  const a = smallModel(), b = smallModel();
  await a.save(fileSystem(dir));
  const [first] = weightsFiles(dir);
  await b.save(fileSystem(`file://${dir}`));
  const [second] = weightsFiles(dir);
  assert.is.not(second, first, 'each save names its weights anew');
  assert.equal(readdirSync(dir).sort(), ['model.json', second], 'the previous weights are removed');
  const loaded = await tfl.loadLayersModel(fileSystem(join(dir, 'model.json')));
  await predictionsEqual(b, loaded);
  assert.instance(fileSystem(dir), NodeFileSystem);
  assert.is(fileSystem(`file://${dir}`).path, dir);
  tf.dispose([a, b, loaded].flatMap(m => m.getWeights()));
});

roundTrip('a save over a tfjs-node folder (weights.bin) removes its weights.bin, and keeps files it does not own', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  const [bin] = weightsFiles(dir);
  renameSync(join(dir, bin), join(dir, 'weights.bin'));
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  json.weightsManifest = [{paths: ['./weights.bin'], weights: json.weightsManifest[0].weights}];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  const legacy = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(model, legacy);
  await model.save(`file://${dir}`);
  assert.equal(readdirSync(dir).sort(), ['model.json', 'notes.txt', weightsFiles(dir)[0]].sort());
  model.dispose();
  legacy.dispose();
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
  assert.is((artifacts.weightData as ArrayBuffer).byteLength, statSync(join(dir, weightsFiles(dir)[0])).size);
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

roundTrip('sharded weights listed in a manifest load in order; a symlink that stays inside the folder is followed', async () => {
  const dir = tempDir();
  const a = Float32Array.from([1, 2, 3]), b = Float32Array.from([4, 5]);
  mkdirSync(join(dir, 'shards'));
  writeFileSync(join(dir, 'shards', 'shard1.bin'), new Uint8Array(a.buffer));
  writeFileSync(join(dir, 'shard2.bin'), new Uint8Array(b.buffer));
  symlinkSync(join(dir, 'shards', 'shard1.bin'), join(dir, 'link1.bin'));
  writeModelJson(dir, [{paths: ['link1.bin', './shard2.bin'], weights: W5}]);
  const back = await fileSystem(join(dir, 'model.json')).load();
  assert.equal(Array.from(new Float32Array(back.weightData as ArrayBuffer)), [1, 2, 3, 4, 5]);
});

roundTrip('loads during repeated saves of two models see one or the other whole, never a mix', async () => {
  const dir = tempDir();
  // Two raw models with weights of equal size: every value of version v is v.
  const version = (v: number): tf.io.ModelArtifacts => ({modelTopology: {version: v}, format: 'layers-model',
    weightSpecs: [{name: 'w', shape: v % 2 ? [64, 32] : [32, 64], dtype: 'float32'}],
    weightData: new Float32Array(2048).fill(v).buffer});
  await fileSystem(dir).save(version(1));
  let saves = 1, loads = 0;
  const saving = (async () => {
    for (let v = 2; v <= 40; v++, saves++) await fileSystem(dir).save(version(v));
  })();
  let done = false;
  void saving.finally(() => { done = true; });
  while (!done) {
    const a = await fileSystem(join(dir, 'model.json')).load();
    const v = (a.modelTopology as {version: number}).version;
    const values = new Float32Array(a.weightData as ArrayBuffer);
    assert.equal(a.weightSpecs![0].shape, v % 2 ? [64, 32] : [32, 64], `load ${loads}: shape of version ${v}`);
    assert.ok(values.every(x => x === v), `load ${loads}: weights of version ${v} hold other versions`);
    loads++;
  }
  await saving;
  assert.is(saves, 40);
  assert.ok(loads >= 2, `only ${loads} loads ran during the saves`);
  assert.equal(readdirSync(dir).sort(), ['model.json', weightsFiles(dir)[0]]);
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
  await expectReject(fileSystem(join(dir, 'model.json', 'x.json')).load(), /no model file at '.*model\.json\/x\.json'/);
});

errors('a FIFO or a device as model.json is refused without reading it', async () => {
  const dir = tempDir();
  execFileSync('mkfifo', [join(dir, 'fifo.json')]);
  await expectReject(fileSystem(join(dir, 'fifo.json')).load(), /fileSystem\.load: '.*fifo\.json' is a FIFO, not a model file/);
  await expectReject(fileSystem('/dev/zero').load(), /fileSystem\.load: '\/dev\/zero' is a character device, not a model file/);
});

errors('malformed weight manifests name the model file and the field', async () => {
  const dir = tempDir();
  const cases: Array<[unknown, RegExp]> = [
    [{paths: './w.bin'}, /'.*model\.json': weightsManifest must be an array of \{paths, weights\} groups, but got Object/],
    [[null], /weightsManifest\[0\] must be an object \{paths, weights\}, but got null/],
    [[{paths: 'w.bin', weights: W5}], /weightsManifest\[0\]\.paths must be an array of weights file names, but got 'w\.bin'/],
    [[{paths: ['w.bin', 7], weights: W5}], /weightsManifest\[0\]\.paths\[1\] must be a non-empty file name, but got 7/],
    [[{paths: ['w.bin'], weights: null}], /weightsManifest\[0\]\.weights must be an array of weight specs \{name, shape, dtype\}, but got null/],
    [[{paths: ['w.bin'], weights: [{name: 'w', shape: [-1], dtype: 'float32'}]}],
      /weightsManifest\[0\]\.weights\[0\]\.shape must be an array of non-negative integers, but got \[-1\]/],
    [[{paths: ['w.bin'], weights: [{name: 'w', shape: [2], dtype: 'float64'}]}],
      /weightsManifest\[0\]\.weights\[0\]\.dtype must be one of float32, .*, but got 'float64'/],
    [[{paths: ['w.bin'], weights: W5, byteLengths: [20]}], /weightsManifest\[0\]\.crc32c must be an array of 1 CRC-32C values/],
    [[{paths: ['w.bin'], weights: W5, byteLengths: [16], crc32c: [1]}],
      /weightsManifest\[0\]\.byteLengths add up to 16 bytes, but its weights need 20/],
  ];
  for (const [manifest, message] of cases) await expectReject(fileSystem(writeModelJson(dir, manifest)).load(), message);
  // A directory as a weights path.
  mkdirSync(join(dir, 'sub'));
  await expectReject(fileSystem(writeModelJson(dir, [{paths: ['sub'], weights: W5}])).load(),
      /weightsManifest\[0\]\.paths\[0\] of '.*model\.json' names 'sub', which is a directory, not a weights file/);
});

errors('weight paths that leave the model folder are refused: .., absolute paths, symlinks out', async () => {
  const root = tempDir();
  const dir = join(root, 'model');
  mkdirSync(dir);
  writeFileSync(join(root, 'secret.bin'), new Uint8Array(20));
  symlinkSync(join(root, 'secret.bin'), join(dir, 'link.bin'));
  symlinkSync('/dev/zero', join(dir, 'zero.bin'));
  symlinkSync(root, join(dir, 'up'));
  const cases: Array<[string, RegExp]> = [
    ['../secret.bin', /paths\[0\] of '.*model\.json' is '\.\.\/secret\.bin', which leaves the folder \(\.\.\); weights files must be inside the model's folder/],
    ['../../../../../../dev/zero', /is '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/dev\/zero', which leaves the folder/],
    ['sub/../../secret.bin', /which leaves the folder/],
    [join(root, 'secret.bin'), /is '.*secret\.bin', an absolute path/],
    ['link.bin', /is 'link\.bin', a link to '.*secret\.bin', outside '.*model'/],
    ['zero.bin', /is 'zero\.bin', a link to '\/dev\/zero', outside/],
    ['up/secret.bin', /is 'up\/secret\.bin', a link to '.*secret\.bin', outside/],
  ];
  for (const [p, message] of cases) await expectReject(fileSystem(writeModelJson(dir, [{paths: [p], weights: W5}])).load(), message);
});

errors('a FIFO among the weights is refused before anything is read (no hang)', async () => {
  const dir = tempDir();
  execFileSync('mkfifo', [join(dir, 'w.bin')]);
  await expectReject(fileSystem(writeModelJson(dir, [{paths: ['w.bin'], weights: W5}])).load(),
      /paths\[0\] of '.*model\.json' names 'w\.bin', which is a FIFO, not a weights file/);
});

errors('a weights file of the wrong size is refused before it is read', async () => {
  const dir = tempDir();
  const file = writeModelJson(dir, [{paths: ['w.bin'], weights: W5}]);
  // A sparse 64 GiB file: reading it first would take minutes and all the memory.
  writeFileSync(join(dir, 'w.bin'), '');
  truncateSync(join(dir, 'w.bin'), 2 ** 36);
  const rss = process.memoryUsage().rss;
  await expectReject(fileSystem(file).load(),
      /the weights files \[w\.bin\] of '.*model\.json' hold 68719476736 bytes, but its weights manifest needs 20 \(the file does not belong to this model\.json\)/);
  assert.ok(process.memoryUsage().rss - rss < 2 ** 28, 'nothing large was read');
});

errors('a truncated, oversized or missing weights file is detected, with and without recorded checksums', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  const [name] = weightsFiles(dir);
  const bin = join(dir, name);
  const size = statSync(bin).size;
  const saved = readFileSync(bin);
  truncateSync(bin, size - 1);
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`),
      new RegExp(`the weights file '\\./${name.replace(/\./g, '\\.')}' of '.*model\\.json' holds ${size - 1} bytes, but ` +
          `weightsManifest\\[0\\]\\.paths\\[0\\] records ${size} \\(the file was changed, truncated or belongs to another save\\)`));
  // Without the recorded lengths and checksums (as tfjs-node writes it), the manifest's sizes decide.
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  delete json.weightsManifest[0].byteLengths;
  delete json.weightsManifest[0].crc32c;
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`),
      new RegExp(`weights files \\[\\./weights\\.\\d+-[0-9a-f]+\\.bin\\] of '.*model\\.json' hold ${size - 1} bytes, but its weights manifest needs ${size} \\(the file is truncated\\)`));
  writeFileSync(bin, Buffer.concat([saved, Buffer.alloc(8)]));
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`), /hold \d+ bytes, but .* needs \d+ \(the file does not belong to this model\.json\)/);
  rmSync(bin);
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`),
      /the weights file '.*weights\.\d+-[0-9a-f]+\.bin' listed in '.*model\.json' \(weightsManifest\[0\]\.paths\[0\]\) is missing/);
  model.dispose();
});

errors('weights of the right size from another save, or with a flipped bit, fail the recorded CRC-32C', async () => {
  const dir = tempDir(), other = tempDir();
  const a = smallModel(), b = smallModel();
  await a.save(`file://${dir}`);
  await b.save(`file://${other}`);
  const [name] = weightsFiles(dir);
  const bin = join(dir, name);
  const good = readFileSync(bin);
  writeFileSync(bin, readFileSync(join(other, weightsFiles(other)[0])));
  const crcError = new RegExp(`the weights file '\\./${name.replace(/\./g, '\\.')}' of '.*model\\.json' fails its CRC-32C ` +
      'check \\(weightsManifest\\[0\\]\\.paths\\[0\\]\\): it was changed or belongs to another save');
  const before = tf.memory().numTensors;
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`), crcError);
  const flipped = Buffer.from(good);
  flipped[flipped.length >> 1] ^= 0x10;
  writeFileSync(bin, flipped);
  await expectReject(tfl.loadLayersModel(`file://${dir}/model.json`), crcError);
  assert.is(tf.memory().numTensors, before, 'refused loads leak nothing');
  writeFileSync(bin, good);
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(a, loaded);
  tf.dispose([a, b, loaded].flatMap(m => m.getWeights()));
});

errors('saving onto a file, under a file, to an empty file:// path, or a binary topology is refused clearly', async () => {
  const dir = tempDir();
  const file = join(dir, 'model.json');
  writeFileSync(file, 'x');
  const model = smallModel();
  await expectReject(model.save(`file://${file}`), /fileSystem\.save: '.*model\.json' is a file, but models are saved into a directory/);
  await expectReject(model.save(`file://${join(file, 'a', 'b')}`),
      new RegExp(`fileSystem\\.save: cannot create the directory '${file}/a/b': '${file}' is a file, not a directory`));
  await expectReject(model.save('file://'), /fileSystem: 'file:\/\/' has no path: pass file:\/\/<directory> to save a model/);
  await expectReject(fileSystem(dir).save({modelTopology: new ArrayBuffer(4)}), /binary model topology cannot be saved/);
  assert.equal(readdirSync(dir), ['model.json']);
  model.dispose();
});

errors('a failing write removes its own files and keeps the previous model intact', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  const before = readFileSync(join(dir, 'model.json'), 'utf8');
  const [bin] = weightsFiles(dir);
  // A directory named model.json makes the final rename fail after both new files were written.
  rmSync(join(dir, 'model.json'));
  mkdirSync(join(dir, 'model.json'));
  writeFileSync(join(dir, 'model.json', 'keep'), 'x');
  await expectReject(model.save(`file://${dir}`), /fileSystem\.save: could not save the model to '.*': /);
  assert.equal(readdirSync(dir).sort(), ['model.json', bin], 'the new files are removed, the old weights kept');
  rmSync(join(dir, 'model.json'), {recursive: true});
  writeFileSync(join(dir, 'model.json'), before);
  const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
  await predictionsEqual(model, loaded);
  model.dispose();
  loaded.dispose();
});

errors('the next save removes what crashed saves left, but not the files of saves still running', async () => {
  const dir = tempDir();
  const model = smallModel();
  await model.save(`file://${dir}`);
  // A process that has exited, and one that runs (this test's parent).
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const alive = process.ppid;
  const left = [`weights.${dead}-0123abcd.bin`, `model.json.${dead}-0123abcd.tmp`, `weights.bin.${dead}.lz3k9x.tmp`,
    `model.json.${dead}.lz3k9x.tmp`];
  const running = [`weights.${alive}-89abcdef.bin`, `model.json.${alive}-89abcdef.tmp`];
  for (const name of [...left, ...running, 'weights.other.bin']) writeFileSync(join(dir, name), 'x');
  await model.save(`file://${dir}`);
  assert.equal(readdirSync(dir).sort(), ['model.json', weightsFiles(dir)[0], ...running, 'weights.other.bin'].sort());
  model.dispose();
});

errors('bad paths are rejected', () => {
  assert.throws(() => fileSystem(''), /fileSystem: path must be a non-empty string, but got ''/);
  assert.throws(() => fileSystem(undefined as never), /path must be a non-empty string, but got undefined/);
  assert.throws(() => fileSystem('file://'), /fileSystem: 'file:\/\/' has no path/);
});

errors.run();

// ---

const importSafety = suite('import safety');

importSafety('src/io/ and src/tensorboard/ import node: modules only lazily (browser bundles can include them)', () => {
  const io = readdirSync(new URL('../src/io/', import.meta.url)).map(f => `../src/io/${f}`);
  const tensorboard = readdirSync(new URL('../src/tensorboard/', import.meta.url)).map(f => `../src/tensorboard/${f}`);
  for (const file of [...io, ...tensorboard]) {
    const source = readFileSync(new URL(file, import.meta.url), 'utf8');
    const staticImports = source.split('\n').filter(line => /^\s*import\s[^(]*from\s+['"]node:/.test(line));
    assert.equal(staticImports, [], file);
  }
  for (const file of ['../src/io/node_fs.ts', '../src/tensorboard/event_file.ts', '../src/tensorboard/summary_writer.ts']) {
    assert.match(readFileSync(new URL(file, import.meta.url), 'utf8'), /import\('node:fs\/promises'\)/, file);
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
