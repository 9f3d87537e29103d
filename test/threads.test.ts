// The worker pool (src/kernels/threads.ts): the thread count API, the work splits, and failures: a
// worker that throws or dies mid-call costs the call nothing but time (its part is run again on the
// calling thread, the result is exact), ops fall back to one thread with one warning, and
// setThreads starts new workers. A Node process with workers exits on its own.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFileSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {channelMajorSparseMatMul, getThreads, PixelSparseMatrix, ready, setThreads} from '../src/index';
import {ownThreadPool} from '../src/kernels/threaded';
import {coreCount, evenSplits, GainMonitor, MAX_DEFAULT_THREADS, nonzeroSplits, threadGain} from '../src/kernels/threads';
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

const splits = suite('evenSplits / nonzeroSplits');

splits('evenSplits(count, parts, align) covers [0, count) in aligned, non-empty ranges', () => {
  assert.equal(evenSplits(100, 2, 16), [0, 48, 100]);
  assert.equal(evenSplits(64, 2, 16), [0, 32, 64]);
  assert.equal(evenSplits(10, 4, 4), [0, 4, 8, 10]);
  assert.equal(evenSplits(3, 2, 4), [0, 3], 'one unit: one range');
  assert.equal(evenSplits(0, 2), [0, 0]);
  for (let count = 1; count < 80; count++) {
    for (const parts of [1, 2, 3, 5]) {
      for (const align of [1, 2, 4, 16]) {
        const b = evenSplits(count, parts, align);
        assert.is(b[0], 0);
        assert.is(b[b.length - 1], count);
        assert.ok(b.length - 1 <= parts);
        for (let i = 1; i < b.length; i++) {
          assert.ok(b[i] > b[i - 1], `empty range in ${b}`);
          if (i < b.length - 1) assert.is(b[i] % align, 0);
        }
      }
    }
  }
});

splits('nonzeroSplits(rowPtr, parts) balances nonzeros, never splits a row, never yields an empty range', () => {
  assert.equal(nonzeroSplits(Int32Array.from([0, 10, 20, 30, 40]), 2), [0, 2, 4]);
  assert.equal(nonzeroSplits(Int32Array.from([0, 100, 101, 102]), 2), [0, 1, 3]);
  assert.equal(nonzeroSplits(Int32Array.from([0, 5]), 3), [0, 1]);
  const r = rng(5);
  for (let t = 0; t < 50; t++) {
    const rows = 1 + Math.floor(r() * 30);
    const rowPtr = new Int32Array(rows + 1);
    for (let i = 0; i < rows; i++) rowPtr[i + 1] = rowPtr[i] + Math.floor(r() * 10);
    const b = nonzeroSplits(rowPtr, 1 + Math.floor(r() * 4));
    assert.is(b[0], 0);
    assert.is(b[b.length - 1], rows);
    for (let i = 1; i < b.length; i++) assert.ok(b[i] > b[i - 1]);
  }
});

splits.run();

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
  await useBackend('wasm');
  const layer = bigLayer();
  await ready();
  const pool = ownThreadPool()!;
  assert.is(pool.threads, 2);
  const seen = await warnings(() => {
    // One call straight through the pool, its worker part poisoned (the worker throws).
    pool.run([[['f32_count_nonzero__simd128', 16, 0]], [['f32_count_nonzero__simd128', 16, 0]]], true);
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
  await useBackend('wasm');
  const layer = bigLayer();
  await ready();
  const pool = ownThreadPool()!;
  assert.is(pool.threads, 2);
  const seen = await warnings(async () => {
    threadGain.reset();  // the op must reach the pool even if a loaded machine suspended threads
    pool.killWorker(0);
    const t0 = Date.now();
    const y = noLeak(() => channelMajorSparseMatMul(layer.x, layer.packed));
    assert.ok(Date.now() - t0 < 10000, 'the call waited too long');
    assertBitsEqual(y.dataSync() as Float32Array, layer.want, 'the call whose worker died');
    y.dispose();
    assert.ok(pool.failure !== null, 'the pool noticed');
    await new Promise(r => setTimeout(r, 50));  // the worker's exit event
    const z = channelMajorSparseMatMul(layer.x, layer.packed);
    assertBitsEqual(z.dataSync() as Float32Array, layer.want, 'the next call, on one thread');
    z.dispose();
  });
  assert.is(seen.length, 1, seen.join('\n'));
  assert.match(seen[0], /kernel worker 0 (did not finish in time|exited)/);
  setThreads(2);
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

const gain = suite('GainMonitor');

gain('calls slower than one thread suspend threads for a second; calls that pay keep them', () => {
  let now = 0;
  const m = new GainMonitor(() => now);
  for (let i = 0; i < 20; i++) m.record(1, 0.55, 2, 1);  // 2 equal parts: 1.8x
  assert.ok(m.paying);
  m.record(1, 3, 2, 1);  // 0.67x once: the average holds
  assert.ok(m.paying);
  for (let i = 0; i < 10 && m.paying; i++) m.record(1, 3, 2, 1);
  assert.not.ok(m.paying, 'suspended after a run of slow calls');
  now += 999;
  assert.not.ok(m.paying);
  now += 2;
  assert.ok(m.paying, 'tried again after the suspension');
  m.record(1, 3, 2, 1);
  m.reset();
  assert.ok(m.paying);
});

gain('parts run on the calling thread count for it: 3 parts there in the time of one call is no gain', () => {
  const m = new GainMonitor(() => 0);
  for (let i = 0; i < 30; i++) m.record(3, 3, 3, 3);
  assert.ok(m.paying, 'exactly one thread\'s time: not below 0.95');
});

gain.run();

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
