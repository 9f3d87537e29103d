// Threads and the relaxed-SIMD build in headless Chromium. A cross-origin-isolated page (COOP/COEP)
// gets tfjs-wasm's threaded build and its shared heap: our kernels and their Web Workers run on
// that heap with no copies, and split results equal one thread's bit for bit. Chromium has relaxed
// SIMD, so the page picks the relaxed build: its results stay within the documented bound of the
// baseline build's (Node 20 here runs the baseline). An ordinary page has no threads and says why.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {Browser, Page} from 'playwright-core';
import {channelMajorSparseMatMul, PixelSparseMatrix, setThreads} from '../src/index';
import {serveStatic, StaticServer} from '../src/cli/static_server';
import {buildBrowserBundle, launchChromium, normal, rng, useBackend} from './helpers';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const opened: {browser?: Browser; servers: StaticServer[]; dir?: string} = {servers: []};
const log: string[] = [];
let pagesPromise: Promise<{isolated: Page; plain: Page}>|undefined;

function pages(): Promise<{isolated: Page; plain: Page}> {
  pagesPromise ??= (async () => {
    opened.dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-threads-'));
    const [browser] = await Promise.all([launchChromium(), buildBrowserBundle(opened.dir)]);
    opened.browser = browser;
    const mounts = {'/node_modules/@tensorflow/': join(ROOT, 'node_modules/@tensorflow'), '/dist/': opened.dir,
      '/browser/': join(ROOT, 'browser')};
    const open = async (crossOriginIsolated: boolean) => {
      const server = await serveStatic({mounts, crossOriginIsolated});
      opened.servers.push(server);
      const page = await browser.newPage();
      page.on('console', m => log.push(`console ${m.type()}: ${m.text()}`));
      page.on('pageerror', e => log.push(`page error: ${e.message}`));
      // The isolated page forces the relaxed build (the speed probe would pick either on a machine
      // where they run at parity); the ordinary one lets the probe decide.
      await page.goto(`${server.url}browser/kernels.html${crossOriginIsolated ? '?kernels=relaxed-simd' : ''}`);
      await page.waitForFunction('"kernelPage" in window', null, {timeout: 30_000});
      await page.evaluate('window.kernelPage.then(() => undefined)');
      return page;
    };
    const [isolated, plain] = await Promise.all([open(true), open(false)]);
    return {isolated, plain};
  })();
  return pagesPromise;
}

/** A `[K, N]` weight with half its entries zero and `[1, K, P]` activations, as plain arrays. */
function problem(K: number, N: number, P: number) {
  const r = rng(K + N + P);
  const w = normal(K * N, 1).map(v => r() < 0.5 ? 0 : v);
  return {K, N, P, w: [...w], x: [...normal(K * P, 2)]};
}

type Problem = ReturnType<typeof problem>;

/**
 * In the page: the op on 2 threads and on 1, and what kernelInfo said around the 2-thread call.
 * Plain JavaScript text: a function passed to page.evaluate would carry tsx's helpers.
 */
const PAGE_RUN = `async ({K, N, P, w, x}) => {
  const {tf, sparsity} = await window.kernelPage;
  const packed = sparsity.PixelSparseMatrix.fromDense(Float32Array.from(w), [K, N]);
  const xt = tf.tensor3d(x, [1, K, P]);
  const before = sparsity.kernelInfo();
  const run = () => {
    const y = sparsity.channelMajorSparseMatMul(xt, packed, {activation: 'linear'});
    const v = [...y.dataSync()];
    y.dispose();
    return v;
  };
  const two = run();
  const after = sparsity.kernelInfo();
  sparsity.setThreads(1);
  const one = run();
  sparsity.setThreads(2);
  xt.dispose();
  packed.dispose();
  return {two, one, before, after, numTensors: tf.memory().numTensors};
}`;

interface PageRun {two: number[]; one: number[]; numTensors: number;
  before: {threads: number; threadsUnavailable: string|null; threadedCalls: number};
  after: {workers: number; threadedCalls: number; copiedCalls: {threaded: number; private: number}}}

function runInPage(page: Page, p: Problem): Promise<PageRun> {
  return page.evaluate(`(${PAGE_RUN})(${JSON.stringify(p)})`) as Promise<PageRun>;
}

// ---

const isolated = suite('cross-origin-isolated page');

isolated('runs the relaxed-SIMD build (validated, self-tested) and 2 threads, its worker ready after ready()', async () => {
  const {isolated: page} = await pages();
  const info = await page.evaluate('window.kernelPage.then(p => p.info)') as
      {sharedHeap: boolean; kernels: {build: {build: string}; threads: number; threadsUnavailable: string|null; workersReady: number}};
  assert.is(info.sharedHeap, true);
  assert.is(info.kernels.build.build, 'relaxed-simd', JSON.stringify(info.kernels.build));
  assert.is(info.kernels.threads, 2);
  assert.is(info.kernels.threadsUnavailable, null);
  assert.is(info.kernels.workersReady, 1);
});

isolated('a big 1x1 convolution runs on the worker, on the shared heap with no copies, equal to one thread bit for bit', async () => {
  const {isolated: page} = await pages();
  const r = await runInPage(page, problem(512, 512, 512));
  assert.ok(r.after.threadedCalls > r.before.threadedCalls, 'no call went to the worker');
  assert.equal(r.after.copiedCalls, {threaded: 0, private: 0}, 'a call copied its operands');
  assert.is(r.two.length, 512 * 512);
  for (let i = 0; i < r.two.length; i++) {
    if (!Object.is(r.two[i], r.one[i])) assert.unreachable(`y[${i}]: 2 threads ${r.two[i]}, 1 thread ${r.one[i]}`);
  }
  assert.is(r.numTensors, 0);
});

isolated('the relaxed build stays within n·2⁻²³·Σ|wx| of the baseline build (Node 20)', async () => {
  const {isolated: page} = await pages();
  const p = problem(256, 64, 256);
  const {two} = await runInPage(page, p);
  await useBackend('wasm');
  setThreads(1);
  const packed = PixelSparseMatrix.fromDense(Float32Array.from(p.w), [p.K, p.N]);
  const want = tf.tidy(() => channelMajorSparseMatMul(tf.tensor3d(p.x, [1, p.K, p.P]), packed).dataSync());
  packed.dispose();
  setThreads(2);
  let differ = 0;
  for (let n = 0; n < p.N; n++) {
    for (let q = 0; q < p.P; q++) {
      let mag = 0, terms = 0;
      for (let k = 0; k < p.K; k++) {
        if (p.w[k * p.N + n] === 0) continue;
        mag += Math.abs(p.w[k * p.N + n] * p.x[k * p.P + q]);
        terms++;
      }
      const i = n * p.P + q, d = Math.abs(two[i] - want[i]);
      if (d > 0) differ++;
      if (!(d <= terms * 2 ** -23 * mag)) assert.unreachable(`y[${n}, ${q}]: relaxed ${two[i]}, baseline ${want[i]}`);
    }
  }
  assert.ok(differ > 0, 'the relaxed build gave the baseline\'s bits everywhere: was it used?');
});

isolated.run();

// ---

const plain = suite('ordinary page');

plain.after(async () => {
  await opened.browser?.close();
  await Promise.all(opened.servers.map(s => s.close()));
  if (opened.dir) rmSync(opened.dir, {recursive: true, force: true});
});

plain('no threads, and kernelInfo says why; ops run on the heap as before, no copies; the speed probe chose the build', async () => {
  const {plain: page} = await pages();
  const r = await runInPage(page, problem(512, 512, 512));
  const info = await page.evaluate('window.kernelPage.then(p => p.info.kernels.build)') as {build: string; reason: string};
  assert.match(info.reason, /ran \d+\.\d\dx the baseline/);
  assert.is(r.before.threads, 1);
  assert.match(r.before.threadsUnavailable ?? 'null', /SharedArrayBuffer is not available|not cross-origin isolated/);
  assert.is(r.after.workers, 0);
  assert.is(r.after.threadedCalls, 0);
  assert.equal(r.after.copiedCalls, {threaded: 0, private: 0});
  assert.equal(r.two, r.one);
});

plain('the pages logged no errors or warnings', async () => {
  await pages();
  const problems = log.filter(l => !l.startsWith('console log') && !l.startsWith('console info'));
  assert.equal(problems, []);
});

plain.run();
