/**
 * The file system steps of a `file://` load (`io/file.ts`), trusting nothing in model.json: regular
 * files only, opened without blocking, weights paths confined to the model's folder, sizes compared
 * with the manifest before anything is read, recorded checksums checked after.
 */
import {io} from '@tensorflow/tfjs-core';
import {checkLayerConfigs} from '../model/check_configs';
import {crc32c} from '../util/crc32c';
import {fileKind} from '../util/file_kind';
import {checkManifest, CheckedGroup} from './manifest';
import {errorCode, Fs, MODEL_JSON_FILE, Path} from './node_fs';

/** The largest model.json read (topologies take kilobytes; V8 strings stop near 512 MiB). */
const MAX_MODEL_JSON_BYTES = 2 ** 28;

/** A weights file that does not match the model.json read just before: a save may have replaced both. */
export class StaleWeightsError extends Error {}

/** Flags that never block: opening a FIFO for reading would wait for a writer forever. */
async function readOnlyFlags(noFollow: boolean): Promise<number> {
  const {constants} = await import('node:fs');
  return constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (noFollow ? constants.O_NOFOLLOW ?? 0 : 0);
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
    if (!info.isFile()) throw notRegular(fileKind(info));
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

/** The text of model file `file`, read with the checks of `openRegularFile` and a size limit. */
export async function readModelFile(fs: Fs, path: Path, file: string): Promise<string> {
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

/**
 * The artifacts of the model file `file` (its text `text`): the layer configs and the weights manifest
 * checked, then the weights read (`readGroup`).
 */
export async function artifactsOf(fs: Fs, path: Path, file: string, text: string): Promise<io.ModelArtifacts> {
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
