/**
 * The file system steps of a `file://` save (`io/file.ts`): the directory made, each file written
 * and synced, the directory synced after the rename, and the files of earlier and crashed saves
 * removed.
 */
import {errorCode, Fs, MODEL_JSON_FILE, Path} from './node_fs';

/** The files of a save in progress, and of crashed saves: `<kind>.<pid>-<8 hex>.<ext>`. */
const SAVE_FILE = /^(?:weights\.(\d+)-[0-9a-f]{8}\.bin|model\.json\.(\d+)-[0-9a-f]{8}\.tmp)$/;
/** Temporary files of saves by earlier versions of this handler (`<name>.<pid>.<stamp>.tmp`). */
const OLD_TEMP_FILE = /^(?:model\.json|weights\.bin)\.(\d+)\.[0-9a-z]+\.tmp$/;

/** Files that saves in this process are writing (absolute paths): never cleaned away. */
export const inFlight = new Set<string>();

/** Makes `dir` a directory, with errors that name the part of the path that is in the way. */
export async function ensureDirectory(fs: Fs, path: Path, dir: string): Promise<void> {
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

/** Writes a new file (never over an existing one) and syncs it to disk. */
export async function writeSynced(fs: Fs, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the rename durable; some platforms cannot open a directory, where this is skipped. */
export async function syncDirectory(fs: Fs, dir: string): Promise<void> {
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
export async function referencedFiles(fs: Fs, path: Path, dir: string): Promise<string[]> {
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
export async function removeUnreferenced(fs: Fs, path: Path, dir: string, previous: string[], kept: string[]): Promise<void> {
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
