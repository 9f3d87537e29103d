/** Errors in what the user asked for (exit code 2), as opposed to failures of the job (exit code 1). */
import {existsSync, statSync} from 'node:fs';
import {resolve} from 'node:path';

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
  if (!statSync(abs).isFile()) throw new UsageError(`expected a model.json file, but ${path} is a directory`);
  return abs;
}
