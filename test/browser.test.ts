// The browser bundle in real headless Chromium: built from src/browser.ts with the rollup config,
// served on 127.0.0.1, loaded by a plain page through an import map, once as an ordinary page
// (tfjs-wasm's single-threaded build: our kernels run on its heap) and once cross-origin isolated
// (its threaded build: a shared heap, which our kernels run on through their shared-memory variant).
// Every kernel op runs the same table of cases in the page and in Node; results must agree bit for bit.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {rollup} from 'rollup';
import ts from 'typescript';
import type {Browser, Page} from 'playwright-core';
import * as lib from '../src/index';
import * as kernelOps from '../src/ops/index';
import * as sparseFormat from '../src/sparse/format';
import * as sparseMatMul from '../src/sparse/matmul';
import {serveStatic, StaticServer} from '../src/cli/static_server';
import {Case, CaseResult, Described, fromBase64, runCases, toBase64} from '../browser/run-cases.mjs';
import {OPS, THROWS} from './browser-cases';
import {browserBundle} from '../rollup.config.mjs';
import {assertBitsEqual, buildBrowserBundle, launchChromium, useBackend} from './helpers';

/**
 * Exports of src/index.ts that the browser entry leaves out, and why. Add a Node-only export here
 * (the browser build fails if src/browser.ts pulls in anything beyond @tensorflow/*).
 */
const NODE_ONLY: Record<string, string> = {
  useThreadedWasm: "starts tfjs-wasm's threaded build under Node's worker_threads; a page gets it from tfjs itself",
  readEventFile: 'reads TensorBoard files with node:fs',
  SummaryWriter: 'writes TensorBoard files with node:fs',
  decodeEventFile: 'TensorBoard files are a Node concern; needs protobufjs, not bundled',
  histogramOf: 'TensorBoard summaries, with the rest of src/tensorboard/',
  Histogram: 'type of src/tensorboard/histogram.ts',
  SummaryValue: 'type of src/tensorboard/event_file.ts',
  TensorBoardEvent: 'type of src/tensorboard/event_file.ts',
  PruningSummaries: 'writes TensorBoard summaries (src/tensorboard/summary_writer.ts)',
  PruningSummariesArgs: 'type of src/pruning/summaries.ts',
  UpdateFreq: 'type of src/pruning/summaries.ts',
  fileSystem: 'saves and loads models with node:fs',
  NodeFileSystem: 'saves and loads models with node:fs',
};

/**
 * Public functions of the kernel modules (src/ops/index.ts, src/sparse/format.ts and matmul.ts)
 * that are not ops, so the case table need not call them.
 */
const NOT_OPS: Record<string, string> = {
  ready: 'compiles the module; every page awaits it before the first op',
  setThreads: 'a setting, not an op (test/browser_threads.test.ts runs threads in a page)',
  getThreads: 'a setting, not an op',
  kernelBuild: 'reports the build (test/browser_threads.test.ts)',
  kernelInfo: 'reports builds, threads and copies (test/browser_threads.test.ts)',
};

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// --- the browser environment, set up once by the first test that needs it -------------------------

interface Env {pages: Record<'plain'|'isolated', Page>; log: string[]}
/** Everything the tests open, closed by the suite's `after` even when a setup failed halfway. */
const opened: {browser?: Browser; servers: StaticServer[]; dirs: string[]} = {servers: [], dirs: []};
let bundlePromise: Promise<string>|undefined;
let envPromise: Promise<Env>|undefined;

async function openPage(browser: Browser, server: StaticServer, log: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', m => log.push(`console ${m.type()}: ${m.text()}`));
  page.on('pageerror', e => log.push(`page error: ${e.message}`));
  page.on('requestfailed', r => log.push(`request failed: ${r.url()}`));
  page.on('response', r => { if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`); });
  // The baseline build: results are compared bit for bit with Node's (test/browser_threads.test.ts
  // checks the relaxed build against its tolerance).
  await page.goto(`${server.url}browser/kernels.html?kernels=simd128`);
  try {
    await page.waitForFunction(() => 'kernelPage' in window, null, {timeout: 30_000});
    await page.evaluate(() => (window as any).kernelPage.then(() => undefined));
  } catch (e) {
    throw new Error(`the kernel page did not load (${(e as Error).message.split('\n')[0]}); browser log:\n  ${log.join('\n  ')}`);
  }
  return page;
}

/** The folder holding the freshly built browser bundle. */
function bundleDir(): Promise<string> {
  bundlePromise ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-browser-'));
    opened.dirs.push(dir);
    await buildBrowserBundle(dir);
    return dir;
  })();
  return bundlePromise;
}

/** Chromium with the plain and the cross-origin-isolated kernel page loaded. */
function env(): Promise<Env> {
  envPromise ??= (async () => {
    const launching = launchChromium().then(b => (opened.browser = b));
    const [browser, dir] = await Promise.all([launching, bundleDir()]);
    const mounts = {'/node_modules/@tensorflow/': join(ROOT, 'node_modules/@tensorflow'), '/dist/': dir,
                    '/browser/': join(ROOT, 'browser')};
    for (const crossOriginIsolated of [false, true]) opened.servers.push(await serveStatic({mounts, crossOriginIsolated}));
    const log: string[] = [];
    const [plain, isolated] = await Promise.all(opened.servers.map(s => openPage(browser, s, log)));
    return {pages: {plain, isolated}, log};
  })();
  return envPromise;
}

const pageInfo = (page: Page) => page.evaluate(() => (window as any).kernelPage.then((p: any) => p.info));
const pageRun = (page: Page, cases: Case[], digest: boolean): Promise<CaseResult[]> =>
  page.evaluate(([c, d]) => (window as any).kernelPage.then((p: any) => p.runCases(c, {digest: d})), [cases as unknown, digest]);
const pageTensors = (page: Page): Promise<number> =>
  page.evaluate(() => (window as any).kernelPage.then((p: any) => p.numTensors()));

/** Asserts that two described values are equal, naming the first differing element of a tensor. */
function assertSame(got: Described|undefined, want: Described|undefined, what: string): void {
  if (JSON.stringify(got) === JSON.stringify(want)) return;
  if (got && want && 'tensor' in got && 'tensor' in want) {
    assert.equal(got.tensor.shape, want.tensor.shape, `${what}: shape`);
    assert.is(got.tensor.dtype, want.tensor.dtype, `${what}: dtype`);
    const decode = (b64: string) =>
      want.tensor.dtype === 'float32' ? fromBase64(b64, Float32Array) : fromBase64(b64, Int32Array);
    assertBitsEqual(decode(got.tensor.data), decode(want.tensor.data), what);
  }
  if (got && want && 'array' in got && 'array' in want && got.array.length === want.array.length) {
    got.array.forEach((g, i) => assertSame(g, want.array[i], `${what}[${i}]`));
  }
  if (got && want && 'object' in got && 'object' in want) {
    for (const k of new Set([...Object.keys(got.object), ...Object.keys(want.object)])) {
      assertSame(got.object[k], want.object[k], `${what}.${k}`);
    }
  }
  assert.equal(got, want, what);
}

/**
 * Runs `cases` in Node and in both pages and compares digests of the results (tensors cross as
 * hashes); a case whose digests differ runs again with full data, so the failure names the first
 * differing element. `throws` says whether every case must throw (with the same message).
 */
async function compare(cases: Case[], throws: boolean): Promise<void> {
  const {pages} = await env();
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const want = runCases(tf, lib, cases, {digest: true});
  assert.is(tf.memory().numTensors, before, 'the Node run leaked tensors');
  for (const [i, w] of want.entries()) {
    assert.is(w.leaked, 0, `${cases[i].name}: leaked ${w.leaked} tensors in Node`);
    if (throws) assert.ok(w.error, `${cases[i].name}: expected to throw in Node`);
    else assert.is(w.error, undefined, `${cases[i].name} threw in Node`);
  }
  // Both pages at once (each runs in its own renderer process).
  const runs = await Promise.all(Object.values(pages).map(async (page) => {
    const tensorsBefore = await pageTensors(page);
    const got = await pageRun(page, cases, true);
    return {got, tensorsBefore, tensorsAfter: await pageTensors(page)};
  }));
  for (const [k, [mode, page]] of Object.entries(pages).entries()) {
    const {got, tensorsBefore, tensorsAfter} = runs[k];
    assert.is(tensorsAfter, tensorsBefore, `${mode} page: tf.memory().numTensors changed`);
    assert.is(got.length, want.length);
    for (const [i, g] of got.entries()) {
      const what = `${mode} page, ${cases[i].name}`;
      assert.is(g.leaked, 0, `${what}: leaked ${g.leaked} tensors`);
      assert.is(g.error, want[i].error, `${what}: error`);
      if (JSON.stringify(g.result) === JSON.stringify(want[i].result)) continue;
      const [full] = await pageRun(page, [cases[i]], false);
      assertSame(full.result, runCases(tf, lib, [cases[i]])[0].result, what);
      assert.unreachable(`${what}: the digests differ, the data does not (a nondeterministic op?)`);
    }
  }
}

// --- suites -----------------------------------------------------------------------------------------

const entry = suite('browser entry');

/**
 * What an entry file exports: each name with the module it comes from, and its `export *` modules
 * (parsed, not type-checked, so type-only exports count too and it takes milliseconds).
 */
function entryExports(file: string): {names: Map<string, string>; stars: Set<string>} {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2020);
  const names = new Map<string, string>();
  const stars = new Set<string>();
  for (const st of source.statements) {
    if (ts.isExportDeclaration(st)) {
      const from = st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? st.moduleSpecifier.text : file;
      if (!st.exportClause) stars.add(from);
      else if (ts.isNamedExports(st.exportClause)) st.exportClause.elements.forEach(e => names.set(e.name.text, from));
      else names.set(st.exportClause.name.text, from);
    } else if (ts.canHaveModifiers(st) && ts.getModifiers(st)?.some(m => m.kind === ts.SyntaxKind.ExportKeyword)) {
      const declared = ts.isVariableStatement(st) ? st.declarationList.declarations.map(d => d.name.getText(source))
          : [(st as ts.DeclarationStatement).name?.getText(source) ?? 'default'];
      declared.forEach(n => names.set(n, file));
    }
  }
  return {names, stars};
}

entry('src/browser.ts exports everything src/index.ts exports except NODE_ONLY, from the same modules', async () => {
  const index = entryExports('src/index.ts');
  const browser = entryExports('src/browser.ts');
  const missingStars = [...index.stars].filter(m => !browser.stars.has(m));
  assert.equal(missingStars, [], `src/index.ts has export * from ${missingStars.join(', ')}, src/browser.ts does not`);
  const missing = [...index.names.keys()].filter(n => !browser.names.has(n) && !(n in NODE_ONLY));
  assert.equal(missing, [], `src/index.ts exports ${missing.join(', ')}, which src/browser.ts neither exports nor ` +
      `lists as Node-only (NODE_ONLY in test/browser.test.ts)`);
  const moved = [...browser.names].filter(([n, from]) => index.names.get(n) !== from).map(([n]) => n);
  assert.equal(moved, [], `src/browser.ts exports ${moved.join(', ')} from other modules than src/index.ts does`);
  const stale = Object.keys(NODE_ONLY).filter(n => !index.names.has(n) || browser.names.has(n));
  assert.equal(stale, [], `NODE_ONLY names ${stale.join(', ')}, which src/index.ts does not export or src/browser.ts does`);
  // The same at run time, for the values (export * included).
  const browserLib = await import('../src/browser');
  const runtimeMissing = Object.keys(lib).filter(n => !(n in browserLib) && !(n in NODE_ONLY));
  assert.equal(runtimeMissing, []);
});

entry('the browser build rejects a Node built-in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-node-import-'));
  try {
    const input = join(dir, 'entry.ts');
    await import('node:fs/promises').then(fs => fs.writeFile(input, `export {readFile} from 'node:fs/promises';\n`));
    const options = browserBundle(join(dir, 'out.mjs'));
    await rollup({...options, input}).then(
        () => assert.unreachable('the build accepted node:fs/promises'),
        (e: Error) => assert.match(e.message, /'node:fs\/promises' \(imported by .*entry\.ts\) cannot go into the browser bundle/));
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

entry('the browser bundle imports only @tensorflow/tfjs-core and friends', async () => {
  const dir = await bundleDir();
  const code = readFileSync(join(dir, 'tfjs-sparsity.browser.mjs'), 'utf8');
  const specifiers = [...code.matchAll(/(?:^import\b[^'"]*|\bimport\s*\(\s*)['"]([^'"]+)['"]/gm)].map(m => m[1]);
  assert.ok(specifiers.includes('@tensorflow/tfjs-core'), 'the bundle should import @tensorflow/tfjs-core');
  assert.equal(specifiers.filter(s => !s.startsWith('@tensorflow/')), []);
  assert.not.match(code, /WebAssembly\.instantiateStreaming|fetch\(/, 'the kernel wasm must be embedded, not fetched');
  const nodeGlobal = code.match(/.*\b(?:process\.|require\(|__dirname|__filename).*/);
  assert.is(nodeGlobal?.[0], undefined, 'the browser bundle uses a Node global (a page has no process, require or __dirname)');
});

entry.after(async () => {
  await opened.browser?.close();
  await Promise.all(opened.servers.map(s => s.close()));
  for (const dir of opened.dirs) rmSync(dir, {recursive: true, force: true});
});

// Opens the pages first, so a missing Chromium or a broken page fails here with the browser log.
entry('the page loads tfjs, tfjs-wasm and the bundle through an import map and awaits ready()', async () => {
  const {pages} = await env();
  const plain = await pageInfo(pages.plain);
  assert.equal(plain, {...plain, backend: 'wasm', crossOriginIsolated: false, sharedHeap: false, numTensors: 0});
});

entry('a cross-origin-isolated page gets the threaded tfjs-wasm build and its shared heap', async () => {
  const {pages} = await env();
  const isolated = await pageInfo(pages.isolated);
  assert.equal(isolated, {...isolated, backend: 'wasm', crossOriginIsolated: true, sharedHeap: true, numTensors: 0});
});

entry('the case table covers every public op of src/ops, src/sparse/format.ts and src/sparse/matmul.ts', () => {
  const ops = Object.entries({...kernelOps, ...sparseFormat, ...sparseMatMul})
      .filter(([name, v]) => typeof v === 'function' && name in lib).map(([name]) => name);
  const covered = (name: string) => OPS.some(([op]) => op === name || op.startsWith(`${name}.`));
  const missing = ops.filter(n => !covered(n) && !(n in NOT_OPS));
  assert.equal(missing, [], `add a row to OPS in test/browser-cases.ts (or to NOT_OPS) for: ${missing.join(', ')}`);
});

for (const [op, cases] of OPS) {
  entry(`${op} in Chromium (plain and cross-origin-isolated pages) equals Node bit for bit`, async () => {
    const list = cases();
    assert.ok(list.length > 0, `${op} has no cases`);
    await compare(list, false);
  });
}

entry('bad arguments throw the same errors in Chromium as in Node, leaking nothing', async () => {
  await compare(THROWS, true);
});

entry('the comparison catches one flipped bit, in the digest and in the data', () => {
  const values = Float32Array.from([1, -0, NaN, 3.5]);
  const flipped = values.slice();
  new Int32Array(flipped.buffer)[1] ^= 1;  // -0 becomes the smallest negative subnormal
  const run = (v: Float32Array, digest: boolean) =>
    runCases(tf, lib, [{name: 'x', expr: {$tensor: toBase64(v), shape: [4], dtype: 'float32'}}], {digest})[0].result;
  assert.is.not(JSON.stringify(run(values, true)), JSON.stringify(run(flipped, true)));
  let message = '';  // assert.throws rethrows assertion errors, so catch it here
  try {
    assertSame(run(values, false), run(flipped, false), 'x');
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /^x: index 1 of 4: got \S+ \(bits -2147483648\), expected -1\.4\d*e-45 \(bits -2147483647\)/);
});

entry('the pages logged no errors', async () => {
  const {log} = await env();
  const errors = log.filter(l => !l.startsWith('console log') && !l.startsWith('console info'));
  assert.equal(errors, []);
});

entry.run();
