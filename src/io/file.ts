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
import {checkLayerConfigs} from '../model/check_configs';
import {crc32c} from '../util/crc32c';
import {kerasCompatibleTopology} from '../pruning/wrapper';
import {checkManifest, CheckedGroup, ChecksummedGroup} from './manifest';

/** The model file a save writes inside its directory (that of tfjs-node). */
export const MODEL_JSON_FILE = 'model.json';

const FILE_SCHEME = 'file://';

/** The largest model.json read (topologies take kilobytes; V8 strings stop near 512 MiB). */
const MAX_MODEL_JSON_BYTES = 2 ** 28;

/**
 * How often a load re-reads model.json when the weights it names vanished or changed under it: each
 * retry needs a save that completed meanwhile, so a few are plenty.
 */
const LOAD_ATTEMPTS = 8;

/** The files of a save in progress, and of crashed saves: `<kind>.<pid>-<8 hex>.<ext>`. */
const SAVE_FILE = /^(?:weights\.(\d+)-[0-9a-f]{8}\.bin|model\.json\.(\d+)-[0-9a-f]{8}\.tmp)$/;
/** Temporary files of saves by earlier versions of this handler (`<name>.<pid>.<stamp>.tmp`). */
const OLD_TEMP_FILE = /^(?:model\.json|weights\.bin)\.(\d+)\.[0-9a-z]+\.tmp$/;

/** Files that saves in this process are writing (absolute paths): never cleaned away. */
const inFlight = new Set<string>();

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

async function nodeModules() {
  try {
    const [fs, path, crypto] = await Promise.all([import('node:fs/promises'), import('node:path'), import('node:crypto')]);
    return {fs, path, crypto};
  } catch (e) {
    throw new Error(`The file:// model handler needs Node.js (node:fs could not be loaded: ${(e as Error).message})`);
  }
}

function errorCode(e: unknown): string|undefined {
  return (e as {code?: string}).code;
}

/** A weights file that does not match the model.json read just before: a save may have replaced both. */
class StaleWeightsError extends Error {}

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
      modelTopology: kerasCompatibleTopology(artifacts.modelTopology ?? {}),
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

// --- saving ----------------------------------------------------------------------------------------

/** Makes `dir` a directory, with errors that name the part of the path that is in the way. */
async function ensureDirectory(fs: Fs, path: Path, dir: string): Promise<void> {
  const blocker = async (): Promise<string> => {
    for (let p = path.resolve(dir); ; p = path.dirname(p)) {
      const info = await fs.stat(p).catch(() => undefined);
      if (info && !info.isDirectory()) return p;
      if (path.dirname(p) === p) return dir;
    }
  };
  let info;
  try {
    info = await fs.stat(dir);
  } catch (e) {
    if (errorCode(e) !== 'ENOENT' && errorCode(e) !== 'ENOTDIR') throw e;
  }
  if (info && !info.isDirectory()) {
    throw new Error(`fileSystem.save: '${dir}' is a file, but models are saved into a directory ` +
        `(as ${MODEL_JSON_FILE} and a weights file); pass a directory path`);
  }
  if (info) return;
  try {
    await fs.mkdir(dir, {recursive: true});
  } catch (e) {
    if (errorCode(e) === 'ENOTDIR' || errorCode(e) === 'EEXIST') {
      throw new Error(`fileSystem.save: cannot create the directory '${dir}': '${await blocker()}' is a file, ` +
          'not a directory');
    }
    throw new Error(`fileSystem.save: cannot create the directory '${dir}': ${(e as Error).message}`);
  }
}

async function writeSynced(fs: Fs, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the rename durable; some platforms cannot open a directory, where this is skipped. */
async function syncDirectory(fs: Fs, dir: string): Promise<void> {
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

/** The plain file names (no folders) that `dir`'s current model.json lists as weights; [] if none can be read. */
async function referencedFiles(fs: Fs, path: Path, dir: string): Promise<string[]> {
  try {
    const json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON_FILE), 'utf8'));
    const names: string[] = [];
    for (const group of json.weightsManifest) {
      for (const p of group.paths) {
        const name = typeof p === 'string' ? path.normalize(p) : '';
        if (name !== '' && name === path.basename(name) && name !== MODEL_JSON_FILE) names.push(name);
      }
    }
    return names;
  } catch {
    return [];
  }
}

/** Whether process `pid` of this machine is running. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM';  // it exists, under another user
  }
}

/**
 * Removes the previous save's weights (`previous`, unless `kept`) and the files of crashed saves: files
 * named like a save's own whose writer is no longer running and which model.json does not name. A save
 * in progress in another running process, or in this one, is left alone.
 */
async function removeUnreferenced(fs: Fs, path: Path, dir: string, previous: string[], kept: string[]): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const stale = names.filter(name => {
    if (kept.includes(name)) return false;
    if (previous.includes(name)) return true;
    const m = SAVE_FILE.exec(name) ?? OLD_TEMP_FILE.exec(name);
    if (!m) return false;
    const pid = Number(m[1] ?? m[2]);
    return pid === process.pid ? !inFlight.has(path.join(dir, name)) : !isRunning(pid);
  });
  // Best effort: a file that cannot be removed now is removed by a later save.
  await Promise.all(stale.map(name => fs.rm(path.join(dir, name), {force: true}).catch(() => undefined)));
}

// --- loading ---------------------------------------------------------------------------------------

/** Flags that never block: opening a FIFO for reading would wait for a writer forever. */
async function readOnlyFlags(noFollow: boolean): Promise<number> {
  const {constants} = await import('node:fs');
  return constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (noFollow ? constants.O_NOFOLLOW ?? 0 : 0);
}

/** What a file is, for messages about files that are not regular. */
function kindOf(info: import('node:fs').Stats): string {
  return info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO' : info.isCharacterDevice() ? 'a character device' :
      info.isBlockDevice() ? 'a block device' : info.isSocket() ? 'a socket' : 'not a regular file';
}

/**
 * Opens `file` read-only without blocking (and, with `noFollow`, refusing a symlink in its last
 * component); `notRegular(kind)` is thrown unless it is a regular file.
 */
async function openRegularFile(fs: Fs, file: string, notRegular: (kind: string) => Error, noFollow = false):
    Promise<{handle: import('node:fs/promises').FileHandle; size: number}> {
  const handle = await fs.open(file, await readOnlyFlags(noFollow));
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(kindOf(info));
    return {handle, size: info.size};
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Fills `into` from the start of an open file; `shrank` is thrown if the file ends first. */
async function readExactly(handle: import('node:fs/promises').FileHandle, into: Uint8Array, shrank: () => Error): Promise<void> {
  for (let at = 0; at < into.length;) {
    const {bytesRead} = await handle.read(into, at, into.length - at, at);
    if (bytesRead === 0) throw shrank();
    at += bytesRead;
  }
}

async function readModelFile(fs: Fs, path: Path, file: string): Promise<string> {
  const isDirectory = () => new Error(`fileSystem.load: '${file}' is a directory; pass the path of its model file ` +
      `('${path.join(file, MODEL_JSON_FILE)}')`);
  let opened;
  try {
    opened = await openRegularFile(fs, file, kind => kind === 'a directory' ? isDirectory() :
      new Error(`fileSystem.load: '${file}' is ${kind}, not a model file`));
  } catch (e) {
    if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') throw new Error(`fileSystem.load: no model file at '${file}'`);
    if (errorCode(e) === 'EISDIR') throw isDirectory();
    throw e;
  }
  const {handle, size} = opened;
  try {
    if (size > MAX_MODEL_JSON_BYTES) {
      throw new Error(`fileSystem.load: '${file}' holds ${size} bytes, more than a model.json may (${MAX_MODEL_JSON_BYTES})`);
    }
    const bytes = new Uint8Array(size);
    await readExactly(handle, bytes, () => new Error(`fileSystem.load: '${file}' shrank while it was read`));
    return new TextDecoder().decode(bytes);
  } finally {
    await handle.close();
  }
}

async function artifactsOf(fs: Fs, path: Path, file: string, text: string): Promise<io.ModelArtifacts> {
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
  // Before any weights file is read: a bad layer config is refused before tfjs-layers builds any layer.
  checkLayerConfigs(modelJSON.modelTopology);
  return io.getModelArtifactsForJSON(modelJSON, async manifest => {
    const groups = checkManifest(manifest, file);
    const dir = path.dirname(file);
    const realDir = await fs.realpath(dir);
    const buffers: ArrayBuffer[] = [];
    for (const [g, group] of groups.entries()) buffers.push(await readGroup(fs, path, file, dir, realDir, group, g));
    return [groups.flatMap(group => group.weights), io.CompositeArrayBuffer.join(buffers)];
  });
}

function missingWeights(path: Path, file: string, dir: string, p: string, field: string): StaleWeightsError {
  return new StaleWeightsError(`fileSystem.load: the weights file '${path.join(dir, p)}' listed in '${file}' ` +
      `(${field}) is missing`);
}

/**
 * The real path of weights path `p` (manifest field `field`), which must be relative, free of `..` and,
 * symlinks resolved, inside `realDir`.
 */
async function confinedPath(fs: Fs, path: Path, file: string, dir: string, realDir: string, p: string,
                            field: string): Promise<string> {
  const refuse = (why: string) => new Error(`fileSystem.load: ${field} of '${file}' is '${p}', ${why}; weights ` +
      'files must be inside the model\'s folder');
  if (path.isAbsolute(p) || /^[\\/]|^[a-zA-Z]:/.test(p)) throw refuse('an absolute path');
  if (p.split(/[\\/]/).includes('..') || p.includes('\0')) throw refuse('which leaves the folder (..)');
  let real: string;
  try {
    real = await fs.realpath(path.join(dir, p));
  } catch (e) {
    if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') throw missingWeights(path, file, dir, p, field);
    throw e;
  }
  if (!real.startsWith(realDir + path.sep)) throw refuse(`a link to '${real}', outside '${realDir}'`);
  return real;
}

/**
 * Reads group `g`'s files: each must be a regular file inside the folder whose size matches the manifest
 * (checked for all of them before any is read), and its recorded CRC-32C after.
 */
async function readGroup(fs: Fs, path: Path, file: string, dir: string, realDir: string, group: CheckedGroup,
                         g: number): Promise<ArrayBuffer> {
  const field = (i: number) => `weightsManifest[${g}].paths[${i}]`;
  const opened: Array<{handle: import('node:fs/promises').FileHandle; size: number}> = [];
  try {
    for (const [i, p] of group.paths.entries()) {
      const real = await confinedPath(fs, path, file, dir, realDir, p, field(i));
      // `real` has no symlink left: one that appears now is refused (ELOOP), and a file removed since
      // (a concurrent save cleaning up) is missing, which makes load() read model.json again.
      opened.push(await openRegularFile(fs, real, kind => new Error(`fileSystem.load: ${field(i)} of '${file}' ` +
          `names '${p}', which is ${kind}, not a weights file`), true).catch((e: unknown) => {
        throw errorCode(e) === 'ENOENT' ? missingWeights(path, file, dir, p, field(i)) : e;
      }));
    }
    for (const [i, {size}] of opened.entries()) {
      if (group.byteLengths && size !== group.byteLengths[i]) {
        throw new StaleWeightsError(`fileSystem.load: the weights file '${group.paths[i]}' of '${file}' holds ` +
            `${size} bytes, but ${field(i)} records ${group.byteLengths[i]} (the file was changed, truncated or ` +
            'belongs to another save)');
      }
    }
    const total = opened.reduce((sum, f) => sum + f.size, 0);
    if (group.bytes !== null && total !== group.bytes) {
      throw new StaleWeightsError(`fileSystem.load: the weights files [${group.paths.join(', ')}] of '${file}' hold ` +
          `${total} bytes, but its weights manifest needs ${group.bytes}` +
          (total < group.bytes ? ' (the file is truncated)' : ' (the file does not belong to this model.json)'));
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const [i, {handle, size}] of opened.entries()) {
      const part = out.subarray(offset, offset + size);
      await readExactly(handle, part, () =>
        new StaleWeightsError(`fileSystem.load: '${group.paths[i]}' of '${file}' shrank while it was read`));
      if (group.crc32c && crc32c(part) !== group.crc32c[i]) {
        throw new StaleWeightsError(`fileSystem.load: the weights file '${group.paths[i]}' of '${file}' fails its ` +
            `CRC-32C check (${field(i)}): it was changed or belongs to another save`);
      }
      offset += size;
    }
    return out.buffer;
  } finally {
    await Promise.all(opened.map(f => f.handle.close()));
  }
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
