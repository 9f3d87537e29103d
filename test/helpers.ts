// Shared test helpers: backends, seeded random data, leak checks, exact comparisons.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as assert from 'uvu/assert';
import {existsSync, readdirSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {mulberry32} from '../src/util/random';

tf.env().set('PROD', true);

export const BACKENDS = ['wasm', 'cpu'] as const;
export type BackendName = typeof BACKENDS[number];

/** Makes `name` the active backend (awaiting tfjs-wasm's init the first time). */
export async function useBackend(name: BackendName): Promise<void> {
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    assert.ok(ok, `backend ${name} failed to initialise`);
  }
  await tf.ready();
}

/** Runs `fn` and asserts that it leaves the number of live tensors unchanged. */
export function noLeak<T>(fn: () => T, what = 'op'): T {
  const before = tf.memory().numTensors;
  const result = fn();
  const after = tf.memory().numTensors - (result instanceof tf.Tensor ? 1 : 0);
  assert.is(after, before, `${what} leaked ${after - before} tensors`);
  return result;
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export const rng = mulberry32;

/** Standard normal samples from a seeded PRNG. */
export function normal(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** Value generators for kernel tests, each named for the edge it probes. */
export function valueCases(n: number, seed: number): Array<[string, Float32Array]> {
  const r = rng(seed);
  const pick = (f: (i: number) => number) => Float32Array.from({length: n}, (_, i) => f(i));
  return [
    ['normal', normal(n, seed)],
    ['ties', pick(() => Math.floor(r() * 5) - 2)],
    ['all_equal', pick(() => -0.75)],
    ['all_zero', pick((i) => (i % 2 ? -0 : 0))],
    ['half_zero', pick((i) => (i % 2 ? 0 : r() - 0.5))],
    ['huge_tiny', pick(() => (r() < 0.5 ? 1 : -1) * Math.pow(2, Math.floor(r() * 250) - 140))],
    ['subnormal', pick(() => (r() - 0.5) * 1e-40)],
    ['infinities', pick((i) => (i % 7 === 0 ? (i % 2 ? -Infinity : Infinity) : r() - 0.5))],
  ];
}

/** Asserts bitwise equality of two float32 arrays, naming the first differing index. */
export function assertBitsEqual(actual: Float32Array|Int32Array, expected: Float32Array|Int32Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  const a = new Int32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Int32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) {
      assert.unreachable(`${what}: index ${i} of ${a.length}: got ${actual[i]} (bits ${a[i]}), ` +
          `expected ${expected[i]} (bits ${e[i]})`);
    }
  }
}

/** Shapes named for the edges they hit. */
export const SHAPES: Array<[string, number[]]> = [
  ['one_element', [1]],
  ['n_lt_4', [3]],
  ['n_lt_16', [13]],
  ['n_eq_16', [16]],
  ['n_tail', [67]],
  ['rank2_tail', [7, 13]],
  ['rank2', [64, 64]],
  ['rank4', [3, 3, 5, 7]],
  ['large', [1031, 33]],
];

/** Async `noLeak`: awaits `fn` and asserts that the number of live tensors is unchanged. */
export async function noLeakAsync<T>(fn: () => Promise<T>, what = 'call'): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  assert.is(after, before, `${what} leaked ${after - before} tensors`);
  return result;
}

/** A `[K, N]` normal weight with a `sparsity` fraction of its `block` blocks (aligned at (0, 0)) zeroed. */
export function blockSparseWeight(K: number, N: number, block: [number, number], sparsity: number, seed: number): Float32Array {
  const w = normal(K * N, seed);
  const r = rng(seed + 1);
  const [bh, bw] = block;
  for (let k0 = 0; k0 < K; k0 += bh) {
    for (let n0 = 0; n0 < N; n0 += bw) {
      if (r() >= sparsity) continue;
      for (let k = k0; k < Math.min(K, k0 + bh); k++) for (let n = n0; n < Math.min(N, n0 + bw); n++) w[k * N + n] = 0;
    }
  }
  return w;
}

/** The int8 error bound lives with the other oracles; re-exported for the tests that import it from here. */
export {int8Bound} from './reference';

/**
 * Environment variables naming a Chrome or Chromium binary, most specific first: the one this
 * project reads, then those of tools users already set (karma-chrome-launcher, Puppeteer,
 * Playwright's Chromium).
 */
export const CHROMIUM_ENV_VARS = ['CHROME_PATH', 'CHROMIUM_PATH', 'CHROME_BIN', 'PUPPETEER_EXECUTABLE_PATH',
  'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH'];

/** Where Chromium and Google Chrome install themselves, by platform. */
export function chromiumLocations(platform: string = process.platform, env: NodeJS.ProcessEnv = process.env): string[] {
  if (platform === 'darwin') {
    const apps = ['Google Chrome.app/Contents/MacOS/Google Chrome', 'Chromium.app/Contents/MacOS/Chromium',
      'Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary'];
    return [...apps.map(a => `/Applications/${a}`), ...(env.HOME ? apps.map(a => `${env.HOME}/Applications/${a}`) : [])];
  }
  if (platform === 'win32') {
    const roots = [env.PROGRAMFILES, env['PROGRAMFILES(X86)'], env.LOCALAPPDATA].filter((r): r is string => !!r);
    return roots.flatMap(r => [`${r}\\Google\\Chrome\\Application\\chrome.exe`, `${r}\\Chromium\\Application\\chrome.exe`]);
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/snap/bin/chromium',
    '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/opt/google/chrome/chrome'];
}

/**
 * The Chromium (or Chrome) the browser tests drive: the first of `CHROMIUM_ENV_VARS` that is set
 * (it must exist: a wrong path is an error, not a reason to look elsewhere), else the first usual
 * install location that exists.
 * @throws Error with the install hint when none is found.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync,
                             platform: string = process.platform): string {
  for (const name of CHROMIUM_ENV_VARS) {
    const path = env[name];
    if (!path) continue;
    if (!exists(path)) throw new Error(`${name} is set to ${path}, which does not exist: point it at a Chrome or Chromium binary`);
    return path;
  }
  const found = chromiumLocations(platform, env).find(exists);
  if (found) return found;
  throw new Error('Chromium or Chrome is missing: the browser tests need one. Set CHROME_PATH to its binary, or install ' +
      'it (Debian/Ubuntu: apt-get install -y chromium; macOS: Google Chrome or Chromium in /Applications; ' +
      `.ci/run installs it). Looked in: ${chromiumLocations(platform, env).join(', ')}`);
}

// No network on CI machines: no QUIC, no component updates, no background fetches.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches headless Chromium (`findChromium`), failing (never skipping) with the fix when it is not installed. */
export async function launchChromium(): Promise<import('playwright-core').Browser> {
  const executablePath = findChromium();
  const {chromium} = await import('playwright-core');
  return chromium.launch({executablePath, args: CHROMIUM_ARGS});
}

/** Builds the browser bundle (src/browser.ts, the rollup config) into `dir`; a build warning fails it. */
export async function buildBrowserBundle(dir: string): Promise<string> {
  const [{join}, {rollup}, {browserBundle}] = await Promise.all([import('node:path'), import('rollup'),
    import('../rollup.config.mjs')]);
  const file = join(dir, 'tfjs-sparsity.browser.mjs');
  const options = browserBundle(file);
  const bundle = await rollup({...options, onwarn: (w) => { throw new Error(`browser build warning: ${w.message}`); }});
  try {
    await bundle.write(options.output);
  } finally {
    await bundle.close();
  }
  return file;
}

/** max |a - b| / max |b| over all entries. */
export function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  const av = a.dataSync(), bv = b.dataSync();
  let diff = 0, scale = 0;
  for (let i = 0; i < av.length; i++) {
    diff = Math.max(diff, Math.abs(av[i] - bv[i]));
    scale = Math.max(scale, Math.abs(bv[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/** Asserts that `fn`'s promise rejects with an error whose message matches `pattern`. */
export async function rejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

/** CRC-32C bit by bit (reflected polynomial 0x82F63B78): the oracle for the table-driven library. */
export function bitwiseCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (crc & 1 ? 0x82f63b78 : 0);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Bytes of the files in `dir` (a saved model's folder: model.json and its weight files). */
export function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}
