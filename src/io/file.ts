/**
 * A `file://` IOHandler for Node.js, which tfjs provides only through tfjs-node (not usable here): saves
 * a model as `model.json` + `weights.bin` in a directory and loads it back from the `model.json` path.
 *
 * Importing this module registers save and load routers for `file://` URLs in Node.js, so
 * `model.save('file:///tmp/model')` and `tf.loadLayersModel('file:///tmp/model/model.json')` work. It
 * imports `node:fs` only when a model is saved or loaded, and registers nothing outside Node.js, so a
 * browser bundle can include it.
 */
import {findBackendFactory, io} from '@tensorflow/tfjs-core';
import {kerasCompatibleTopology} from '../wrapper';

/** The file names a save writes inside its directory (those of tfjs-node). */
export const MODEL_JSON_FILE = 'model.json';
export const WEIGHTS_BIN_FILE = 'weights.bin';

const FILE_SCHEME = 'file://';

// Bytes per element of each weight dtype, and of each quantized storage dtype (tfjs-core io/types.ts).
const DTYPE_BYTES: Record<string, number> =
    {float32: 4, int32: 4, bool: 1, complex64: 8, float16: 2, uint16: 2, uint8: 1};

async function nodeModules() {
  try {
    const [fs, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
    return {fs, path};
  } catch (e) {
    throw new Error(`The file:// model handler needs Node.js (node:fs could not be loaded: ${(e as Error).message})`);
  }
}

function errorCode(e: unknown): string | undefined {
  return (e as {code?: string}).code;
}

/**
 * Saves and loads a tfjs layers model on the local file system, as tfjs-node's `file://` handler does.
 * Saving writes `model.json` and `weights.bin` into `path` (a directory, created if missing); loading
 * reads `path` (the `model.json` file) and the weight files its manifest lists, beside it.
 */
export class NodeFileSystem implements io.IOHandler {
  readonly path: string;

  /** @throws Error if `path` is not a non-empty string. */
  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new Error(`fileSystem: path must be a non-empty string, but got ${
        typeof path === 'string' ? "''" : String(path)}`);
    }
    this.path = path.startsWith(FILE_SCHEME) ? path.slice(FILE_SCHEME.length) : path;
  }

  /**
   * Writes `model.json` and `weights.bin` crash-safely: each is written to a temporary file in the same
   * directory and synced, then renamed over the final name, weights first and `model.json` last. A crash
   * at any point leaves either the previous model.json or the new one, never one whose weights are
   * partly written; temporary files are removed if the save fails.
   * @throws Error if `path` exists and is not a directory, or the topology is binary.
   */
  async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('fileSystem.save: a binary model topology cannot be saved; it supports JSON topologies ' +
          '(tfjs layers models)');
    }
    const {fs, path} = await nodeModules();
    const dir = this.path;
    try {
      if (!(await fs.stat(dir)).isDirectory()) {
        throw new Error(`fileSystem.save: '${dir}' is a file, but models are saved into a directory ` +
            `(as ${MODEL_JSON_FILE} and ${WEIGHTS_BIN_FILE}); pass a directory path`);
      }
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
      await fs.mkdir(dir, {recursive: true});
    }

    const weightData = artifacts.weightData == null ? undefined : io.CompositeArrayBuffer.join(artifacts.weightData);
    const modelJSON: io.ModelJSON = {
      modelTopology: kerasCompatibleTopology(artifacts.modelTopology ?? {}),
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: artifacts.weightSpecs == null ? [] :
        [{paths: [`./${WEIGHTS_BIN_FILE}`], weights: artifacts.weightSpecs}],
    };
    for (const key of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature',
      'trainingConfig'] as const) {
      if (artifacts[key] != null) (modelJSON as unknown as Record<string, unknown>)[key] = artifacts[key];
    }

    const files: Array<[string, Uint8Array]> = [];
    if (artifacts.weightSpecs != null) files.push([WEIGHTS_BIN_FILE, new Uint8Array(weightData ?? new ArrayBuffer(0))]);
    files.push([MODEL_JSON_FILE, new TextEncoder().encode(JSON.stringify(modelJSON))]);

    const suffix = `.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
    const temps = files.map(([name]) => path.join(dir, name + suffix));
    try {
      for (let i = 0; i < files.length; i++) {
        const handle = await fs.open(temps[i], 'wx');
        try {
          await handle.writeFile(files[i][1]);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      for (let i = 0; i < files.length; i++) await fs.rename(temps[i], path.join(dir, files[i][0]));
    } catch (e) {
      await Promise.all(temps.map(t => fs.rm(t, {force: true})));
      throw new Error(`fileSystem.save: could not save the model to '${dir}': ${(e as Error).message}`);
    }
    await syncDirectory(fs, dir);
    return {modelArtifactsInfo: io.getModelArtifactsInfoForJSON({...artifacts, weightData})};
  }

  /**
   * Reads `model.json` and its weight files.
   * @throws Error if the file is missing or is a directory, is not JSON, has neither topology nor
   *     weights manifest, or a weight file is missing or holds fewer or more bytes than its manifest says.
   */
  async load(): Promise<io.ModelArtifacts> {
    const {fs, path} = await nodeModules();
    const file = this.path;
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if (errorCode(e) === 'ENOENT') throw new Error(`fileSystem.load: no model file at '${file}'`);
      if (errorCode(e) === 'EISDIR') {
        throw new Error(`fileSystem.load: '${file}' is a directory; pass the path of its model file ` +
            `('${path.join(file, MODEL_JSON_FILE)}')`);
      }
      throw e;
    }
    let modelJSON: io.ModelJSON;
    try {
      modelJSON = JSON.parse(text);
    } catch (e) {
      throw new Error(`fileSystem.load: '${file}' is not valid JSON: ${(e as Error).message}`);
    }
    if (modelJSON == null || typeof modelJSON !== 'object' ||
        (modelJSON.modelTopology == null && modelJSON.weightsManifest == null)) {
      throw new Error(`fileSystem.load: '${file}' contains neither a model topology nor a weights manifest`);
    }
    const dir = path.dirname(file);
    return io.getModelArtifactsForJSON(modelJSON, async manifest => {
      const specs: io.WeightsManifestEntry[] = [];
      const groups: ArrayBuffer[] = [];
      for (const group of manifest) {
        const shards = await Promise.all(group.paths.map(p => readWeights(fs, path.join(dir, p), file)));
        const bytes = io.CompositeArrayBuffer.join(shards);
        checkGroupSize(group, bytes.byteLength, file);
        specs.push(...group.weights);
        groups.push(bytes);
      }
      return [specs, io.CompositeArrayBuffer.join(groups)];
    });
  }
}

/**
 * An IOHandler that saves a model into the directory `path` (`model.json` + `weights.bin`) and loads one
 * from the `model.json` file `path`; a leading `file://` is accepted. The `file://` routers use it.
 * ```ts
 * await model.save(fileSystem('/tmp/model'));
 * const loaded = await tf.loadLayersModel(fileSystem('/tmp/model/model.json'));
 * ```
 */
export function fileSystem(path: string): NodeFileSystem {
  return new NodeFileSystem(path);
}

async function readWeights(fs: typeof import('node:fs/promises'), file: string, modelFile: string):
    Promise<ArrayBuffer> {
  try {
    const bytes = await fs.readFile(file);  // a Buffer, possibly a view of a larger pool
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (e) {
    if (errorCode(e) === 'ENOENT') {
      throw new Error(`fileSystem.load: the weights file '${file}' listed in '${modelFile}' is missing`);
    }
    throw e;
  }
}

/** Checks that a weight group's files hold exactly the bytes its specs describe (when computable). */
function checkGroupSize(group: io.WeightsManifestConfig[number], actual: number, modelFile: string): void {
  let expected = 0;
  for (const w of group.weights) {
    const dtype = w.quantization?.dtype ?? w.dtype;
    if (!(dtype in DTYPE_BYTES)) return;  // strings have variable length
    expected += w.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  }
  if (actual !== expected) {
    throw new Error(`fileSystem.load: the weights files [${group.paths.join(', ')}] of '${modelFile}' hold ` +
        `${actual} bytes, but its weights manifest needs ${expected}` +
        (actual < expected ? ' (the file is truncated)' : ' (the file does not belong to this model.json)'));
  }
}

/** Makes the renames durable; some platforms cannot open a directory, where this is skipped. */
async function syncDirectory(fs: typeof import('node:fs/promises'), dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Not supported here (e.g. Windows); the files themselves were synced.
  } finally {
    await handle?.close();
  }
}

/**
 * The `file://` router. It steps aside when tfjs-node is loaded (its backend is registered), since
 * tfjs-node registers its own `file://` handler and tfjs refuses a URL with two handlers.
 */
function fileRouter(url: string | string[]): io.IOHandler {
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
