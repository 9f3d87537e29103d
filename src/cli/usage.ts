/** Errors in what the user asked for (exit code 2), as opposed to failures of the job (exit code 1). */
import {existsSync, statSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {fileKind} from '../util/file_kind';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for a UsageError, also one from a second copy of this module (ESM and CJS loads). */
export function isUsageError(e: unknown): e is UsageError {
  return e instanceof Error && e.name === 'UsageError';
}

/** Resolves a model.json path that must exist, or throws a UsageError naming it. */
export function existingModelPath(path: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UsageError(`model file not found: ${path}`);
  const stats = statSync(abs);
  if (!stats.isFile()) throw new UsageError(`expected a model.json file, but ${path} is ${fileKind(stats)}`);
  return abs;
}

/**
 * Resolves an output folder given by `flag`, checked before any work: it must be named, and it and
 * the nearest of its ancestors that exists must be folders (it is created later when missing).
 * @throws UsageError naming the flag.
 */
export function outputDir(path: string, flag = '--out'): string {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new UsageError(`${flag} must name a folder, but got ${JSON.stringify(path)}`);
  }
  const abs = resolve(path);
  let existing = abs;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const stats = statSync(existing);
  if (!stats.isDirectory()) {
    throw new UsageError(existing === abs ? `${flag} ${path} exists and is ${fileKind(stats)}, not a folder` :
        `${flag} ${path} cannot be created: ${existing} is ${fileKind(stats)}, not a folder`);
  }
  return abs;
}
