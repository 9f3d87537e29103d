// Threads (src/kernels/threads.ts, the worker pool of thread_pool.ts, the runtime checks of
// thread_state.ts): the thread count API, and failures: a worker that throws or dies mid-call costs
// the call nothing but time (its part is run again on the calling thread, the result is exact),
// ops fall back to one thread with one warning, and setThreads starts new workers; a runtime that
// refuses threads runs every op on one thread. A Node process with workers exits on its own.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFileSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {channelMajorSparseMatMul, getThreads, PixelSparseMatrix, ready, setThreads} from '../src/index';
import {ownThreadPool} from '../src/kernels/threaded';
import type {KernelCall} from '../src/kernels/thread_pool';
import {MAX_DEFAULT_THREADS} from '../src/kernels/thread_limits';
import {coreCount, threadGain} from '../src/kernels/thread_state';
import {assertBitsEqual, normal, noLeak, rng, useBackend} from './helpers';

const root = fileURLToPath(new URL('..', import.meta.url));

// ---

const api = suite('setThreads / getThreads');

api('getThreads() defaults to min(cores, 4) in Node; setThreads(n) sets it', () => {
  const before = getThreads();
  setThreads(3);
  assert.is(getThreads(), 3);
  setThreads(1);
  assert.is(getThreads(), 1);
  setThreads(before);
  assert.ok(Math.min(coreCount(), MAX_DEFAULT_THREADS) >= 1);
});

api('setThreads(n) throws for anything but a positive integer, naming the argument', () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity, '2', null, undefined]) {
    assert.throws(() => setThreads(bad as number), /Argument 'n' passed to 'setThreads' must be a positive integer/);
  }
});

api.run();

// ---

const failures = suite('ThreadPool failures');

/** A layer big enough for the dispatcher to pick threads, and its single-threaded result. */
function bigLayer() {
  const K = 512, N = 512, P = 512;
  const r = rng(1);
  const packed = PixelSparseMatrix.fromDense(normal(K * N, 2).map(v => r() < 0.5 ? 0 : v), [K, N]);
  const x = tf.tensor3d(normal(K * P, 3), [1, K, P]);
  setThreads(1);
  const want = channelMajorSparseMatMul(x, packed).dataSync() as Float32Array;
  setThreads(2);
  return {packed, x, want, dispose: () => { x.dispose(); packed.dispose(); }};
}

/** `bigLayer()` on wasm, and the pool with its worker ready. */
async function layerOnTwoThreads() {
  await useBackend('wasm');
  const layer = bigLayer();
  await ready();
  const pool = ownThreadPool()!;
  assert.is(pool.threads, 2);
  return {layer, pool};
}

/** Captures console.warn while `fn` runs. */
async function warnings(fn: () => Promise<void>|void): Promise<string[]> {
  const seen: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => { seen.push(a.join(' ')); };
  try {
    await fn();
  } finally {
    console.warn = warn;
  }
  return seen;
}

failures('a worker that throws in a call: the result is exact, one warning, then one thread until setThreads', async () => {
  const {layer, pool} = await layerOnTwoThreads();
  const seen = await warnings(() => {
    // One call straight through the pool, its worker part poisoned (the worker throws). The calling
    // thread's own part is long (64 passes over the first 1 MB of the heap), so the worker claims its
    // part before the calling thread would take it over.
    const long = Array.from({length: 64}, () => ['f32_count_nonzero__simd128', 0, 1 << 18] as KernelCall);
    pool.run([long, [['f32_count_nonzero__simd128', 16, 0]]], true);
    assert.ok(pool.failure?.includes('failed in a call'), String(pool.failure));
    // Later ops run on one thread, exactly.
    threadGain.reset();
    const y = noLeak(() => channelMajorSparseMatMul(layer.x, layer.packed));
    assertBitsEqual(y.dataSync() as Float32Array, layer.want, 'after the failure');
    y.dispose();
  });
  assert.is(seen.length, 1, seen.join('\n'));
  assert.match(seen[0], /kernel worker 0 failed in a call; the sparse kernels run on one thread from now on/);
  setThreads(2);
  await ready();
  const fresh = ownThreadPool()!;
  assert.ok(fresh !== pool && fresh.failure === null && fresh.threads === 2, 'setThreads started new workers');
  layer.dispose();
});

failures('a worker that dies mid-call (terminated): no hang, the result is exact, one warning', async () => {
  const {layer, pool} = await layerOnTwoThreads();
  const seen = await warnings(async () => {
    threadGain.reset();  // the op must reach the pool even if a loaded machine suspended threads
    pool.killWorker(0);
    const t0 = Date.now();
    const y = noLeak(() => channelMajorSparseMatMul(layer.x, layer.packed));
    assert.ok(Date.now() - t0 < 10000, 'the call waited too long');
    assertBitsEqual(y.dataSync() as Float32Array, layer.want, 'the call whose worker died');
    y.dispose();
    await new Promise(r => setTimeout(r, 50));  // the worker's exit event
    assert.ok(pool.failure !== null, 'the pool noticed');
    const z = channelMajorSparseMatMul(layer.x, layer.packed);
    assertBitsEqual(z.dataSync() as Float32Array, layer.want, 'the next call, on one thread');
    z.dispose();
  });
  assert.is(seen.length, 1, seen.join('\n'));
  assert.match(seen[0], /kernel worker 0 (did not finish in time|exited)/);
  setThreads(2);
  layer.dispose();
});

failures('a worker that wakes late: the calling thread runs its part itself, exactly, and the worker serves later calls', async () => {
  const {layer, pool} = await layerOnTwoThreads();
  const seen = await warnings(async () => {
    threadGain.reset();
    const stolen = pool.stolenParts, runs = pool.threadedRuns;
    pool.delayWorkers(500);  // far longer than the calling thread's own part
    const y = noLeak(() => channelMajorSparseMatMul(layer.x, layer.packed));
    assertBitsEqual(y.dataSync() as Float32Array, layer.want, 'the part the calling thread took over');
    y.dispose();
    assert.is(pool.threadedRuns, runs + 1, 'the call went to the pool');
    assert.is(pool.stolenParts, stolen + 1, "the calling thread ran the late worker's part");
    pool.delayWorkers(0);
    await new Promise(r => setTimeout(r, 600));  // the worker wakes, finds its part taken
    for (let i = 0; i < 5; i++) {
      const z = channelMajorSparseMatMul(layer.x, layer.packed);
      assertBitsEqual(z.dataSync() as Float32Array, layer.want, `call ${i} after the late one`);
      z.dispose();
    }
    assert.is(pool.failure, null);
    assert.is(pool.threads, 2);
  });
  assert.equal(seen, []);
  layer.dispose();
});

failures('parts for workers that are not ready yet run on the calling thread', async () => {
  await useBackend('wasm');
  setThreads(3);  // a new pool: its second worker is still starting when the call comes
  const layer = bigLayer();
  setThreads(3);
  const y = channelMajorSparseMatMul(layer.x, layer.packed);
  assertBitsEqual(y.dataSync() as Float32Array, layer.want, 'with workers starting');
  y.dispose();
  setThreads(2);
  layer.dispose();
});

failures.run();

// ---

const shutdown = suite('shutdown');

shutdown('a Node process that ran threaded ops exits on its own, with its workers waiting', () => {
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    import '@tensorflow/tfjs-backend-wasm';
    import {channelMajorSparseMatMul, PixelSparseMatrix, ready, setThreads} from './src/index.ts';
    import {ownThreadPool} from './src/kernels/threaded.ts';
    await tf.setBackend('wasm');
    setThreads(2);
    await ready();
    const K = 512, P = 512;
    const packed = PixelSparseMatrix.fromDense(new Float32Array(K * K).map((_, i) => i % 3 ? 0 : 1), [K, K]);
    channelMajorSparseMatMul(tf.ones([1, K, P]), packed).dispose();
    console.log('threaded runs ' + ownThreadPool().threadedRuns);
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
      {cwd: root, encoding: 'utf8', timeout: 60000});
  assert.match(out, /threaded runs 1/, out.slice(-500));
});

shutdown.run();

// ---

const refused = suite('a runtime that refuses threads');

refused('no shared memory to be had: every op runs on one thread, exactly, after one warning; kernelInfo says why', () => {
  // A child process whose WebAssembly.Memory refuses `shared: true` (as a runtime without threads may).
  const script = `
    const Memory = WebAssembly.Memory;
    WebAssembly.Memory = function (d) { if (d && d.shared) throw new RangeError('no shared memory here'); return new Memory(d); };
    const warnings = [];
    console.warn = (m) => warnings.push(String(m));
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-wasm');
    const sp = await import('./src/index.ts');
    await tf.setBackend('wasm');
    const K = 512, P = 512;
    const packed = sp.PixelSparseMatrix.fromDense(new Float32Array(K * K).map((_, i) => i % 3 ? 0 : (i % 7) - 3), [K, K]);
    const x = tf.randomNormal([1, K, P]);
    sp.setThreads(1);
    const want = sp.channelMajorSparseMatMul(x, packed).dataSync();
    sp.setThreads(2);
    await sp.ready();
    const a = sp.channelMajorSparseMatMul(x, packed).dataSync(), b = sp.channelMajorSparseMatMul(x, packed).dataSync();
    let same = a.length === want.length && b.length === want.length;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], want[i]) || !Object.is(b[i], want[i])) same = false;
    console.log(JSON.stringify({same, warnings, info: sp.kernelInfo()}));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
      {cwd: root, encoding: 'utf8', timeout: 60000, env: {...process.env, FORCE_COLOR: '0'}});
  const r = JSON.parse(out.trim().split('\n').pop()!) as {same: boolean; warnings: string[];
    info: {threadsUnavailable: string; threadedCalls: number; failure: string}};
  assert.ok(r.same, 'the result changed');
  assert.equal(r.warnings.filter(w => /tfjs-sparsity/.test(w)),
      ['tfjs-sparsity: threads could not start (no shared memory here); the sparse kernels run on one thread.']);
  assert.is(r.info.threadsUnavailable, 'threads could not start (no shared memory here)');
  assert.is(r.info.threadedCalls, 0);
});

refused.run();
