import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {ConstantSparsity, fileSystem, pruneLowMagnitude, toSparse} from '../src/index';
import {checkLayerConfigs} from '../src/model/check_configs';
import {blockSparseWeight, useBackend} from './helpers';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'models');

type Json = any;

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-configs-'));
  tempDirs.push(dir);
  return dir;
}

/** Sequential: Dense 'a' -> Dense 'b' -> pruned Dense 'c' (the last layer a PruneLowMagnitude). */
function prunedSequential(): tfl.LayersModel {
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [8], units: 8, name: 'a'}),
    tfl.layers.dense({units: 8, name: 'b'}), tfl.layers.dense({units: 4, name: 'c'})]});
  return pruneLowMagnitude(model, {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})}) as tfl.LayersModel;
}

/** Saves `model` to a new folder and returns its model.json path and parsed JSON. */
async function savedTo(model: tfl.LayersModel): Promise<{file: string; json: Json}> {
  const dir = tempDir();
  await model.save(`file://${dir}`);
  const file = join(dir, 'model.json');
  return {file, json: JSON.parse(readFileSync(file, 'utf8'))};
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  return 'loaded';
}

// ---

const check = suite('checkLayerConfigs');

check.after(() => { for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true}); });

check('checkLayerConfigs(topology) accepts every model we save or load, and allocates nothing', async () => {
  await useBackend('wasm');
  const input = tfl.input({shape: [6]});
  const inner = tfl.sequential({layers: [tfl.layers.dense({inputShape: [6], units: 5, name: 'in1'})]});
  const out = tfl.layers.dense({units: 3, activation: 'softmax', name: 'out'}).apply(inner.apply(input) as tfl.SymbolicTensor);
  const nested = tfl.model({inputs: input, outputs: out as tfl.SymbolicTensor});
  const cnn = tfl.sequential({layers: [tfl.layers.conv2d({inputShape: [8, 8, 2], filters: 16, kernelSize: 3, padding: 'same',
    dataFormat: 'channelsLast', name: 'conv'}), tfl.layers.flatten(), tfl.layers.dense({units: 2, name: 'd'})]});
  const kernel = tf.tensor4d(blockSparseWeight(18, 16, [1, 4], 0.8, 3), [3, 3, 2, 16]);
  cnn.layers[0].setWeights([kernel, cnn.layers[0].getWeights()[1]]);
  kernel.dispose();
  const {model: sparse} = await toSparse(cnn, {dtype: 'int8', minSparsity: 0.5});
  const models = [prunedSequential(), nested, cnn, sparse];
  const topologies: unknown[] = [];
  for (const model of models) topologies.push((await savedTo(model)).json.modelTopology);
  for (const name of ['sequential_trained', 'sequential_fresh_block']) {
    topologies.push(JSON.parse(readFileSync(join(FIXTURES, name, 'model.json'), 'utf8')).modelTopology);
  }
  const before = tf.memory().numTensors;
  for (const topology of topologies) checkLayerConfigs(topology);
  checkLayerConfigs({model_config: topologies[0]});
  checkLayerConfigs({node: [], versions: {}});  // a graph model: not checked
  assert.is(tf.memory().numTensors, before);
  // And they load through the file handler, which runs the check.
  for (const name of ['sequential_trained', 'sequential_fresh_block']) {
    const dir = tempDir();
    cpSync(join(FIXTURES, name), dir, {recursive: true});
    (await tfl.loadLayersModel(fileSystem(join(dir, 'model.json')))).dispose();
  }
  tf.dispose(models.flatMap(m => m.getWeights()));
});

check('checkLayerConfigs throws the error of the first bad layer config, inside nested models too', () => {
  const bad = {class_name: 'Sequential', config: {name: 's', layers: [
    {class_name: 'Dense', config: {name: 'ok', units: 3, batch_input_shape: [null, 2]}},
    {class_name: 'Sequential', config: {name: 'inner', layers: [{class_name: 'SparseDense', config: {name: 'sd', units: 0}}]}},
  ]}};
  assert.throws(() => checkLayerConfigs(bad), /SparseDense 'sd': invalid config: unknown field|SparseDense 'sd': invalid config/);
  assert.throws(() => checkLayerConfigs({class_name: 'Model', config: {layers: [{class_name: 'Nope', config: {}}]}}),
      /Unknown layer: Nope/);
});

check.run();

// ---

const leaks = suite('failed loads leak nothing');

leaks.after(() => { for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true}); });

leaks('a bad config in the last layer of a Sequential model: file:// refuses it before building, leaking nothing', async () => {
  await useBackend('wasm');
  const model = prunedSequential();
  const {file, json} = await savedTo(model);
  const artifacts = await fileSystem(file).load();
  model.dispose();
  const layers = json.modelTopology.config.layers as Json[];
  layers[layers.length - 1].config.block_size = 'x';
  writeFileSync(file, JSON.stringify(json));
  const message = /blockSize must be a pair of positive integers \[height, width\], but got 'x'/;
  let before = tf.memory().numTensors;
  assert.match(await rejection(tfl.loadLayersModel(`file://${file}`)), message);
  assert.is(tf.memory().numTensors, before, 'file:// load leaked');
  // The same artifacts from memory: tfjs-layers' Sequential.fromConfig has built the pruned layers 'a'
  // and 'b' (kernel, bias, mask, threshold, step each) when it meets the bad config, and drops them.
  (artifacts.modelTopology as Json).config.layers[2].config.block_size = 'x';
  before = tf.memory().numTensors;
  assert.match(await rejection(tfl.loadLayersModel(tf.io.fromMemory(artifacts))), message);
  assert.is(tf.memory().numTensors - before, 10, 'tf.io.fromMemory: tensors tfjs-layers leaves behind');
});

leaks('a pruned layer that cannot be pruned M:N frees the weights its build made', async () => {
  await useBackend('wasm');
  const conv = tfl.layers.conv1d({filters: 4, kernelSize: 3, name: 'c1'});
  const wrapper = pruneLowMagnitude(conv, {sparsityMByN: [2, 4]}) as unknown as tfl.layers.Layer;
  const before = tf.memory().numTensors;
  assert.throws(() => wrapper.apply(tfl.input({shape: [10, 8]})),
      /weight tensor with shape: \[3,8,4\] is not supported\. sparsityMByN needs rank-2 or rank-4 weights \(layer c1, weight c1\/kernel\)/);
  assert.is(tf.memory().numTensors, before, 'leaked tensors');
});

leaks.run();
