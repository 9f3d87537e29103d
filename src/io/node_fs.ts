/**
 * What the `file://` handler's save and load halves share: Node's modules, imported only when a
 * model is saved or loaded (so a browser bundle can include the handler), their error codes, and the
 * model file's name.
 */

/** The model file a save writes inside its directory (that of tfjs-node). */
export const MODEL_JSON_FILE = 'model.json';

export type Fs = typeof import('node:fs/promises');
export type Path = typeof import('node:path');

/** Node's `fs/promises`, `path` and `crypto`, loaded on first use. */
export async function nodeModules() {
  try {
    const [fs, path, crypto] = await Promise.all([import('node:fs/promises'), import('node:path'), import('node:crypto')]);
    return {fs, path, crypto};
  } catch (e) {
    throw new Error(`The file:// model handler needs Node.js (node:fs could not be loaded: ${(e as Error).message})`);
  }
}

/** The `code` of a Node error (`'ENOENT'`, ...), if any. */
export function errorCode(e: unknown): string|undefined {
  return (e as {code?: string}).code;
}
