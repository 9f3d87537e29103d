// The demo page (browser/demo.html) served by `tfjs-sparsity serve`, in real headless Chromium: a
// small CNN trained here in seconds, one-shot pruned to 90 % (1x16 blocks in the Dense layers) and
// converted to sparse float32 and int8 models, saved as `tfjs-sparsity demo` saves its models. The
// page must load them, classify picked test digits and drawings with both models, show latencies,
// and agree with the same model files run in Node.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {Browser, Page} from 'playwright-core';
import {rollup} from 'rollup';
import {browserBundle} from '../rollup.config.mjs';
import {main} from '../src/cli/main';
import {loadMnist} from '../src/cli/mnist';
import {loadModel, saveModel} from '../src/cli/model_files';
import {DEFAULT_SPARSE_MODEL, DemoServer, listDemoModels, startDemoServer} from '../src/cli/serve_cmd';
import {buildCnn, compileForMnist, splitTensors} from '../src/cli/mnist_cnn';
import {toSparse} from '../src/sparse/to_sparse';
import {pruneForBenchmark} from '../src/pruning/tools';
import {launchChromium, useBackend} from './helpers';

const INT8_MODEL = 'pruned-90-1x16-sparse-int8';
/** Generous: a loaded 2-core machine runs several test files and browsers at once. */
const TIMEOUT = 120_000;

interface Digit {label: number; pixels: number[]}
interface Card {model: string; digit: number; probs: number[]; latency: number; latencyText: string}
interface Env {page: Page; server: DemoServer; digits: Digit[]; log: string[]}

const opened: {browser?: Browser; server?: DemoServer; dir?: string} = {};
let envPromise: Promise<Env>|undefined;

/** Trains, prunes and converts the models into `<dir>/models/` as the demo names them. */
async function writeModels(dir: string): Promise<string> {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const {train} = loadMnist();
  const count = 2000;
  const {xs, ys} = splitTensors({images: train.images.subarray(0, count * 28 * 28), labels: train.labels.subarray(0, count), count});
  const model = buildCnn(7, 64);
  compileForMnist(model);
  await model.fit(xs, ys, {epochs: 1, batchSize: 50, verbose: 0});
  tf.dispose([xs, ys]);
  const models = join(dir, 'models');
  await saveModel(model, join(models, 'dense'));
  pruneForBenchmark(model, 0.9, {blockSize: [1, 16]});
  for (const dtype of ['float32', 'int8'] as const) {
    const {model: sparse} = await toSparse(model, {dtype});
    await saveModel(sparse, join(models, `pruned-90-1x16-sparse-${dtype}`));
    sparse.dispose();
  }
  model.dispose();
  (model.optimizer as unknown as tf.Optimizer).dispose();
  assert.is(tf.memory().numTensors, before, 'training and converting leaked tensors');
  return models;
}

async function buildBundle(dir: string): Promise<string> {
  const file = join(dir, 'bundle', 'tfjs-sparsity.browser.mjs');
  const options = browserBundle(file);
  const bundle = await rollup(options);
  try {
    await bundle.write(options.output);
  } finally {
    await bundle.close();
  }
  return file;
}

/** Waits for the page to finish its `run`-th classification, failing with its status on an error. */
async function waitForRun(page: Page, run: number, log: string[]): Promise<void> {
  await page.waitForFunction((n) => {
    const {state, run: done} = document.body.dataset;
    return state === 'error' || (state === 'ready' && Number(done) >= n);
  }, run, {timeout: TIMEOUT});
  const status = await page.textContent('#status');
  assert.is.not(await page.getAttribute('body', 'data-state'), 'error', `the page failed: ${status}\n  ${log.join('\n  ')}`);
}

/** Chromium with the demo page loaded (models loaded, ready() awaited, warm-up done). */
function env(): Promise<Env> {
  envPromise ??= (async () => {
    const dir = opened.dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-demo-page-'));
    const launching = launchChromium().then(b => (opened.browser = b));
    const [browser, bundle, models] = await Promise.all([launching, buildBundle(dir), writeModels(dir)]);
    const server = opened.server = await startDemoServer({models, bundle, port: 0});
    const digits = ((await (await fetch(`${server.url}data/demo.json`)).json()) as {digits: Digit[]}).digits;
    const log: string[] = [];
    const page = await browser.newPage({viewport: {width: 1100, height: 800}});
    page.on('console', m => log.push(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', e => log.push(`page error: ${e.message}`));
    page.on('requestfailed', r => log.push(`request failed: ${r.url()}`));
    page.on('response', r => { if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`); });
    await page.goto(server.pageUrl);
    try {
      await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, {timeout: TIMEOUT});
    } catch (e) {
      throw new Error(`the demo page did not load (${(e as Error).message.split('\n')[0]}); browser log:\n  ${log.join('\n  ')}`);
    }
    await waitForRun(page, 0, log);
    return {page, server, digits, log};
  })();
  return envPromise;
}

const card = (page: Page, id: 'dense'|'sparse'): Promise<Card> => page.$eval(`#${id}`, (el) => {
  const e = el as HTMLElement;
  return {model: e.dataset.model ?? '', digit: Number(e.dataset.digit), probs: JSON.parse(e.dataset.probs ?? '[]'),
          latency: Number(e.dataset.latency), latencyText: e.querySelector('.latency')?.textContent ?? ''};
});

/** Clicks test digit `index` (or runs `act`) and returns both cards once the page has classified it. */
async function classifyIn(e: Env, act: () => Promise<void>): Promise<{dense: Card; sparse: Card}> {
  const run = Number(await e.page.getAttribute('body', 'data-run'));
  await act();
  await waitForRun(e.page, run + 1, e.log);
  return {dense: await card(e.page, 'dense'), sparse: await card(e.page, 'sparse')};
}

/** Softmax probabilities of the saved model `name` for `digits`, computed in Node on tfjs-wasm. */
async function nodeProbs(models: string, name: string, digits: Digit[]): Promise<number[][]> {
  await useBackend('wasm');
  const model = await loadModel(join(models, name, 'model.json'));
  const probs = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(digits.flatMap(d => d.pixels), [digits.length, 28, 28, 1])) as tf.Tensor));
  const rows = await probs.array() as number[][];
  probs.dispose();
  model.dispose();
  return rows;
}

const argMax = (p: number[]) => p.indexOf(Math.max(...p));

/** The page's card for a digit matches Node's probabilities (and their argmax unless two classes tie). */
function assertAgrees(got: Card, want: number[], what: string): void {
  assert.is(got.probs.length, 10, `${what}: probabilities`);
  const diff = Math.max(...got.probs.map((p, k) => Math.abs(p - want[k])));
  assert.ok(diff <= 1e-4, `${what}: probabilities differ from Node's by ${diff}`);
  const sorted = [...want].sort((a, b) => b - a);
  if (sorted[0] - sorted[1] > 1e-3) assert.is(got.digit, argMax(want), `${what}: predicted digit`);
  assert.ok(got.latency > 0 && Number.isFinite(got.latency), `${what}: latency ${got.latency}`);
  assert.match(got.latencyText, /^\d+\.\d{3} ms /, `${what}: latency text`);
}

const modelsDir = () => join(opened.dir!, 'models');

// ---

const cli = suite('tfjs-sparsity serve: arguments');

/** Runs the CLI in-process, capturing stderr. */
async function runCli(args: string[]): Promise<{code: number; err: string}> {
  const err: string[] = [];
  const error = console.error, write = process.stderr.write;
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    return {code: await main(args), err: err.join('\n')};
  } finally {
    console.error = error;
    process.stderr.write = write;
  }
}

cli('serve exits with 2 and says what is missing when the models folder lacks the models', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-serve-cmd-'));
  try {
    let r = await runCli(['serve', '--port', '0', '--models', join(dir, 'nope')]);
    assert.is(r.code, 2);
    assert.match(r.err, /models folder not found: .*nope \(run `tfjs-sparsity demo` \(npm start\)/);
    r = await runCli(['serve', '--port', '0', '--models', dir]);
    assert.is(r.code, 2);
    assert.match(r.err, /has no dense\/model\.json/);
    mkdirSync(join(dir, 'dense'));
    await import('node:fs/promises').then(fs => fs.writeFile(join(dir, 'dense', 'model.json'), '{}'));
    r = await runCli(['serve', '--port', '0', '--models', dir]);
    assert.is(r.code, 2);
    assert.match(r.err, /has only the dense model/);
    r = await runCli(['serve', '--port', 'http']);
    assert.is(r.code, 2);
    assert.match(r.err, /option '--port <n>' argument 'http' is invalid\. must be an integer in \[0, 65535\]/);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

cli.run();

// ---

const page = suite('demo page in Chromium');

page.after(async () => {
  await opened.browser?.close();
  await opened.server?.close();
  if (opened.dir) rmSync(opened.dir, {recursive: true, force: true});
});

page('the page loads the dense and the default sparse model, with the sparse choices in a select', async () => {
  const e = await env();
  assert.equal(listDemoModels(modelsDir()), ['dense', DEFAULT_SPARSE_MODEL, INT8_MODEL]);
  assert.is((await card(e.page, 'dense')).model, 'dense');
  assert.is((await card(e.page, 'sparse')).model, DEFAULT_SPARSE_MODEL);
  const options = await e.page.$$eval('#sparse-model option', os => os.map(o => (o as HTMLOptionElement).value));
  assert.equal(options, [DEFAULT_SPARSE_MODEL, INT8_MODEL]);
  assert.match(await e.page.textContent('#sparse .meta') ?? '', /KB of weights, 3 sparse layers/);
  assert.match(await e.page.textContent('#env') ?? '', /backend wasm/);
});

page('picked test digits get both models\' predictions and latencies, equal to Node\'s', async () => {
  const e = await env();
  assert.is(e.digits.length, 20);
  assert.equal(e.digits.map(d => d.label), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const dense = await nodeProbs(modelsDir(), 'dense', e.digits);
  const sparse = await nodeProbs(modelsDir(), DEFAULT_SPARSE_MODEL, e.digits);
  let correct = 0;
  for (const [i, digit] of e.digits.entries()) {
    const got = await classifyIn(e, () => e.page.click(`#digits button[data-index="${i}"]`));
    assertAgrees(got.dense, dense[i], `digit ${i}, dense`);
    assertAgrees(got.sparse, sparse[i], `digit ${i}, sparse`);
    assert.is(await e.page.textContent('#truth'), `label ${digit.label}`);
    if (got.dense.digit === digit.label) correct++;
  }
  assert.ok(correct >= 15, `the dense model classified only ${correct} of 20 test digits correctly`);
});

page('switching the sparse model loads it and classifies the current digit again', async () => {
  const e = await env();
  await e.page.click('#digits button[data-index="3"]');
  const got = await classifyIn(e, () => e.page.selectOption('#sparse-model', INT8_MODEL).then(() => undefined));
  assert.is(got.sparse.model, INT8_MODEL);
  assertAgrees(got.sparse, (await nodeProbs(modelsDir(), INT8_MODEL, [e.digits[3]]))[0], 'digit 3, int8');
  await classifyIn(e, () => e.page.selectOption('#sparse-model', DEFAULT_SPARSE_MODEL).then(() => undefined));
  assert.is((await card(e.page, 'sparse')).model, DEFAULT_SPARSE_MODEL);
});

page('a drawn stroke becomes a centred 28x28 MNIST-style input and is classified by both models', async () => {
  const e = await env();
  const box = (await e.page.locator('#draw').boundingBox())!;
  const got = await classifyIn(e, async () => {
    // A "1": one stroke down the left third of the canvas.
    await e.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.15);
    await e.page.mouse.down();
    for (let k = 1; k <= 10; k++) await e.page.mouse.move(box.x + box.width * 0.32, box.y + box.height * (0.15 + 0.07 * k));
    await e.page.mouse.up();
  });
  assert.is(await e.page.textContent('#truth'), '(your drawing)');
  for (const c of [got.dense, got.sparse]) {
    assert.ok(c.digit >= 0 && c.digit <= 9 && c.probs.length === 10 && c.latency > 0);
  }
  // What the models saw: ink in [0, 1], 20 rows tall, centre of mass in the middle.
  const seen = await e.page.$eval('#seen', (c) => Array.from((c as HTMLCanvasElement).getContext('2d')!
      .getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0), v => v / 255));
  const rows = seen.reduce((s, v, i) => (v > 0 ? s.add(Math.floor(i / 28)) : s), new Set<number>());
  assert.is(rows.size, 20, 'the stroke should be scaled to 20 rows');
  const mass = seen.reduce((s, v) => s + v, 0);
  const cx = seen.reduce((s, v, i) => s + v * (i % 28), 0) / mass;
  const cy = seen.reduce((s, v, i) => s + v * Math.floor(i / 28), 0) / mass;
  assert.ok(Math.abs(cx - 13.5) <= 1 && Math.abs(cy - 13.5) <= 1, `centre of mass (${cx}, ${cy})`);
});

page('the page logged no errors and leaked no tensors across classifications', async () => {
  const e = await env();
  const count = () => e.page.evaluate(() => import('@tensorflow/tfjs-core').then(tf => tf.memory().numTensors));
  const before = await count();
  await classifyIn(e, () => e.page.click('#digits button[data-index="0"]'));
  assert.is(await count(), before);
  const errors = e.log.filter(l => !l.startsWith('console log') && !l.startsWith('console info'));
  assert.equal(errors, []);
});

page.run();
