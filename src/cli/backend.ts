/**
 * The backend of the `tfjs-sparsity` command. Importing tfjs-backend-wasm registers `wasm` with a
 * higher priority than `cpu`, and its initialisation is asynchronous: the first tensor op of a
 * process that never awaited it fails ("The highest priority backend 'wasm' has not yet been
 * initialized"). Every command that touches tensors awaits `initCliBackend()` first.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {useThreadedWasm} from '../index';

/** The backends the command tries, fastest first. */
export const CLI_BACKENDS = ['wasm', 'cpu'] as const;

/**
 * Makes the first backend of `candidates` that initialises the active one and awaits it. When one
 * fails, says so on stderr (`warn`) and tries the next: the commands still run on `cpu`, slower.
 * @returns the backend's name.
 * @throws Error naming every backend tried when none initialises.
 */
export async function initCliBackend(candidates: readonly string[] = CLI_BACKENDS,
                                     warn: (message: string) => void = console.error): Promise<string> {
  // tfjs prints its "install tfjs-node" banner and debug notes outside production mode.
  tf.env().set('PROD', true);
  const failed: string[] = [];
  for (const name of candidates) {
    let ok = false;
    try {
      // wasm on tfjs-wasm's threaded build: our kernels then run threaded with no copies.
      ok = name === 'wasm' ? (await useThreadedWasm(), true) : await tf.setBackend(name);
      if (ok) await tf.ready();
    } catch {
      ok = false;
    }
    if (ok && tf.getBackend() === name) {
      if (failed.length > 0) {
        warn(`warning: the ${failed.join(', ')} backend could not start here; running on the ${name} backend ` +
            '(slower). tfjs printed the reason above.');
      }
      return name;
    }
    failed.push(name);
  }
  throw new Error(`no tfjs backend could start (tried ${candidates.join(', ')}); tfjs printed the reasons above`);
}
