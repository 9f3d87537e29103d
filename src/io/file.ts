/**
 * A `file://` IOHandler for Node.js, which tfjs provides only through tfjs-node (not usable here): saves
 * a model as `model.json` plus one weights file in a directory and loads it back from the `model.json`
 * path.
 *
 * Saves are atomic by construction: each save writes its weights under a new name
 * (`weights.<pid>-<random>.bin`), then replaces model.json, which names that file and records its byte
 * length and CRC-32C, by one rename; only then are the previous weights removed. A crash leaves the
 * previous model.json with its own weights, or the new one with its own; a reader sees one or the other.
 *
 * Loads trust nothing in model.json: every layer config is constructed (not built) first, so a bad one
 * is refused before tfjs-layers allocates any layer's weights; the manifest is checked field by field,
 * weight paths must stay inside the model's folder (no `..`, no absolute paths, no symlinks out of it),
 * only regular files are opened, each file's size is compared with the manifest before it is read, and
 * recorded checksums must match. So a failed load leaks no tensor.
 *
 * Importing this module registers save and load routers for `file://` URLs in Node.js, so
 * `model.save('file:///tmp/model')` and `tf.loadLayersModel('file:///tmp/model/model.json')` work. It
 * imports `node:fs` only when a model is saved or loaded, and registers nothing outside Node.js, so a
 * browser bundle can include it.
 */
import {findBackendFactory, io} from '@tensorflow/tfjs-core';
import {crc32c} from '../util/crc32c';
import {artifactsOf, readModelFile, StaleWeightsError} from './load_files';
import {ChecksummedGroup} from './manifest';
import {MODEL_JSON_FILE, nodeModules} from './node_fs';
import {ensureDirectory, inFlight, referencedFiles, removeUnreferenced, syncDirectory, writeSynced} from './save_files';

const FILE_SCHEME = 'file://';

/**
 * How often a load re-reads model.json when the weights it names vanished or changed under it: each
 * retry needs a save that completed meanwhile, so a few are plenty.
 */
const LOAD_ATTEMPTS = 8;

/** A rewrite of a saved model's topology; see `registerSaveHook`. */
export type SaveHook = (modelTopology: {}) => {};

const saveHooks: SaveHook[] = [];

/**
 * Registers a rewrite that every save through `fileSystem` applies to the model topology, in
 * registration order. The handler knows nothing of what it saves; a module whose layers need their
 * saved configs adjusted registers its rewrite here (pruning makes its wrappers' configs loadable by
 * Keras under tfmot's `prune_scope`).
 */
export function registerSaveHook(hook: SaveHook): void {
  if (!saveHooks.includes(hook)) saveHooks.push(hook);
}

/**
 * Saves and loads a tfjs layers model on the local file system, as tfjs-node's `file://` handler does.
 * Saving writes `model.json` and a weights file into `path` (a directory, created if missing); loading
 * reads `path` (the `model.json` file) and the weight files its manifest lists, beside it.
 */
export class NodeFileSystem implements io.IOHandler {
  readonly path: string;

  /** @throws Error if `path` is not a non-empty string, or is `file://` with no path. */
  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new Error(`fileSystem: path must be a non-empty string, but got ${
        typeof path === 'string' ? "''" : String(path)}`);
    }
    this.path = path.startsWith(FILE_SCHEME) ? path.slice(FILE_SCHEME.length) : path;
    if (this.path.length === 0) {
      throw new Error(`fileSystem: '${path}' has no path: pass file://<directory> to save a model, ` +
          `file://<directory>/${MODEL_JSON_FILE} to load one`);
    }
  }

  /**
   * Writes the weights under a new name, then `model.json` (which names them, with their byte length and
   * CRC-32C) by an atomic rename, then removes the previous weights and what crashed saves left behind.
   * Both files are synced before the rename, and the directory after it.
   * @throws Error if `path` or one of its parents is a file, the topology is binary, or a write fails
   *     (the previous model then stays as it was).
   */
  async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('fileSystem.save: a binary model topology cannot be saved; it supports JSON topologies ' +
          '(tfjs layers models)');
    }
    const {fs, path, crypto} = await nodeModules();
    const dir = this.path;
    await ensureDirectory(fs, path, dir);

    const weightData = artifacts.weightData == null ? undefined : io.CompositeArrayBuffer.join(artifacts.weightData);
    const weights = new Uint8Array(weightData ?? new ArrayBuffer(0));
    const token = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    const weightsName = artifacts.weightSpecs == null ? null : `weights.${token}.bin`;
    const group: ChecksummedGroup|null = weightsName == null ? null : {paths: [`./${weightsName}`],
      weights: artifacts.weightSpecs!, byteLengths: [weights.byteLength], crc32c: [crc32c(weights)]};
    const modelJSON: io.ModelJSON = {
      modelTopology: saveHooks.reduce((topology, hook) => hook(topology), artifacts.modelTopology ?? {}),
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: group == null ? [] : [group],
    };
    for (const key of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature',
      'trainingConfig'] as const) {
      if (artifacts[key] != null) (modelJSON as unknown as Record<string, unknown>)[key] = artifacts[key];
    }

    const previous = await referencedFiles(fs, path, dir);
    const tempJson = path.join(dir, `${MODEL_JSON_FILE}.${token}.tmp`);
    const mine = weightsName == null ? [tempJson] : [path.join(dir, weightsName), tempJson];
    mine.forEach(f => inFlight.add(f));
    try {
      if (weightsName != null) await writeSynced(fs, path.join(dir, weightsName), weights);
      await writeSynced(fs, tempJson, new TextEncoder().encode(JSON.stringify(modelJSON)));
      await fs.rename(tempJson, path.join(dir, MODEL_JSON_FILE));
    } catch (e) {
      await Promise.all(mine.map(f => fs.rm(f, {force: true})));
      throw new Error(`fileSystem.save: could not save the model to '${dir}': ${(e as Error).message}`);
    } finally {
      mine.forEach(f => inFlight.delete(f));
    }
    await syncDirectory(fs, dir);
    await removeUnreferenced(fs, path, dir, previous, weightsName == null ? [] : [weightsName]);
    return {modelArtifactsInfo: io.getModelArtifactsInfoForJSON({...artifacts, weightData})};
  }

  /**
   * Reads `model.json` and its weight files. When a weights file is missing or does not match what
   * model.json records, and model.json changed meanwhile (a save replaced both), it reads again.
   * @throws Error naming the model file (and the weights path or manifest field) if the file is missing,
   *     is not a regular file, is not JSON, has neither topology nor weights manifest, has a malformed
   *     manifest, names a weights path outside its folder or one that is not a regular file, or a weights
   *     file is missing, has another size than the manifest says, or fails its recorded CRC-32C.
   */
  async load(): Promise<io.ModelArtifacts> {
    const {fs, path} = await nodeModules();
    const file = this.path;
    let text = await readModelFile(fs, path, file);
    for (let attempt = 1; ; attempt++) {
      try {
        return await artifactsOf(fs, path, file, text);
      } catch (e) {
        if (!(e instanceof StaleWeightsError)) throw e;
        const again = await readModelFile(fs, path, file);
        if (again === text || attempt === LOAD_ATTEMPTS) throw new Error(e.message);
        text = again;
      }
    }
  }
}

/**
 * An IOHandler that saves a model into the directory `path` (`model.json` + a weights file) and loads
 * one from the `model.json` file `path`; a leading `file://` is accepted. The `file://` routers use it.
 * ```ts
 * await model.save(fileSystem('/tmp/model'));
 * const loaded = await tf.loadLayersModel(fileSystem('/tmp/model/model.json'));
 * ```
 */
export function fileSystem(path: string): NodeFileSystem {
  return new NodeFileSystem(path);
}

// --- routers ---------------------------------------------------------------------------------------

/**
 * The `file://` router. It steps aside when tfjs-node is loaded (its backend is registered), since
 * tfjs-node registers its own `file://` handler and tfjs refuses a URL with two handlers.
 */
function fileRouter(url: string|string[]): io.IOHandler {
  if (typeof url !== 'string' || !url.startsWith(FILE_SCHEME) || findBackendFactory('tensorflow') != null) {
    return null as unknown as io.IOHandler;  // tfjs routers return null for URLs they do not handle
  }
  return fileSystem(url);
}

// Register once per process, even if this module is loaded twice (the ESM and CJS builds of the package).
const REGISTERED = Symbol.for('tfjs-sparsity.fileRouter');
const isNode = typeof process !== 'undefined' && process.versions?.node != null;
if (isNode && !(globalThis as Record<symbol, unknown>)[REGISTERED]) {
  (globalThis as Record<symbol, unknown>)[REGISTERED] = true;
  io.registerSaveRouter(fileRouter);
  io.registerLoadRouter(fileRouter);
}
