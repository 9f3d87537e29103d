// Threads: our sparse kernels on 2 threads against the same kernels on 1, in one process. Node runs
// on tfjs-wasm's threaded build (`useThreadedWasm`: a shared heap, no copies); with --copies on its
// single-threaded build, whose heap is not shared, so threaded calls copy their activations into our
// shared memory and their outputs back, and that cost is in every number.
//
//   node --import tsx bench/threads.ts            layers: large, MobileNet-class and small
//   node --import tsx bench/threads.ts --sweep    the dispatcher's limits (threads forced on)
//   node --import tsx bench/threads.ts --model    nsfwjs MobileNetV2 end to end (bench/models.ts first)
//   node --import tsx bench/threads.ts --copies   any of the Node runs on tfjs-wasm's single-threaded build
//   node --import tsx bench/threads.ts --browser  headless Chromium: an ordinary page (one thread, tfjs-wasm
//                                                 single-threaded) and a cross-origin-isolated one (our
//                                                 kernels and workers on tfjs-wasm's shared heap, tfjs-wasm
//                                                 threaded): layers and the model against tfjs's dense ops
//   node --import tsx bench/threads.ts --browser --sweep   also, in the isolated page, the pixel and
//                                                 depthwise kernels with threads forced (no copies there)
//
// Thread scaling needs idle cores: each run prints the 1-minute load average before and after.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {loadavg, tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {blockSparseMatMul, changeLayout, channelMajorSparseMatMul, kernelInfo, depthwiseConv2dChannelsFirst, packBlockSparse, PixelSparseMatrix,
  ready, setThreads, toSparse, useThreadedWasm} from '../src/index';
import {DWCONV_NCHW} from '../src/kernels/dwconv_nchw';
import {SPMM_NCHW} from '../src/kernels/spmm_nchw';
import {MIN_COPIED_THREADED_MACS, MIN_MACS_PER_COPIED_BYTE, MIN_THREADED_MACS} from '../src/kernels/thread_limits';
import {ensurePackage, loadPackagedModel, NSFWJS_MOBILENET_V2, prunePointwise} from './models';
import {CaseResult, markdownTable, timeAlternating, useWasm} from './util';

const args = process.argv.slice(2);
const THREADS = 2;

/** A weight of `K x N` with `s` of its entries zero, unstructured (a fixed LCG, so runs compare). */
function unstructured(K: number, N: number, s: number, seed = 7): Float32Array {
  let state = seed;
  const rand = () => (state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  return new Float32Array(K * N).map(() => rand() < s ? 0 : rand() - 0.5);
}

/** 1 thread (baseline) against THREADS (candidate), the same op; checks the outputs are equal. */
function compare(name: string, op: () => tf.Tensor, macs: number): CaseResult {
  const on = (n: number) => () => {
    setThreads(n);
    op().dispose();
  };
  setThreads(1);
  const a = op();
  setThreads(THREADS);
  const b = op();
  const same = tf.tidy(() => tf.all(tf.equal(a, b)).dataSync()[0] === 1);
  tf.dispose([a, b]);
  return timeAlternating(name, on(1), on(THREADS), {rounds: 20,
    extra: (bs, cs) => ({'GMAC/s 1 thread': (macs / bs / 1e9).toFixed(1), 'GMAC/s 2 threads': (macs / cs / 1e9).toFixed(1),
      'bit-equal': same ? 'yes' : 'NO'})});
}

/** A channel-major 1x1 convolution, `H x W` pixels, `K -> N` channels, unstructured sparsity `s`. */
function conv1x1(H: number, W: number, K: number, N: number, s: number, dtype: 'float32'|'int8' = 'float32'): CaseResult {
  const packed = PixelSparseMatrix.fromDense(unstructured(K, N, s), [K, N], dtype);
  const x = tf.randomNormal([1, K, H * W]);
  const r = compare(`1x1 conv ${H}x${W} ${K}->${N} ${dtype} ${s * 100} %`, () =>
    channelMajorSparseMatMul(x, packed, {activation: 'relu6'}), packed.nnz * H * W);
  x.dispose();
  packed.dispose();
  return r;
}

/** A Dense layer `K -> N` over `M` rows, block-sparse (strips) or unstructured (pixel kernel). */
function dense(M: number, K: number, N: number, s: number, blockSize: [number, number]|null,
               dtype: 'float32'|'int8' = 'float32'): CaseResult {
  let w: Float32Array;
  if (blockSize) {
    // Whole [bh, bw] blocks zeroed with probability s.
    const keep = unstructured(Math.ceil(K / blockSize[0]), Math.ceil(N / blockSize[1]), s, 11);
    const dense = unstructured(K, N, 0, 13);
    w = dense.map((v, i) => keep[Math.floor(i / N / blockSize[0]) * Math.ceil(N / blockSize[1]) +
        Math.floor((i % N) / blockSize[1])] === 0 ? 0 : v);
  } else {
    w = unstructured(K, N, s);
  }
  const kernel = tf.tensor2d(w, [K, N]);
  const packed = packBlockSparse(kernel, {blockSize: blockSize ?? [1, 16], dtype});
  kernel.dispose();
  const x = tf.randomNormal([M, K]);
  const what = blockSize ? `${blockSize.join('x')} blocks` : 'unstructured';
  const r = compare(`Dense ${M}x${K}x${N} ${dtype} ${what} ${s * 100} %`, () => blockSparseMatMul(x, packed),
      packed.nonzeros * M);
  x.dispose();
  packed.dispose();
  return r;
}

function depthwise(H: number, C: number, stride: 1|2): CaseResult {
  const x = tf.randomNormal([1, C, H, H]) as tf.Tensor4D;
  const f = tf.randomNormal([C, 1, 3, 3]);
  const oh = Math.ceil(H / stride);
  const r = compare(`depthwise 3x3 ${H}x${H}x${C} stride ${stride}`, () =>
    depthwiseConv2dChannelsFirst(x, f, {strides: stride, padding: 'same', activation: 'relu6'}), 9 * C * oh * oh);
  tf.dispose([x, f]);
  return r;
}

/** A channel-major run's layout change (`changeLayout`), and, first, ours on one thread against `tf.transpose`. */
function layout(shape: [number, number, number, number], to: 'channelsFirst'|'channelsLast'): CaseResult {
  const x = tf.randomNormal(shape) as tf.Tensor4D;
  const perm = to === 'channelsFirst' ? [0, 3, 1, 2] : [0, 2, 3, 1];
  const name = `layout [${shape}] to ${to}`;
  timeAlternating(`${name}: tf.transpose (baseline) against ours on 1 thread`, () => tf.transpose(x, perm).dispose(),
      () => { setThreads(1); changeLayout(x, to).dispose(); }, {rounds: 20});
  const r = compare(name, () => changeLayout(x, to), 0);
  x.dispose();
  return r;
}

function layers(): void {
  const results: CaseResult[] = [];
  console.log('\n## large layers');
  results.push(dense(32, 4096, 4096, 0.9, [1, 16]));
  results.push(dense(32, 4096, 4096, 0.9, [1, 16], 'int8'));
  results.push(dense(32, 4096, 4096, 0.9, null));  // stored in 1x16 strips: the dispatcher picks the pixel kernel
  results.push(conv1x1(56, 56, 128, 128, 0.9));   // MobileNetV1
  results.push(conv1x1(56, 56, 24, 144, 0.9));    // MobileNetV2 expand
  results.push(conv1x1(56, 56, 144, 24, 0.9));    // MobileNetV2 project
  results.push(conv1x1(112, 112, 32, 64, 0.9));   // MobileNetV1
  results.push(conv1x1(112, 112, 16, 96, 0.9));   // MobileNetV2 expand
  results.push(conv1x1(56, 56, 128, 128, 0.7));
  results.push(conv1x1(56, 56, 128, 128, 0.9, 'int8'));
  results.push(depthwise(112, 32, 1));
  results.push(depthwise(112, 96, 2));
  results.push(layout([1, 112, 112, 32], 'channelsFirst'));  // MobileNetV2 entering its run
  results.push(layout([1, 1280, 7, 7], 'channelsLast'));     // and leaving it
  console.log('\n## small layers (the dispatcher keeps one thread)');
  results.push(dense(1, 256, 256, 0.9, [1, 16]));
  results.push(dense(32, 256, 256, 0.9, null));
  results.push(conv1x1(7, 7, 160, 960, 0.9));
  results.push(conv1x1(14, 14, 64, 384, 0.9));
  results.push(depthwise(7, 960, 1));
  console.log(`\n${markdownTable(results, '1 thread')}`);
}

/** The pixel kernel with threads forced (no dispatcher): where do 2 threads start to pay? */
function sweep(): void {
  const results: CaseResult[] = [];
  for (const [P, K, N, s] of [[196, 64, 64, 0.9], [784, 64, 64, 0.9], [784, 128, 128, 0.9], [784, 256, 256, 0.8],
    [3136, 64, 64, 0.9], [3136, 128, 128, 0.9], [3136, 256, 256, 0.8], [12544, 32, 64, 0.9], [12544, 64, 64, 0.7],
    [196, 512, 512, 0.9], [49, 1024, 1024, 0.9],
    // Under 64 pixels the kernel splits output channels (each thread packs every input tile itself).
    [16, 256, 256, 0.9], [32, 256, 256, 0.9], [32, 512, 512, 0.9], [48, 512, 512, 0.9], [32, 1024, 1024, 0.9]]) {
    const packed = PixelSparseMatrix.fromDense(unstructured(K, N, s), [K, N]);
    const x = tf.randomNormal([1, K, P]);
    const {rowPtr, ics, values} = packed.tensors;
    const run = (threads: number) => () => (tf.engine().runKernel(SPMM_NCHW, {x, rowptr: rowPtr, ics, vals: values},
        {n: N, vmin: -Infinity, vmax: Infinity, rowMajor: false, threads} as unknown as tf.NamedAttrMap) as tf.Tensor).dispose();
    const macs = packed.nnz * P, bytes = 4 * (K + N) * P;
    results.push(timeAlternating(`P ${P}, ${K}->${N}, ${s * 100} %`, run(1), run(THREADS), {rounds: 20,
      extra: () => ({'M MACs': (macs / 1e6).toFixed(2), 'MACs per byte': (macs / bytes).toFixed(1)})}));
    x.dispose();
    packed.dispose();
  }
  console.log(`\nDispatcher now: where operands are copied, threads from ${MIN_COPIED_THREADED_MACS / 1e6}M MACs and ${MIN_MACS_PER_COPIED_BYTE} MACs per copied byte\n`);
  console.log(markdownTable(results, '1 thread'));
}

async function model(): Promise<void> {
  ensurePackage(NSFWJS_MOBILENET_V2);
  const dense = await loadPackagedModel(NSFWJS_MOBILENET_V2);
  prunePointwise(dense, 0.9);
  const x = tf.randomUniform([1, 224, 224, 3]);
  const results: CaseResult[] = [];
  for (const dtype of ['float32', 'int8'] as const) {
    const {model} = await toSparse(dense, {dtype});
    for (let r = 0; r < 3; r++) {
      results.push(compare(`nsfwjs MobileNetV2 90 % ${dtype} (run ${r + 1})`, () => model.predict(x) as tf.Tensor, 0));
    }
    model.dispose();
  }
  console.log(`\n${markdownTable(results, '1 thread')}`);
  const info = kernelInfo();
  console.log(`threaded calls ${info.threadedCalls}, parts the calling thread took over ${info.stolenParts}, copied ${info.copiedCalls.threaded}, suspensions ${info.suspensions}`);
  x.dispose();
}

// Page timing: each function warmed up for 100 ms, then the fastest of `rounds` alternating batches of
// about 10 ms each.
const PAGE_BEST = `(fns, rounds) => {
  const per = (f, n) => { const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t0) / n; };
  for (const f of fns) { const t0 = performance.now(); while (performance.now() - t0 < 100) f(); }
  const reps = fns.map(f => Math.max(1, Math.round(10 / Math.max(per(f, 1), 1e-3))));
  const b = fns.map(() => Infinity);
  for (let r = 0; r < rounds; r++) fns.forEach((f, i) => { b[i] = Math.min(b[i], per(f, reps[i])); });
  return b;
}`;

// Plain JavaScript run in a page: each layer as tf's dense op (NHWC conv2d or matMul on the pruned
// weight) against ours on every thread and on one, alternating (fastest of short batches); then the
// pruned nsfwjs MobileNetV2 dense against toSparse's model.
const PAGE_BENCH = `(async ({layers, rounds}) => {
  const {tf, sparsity: sp, info} = await window.kernelPage;
  const tfl = await import('@tensorflow/tfjs-layers');
  const best = (fns) => (${PAGE_BEST})(fns, rounds);
  const threads = sp.getThreads();
  const out = [];
  let seed = 7;
  const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (const [H, K, N, s] of layers) {
    const w = Float32Array.from({length: K * N}, () => rand() < s ? 0 : rand() - 0.5);
    const packed = sp.PixelSparseMatrix.fromDense(w, [K, N]);
    const filter = tf.tensor4d(w, [1, 1, K, N]);
    const xNhwc = tf.randomNormal([1, H, H, K]), xNchw = tf.randomNormal([1, K, H * H]);
    const dense = () => tf.dispose(tf.conv2d(xNhwc, filter, 1, 'valid'));
    const ours = () => tf.dispose(sp.channelMajorSparseMatMul(xNchw, packed));
    const oursOne = () => { sp.setThreads(1); ours(); sp.setThreads(threads); };
    const [d, o, o1] = best([dense, ours, oursOne]);
    out.push({name: '1x1 conv ' + H + 'x' + H + ' ' + K + '->' + N + ' ' + s * 100 + ' %', denseMs: d, oursMs: o, oursOneMs: o1});
    tf.dispose([filter, xNhwc, xNchw]);
    packed.dispose();
  }
  const model = await tfl.loadLayersModel('/model/model.json');
  const x = tf.randomUniform([1, 224, 224, 3]);
  const {model: sparse} = await sp.toSparse(model);
  const run = (m) => () => tf.dispose(m.predict(x));
  const [d, o, o1] = best([run(model), run(sparse), () => { sp.setThreads(1); run(sparse)(); sp.setThreads(threads); }]);
  out.push({name: 'nsfwjs MobileNetV2 90 % f32, batch 1', denseMs: d, oursMs: o, oursOneMs: o1});
  sparse.dispose();
  x.dispose();
  return {info: {...info, kernels: sp.kernelInfo()}, out};
})`;

// The isolated page's own sweep: the pixel and depthwise kernels with threads forced (the kernels'
// `threads` attribute, no dispatcher), 2 against 1, on tfjs-wasm's shared heap (no copies).
const PAGE_SWEEP = `(async ({pixel, depthwise, rounds}) => {
  const {tf, sparsity: sp} = await window.kernelPage;
  const best = (fns) => (${PAGE_BEST})(fns, rounds);
  const out = [];
  let seed = 7;
  const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (const [P, K, N, s] of pixel) {
    const packed = sp.PixelSparseMatrix.fromDense(Float32Array.from({length: K * N}, () => rand() < s ? 0 : rand() - 0.5), [K, N]);
    const x = tf.randomNormal([1, K, P]);
    const {rowPtr, ics, values} = packed.tensors;
    const run = (threads) => () => tf.dispose(tf.engine().runKernel('${SPMM_NCHW}', {x, rowptr: rowPtr, ics, vals: values},
        {n: N, vmin: -Infinity, vmax: Infinity, rowMajor: false, threads}));
    const [one, two] = best([run(1), run(2)]);
    out.push({name: 'pixel P ' + P + ', ' + K + '->' + N + ', ' + s * 100 + ' %', macs: packed.nnz * P, one, two});
    x.dispose();
    packed.dispose();
  }
  for (const [H, C, stride] of depthwise) {
    const x = tf.randomNormal([1, C, H, H]), weights = tf.randomNormal([C, 9]);
    const oh = Math.ceil(H / stride);
    const run = (threads) => () => tf.dispose(tf.engine().runKernel('${DWCONV_NCHW}', {x, weights},
        {stride, padTop: stride === 1 ? 1 : 0, padLeft: stride === 1 ? 1 : 0, oh, ow: oh, vmin: -Infinity, vmax: Infinity, threads}));
    const [one, two] = best([run(1), run(2)]);
    out.push({name: 'depthwise ' + H + 'x' + H + 'x' + C + ' stride ' + stride, macs: 9 * C * oh * oh, one, two});
    tf.dispose([x, weights]);
  }
  return out;
})`;

async function browser(): Promise<void> {
  const {chromium} = await import('playwright-core');
  const {serveStatic} = await import('../src/cli/static_server');
  const {buildBrowserBundle} = await import('../test/helpers');
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-threads-'));
  try {
    await buildBrowserBundle(dir);
    ensurePackage(NSFWJS_MOBILENET_V2);
    await tf.setBackend('cpu');
    const model = await loadPackagedModel(NSFWJS_MOBILENET_V2);
    prunePointwise(model, 0.9);
    await model.save(tf.io.withSaveHandler(async a => {
      writeFileSync(join(dir, 'model.json'), JSON.stringify({modelTopology: a.modelTopology, format: a.format,
        generatedBy: a.generatedBy, convertedBy: a.convertedBy, weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}));
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
      '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']});
    const layers = [[56, 128, 128, 0.9], [56, 24, 144, 0.9], [56, 144, 24, 0.9], [112, 32, 64, 0.9], [112, 16, 96, 0.9],
      [28, 256, 256, 0.9], [14, 512, 512, 0.9], [7, 160, 960, 0.9]];
    for (const crossOriginIsolated of [false, true]) {
      const server = await serveStatic({mounts: {'/node_modules/@tensorflow/': 'node_modules/@tensorflow', '/dist/': dir,
        '/browser/': 'browser', '/model/': dir}, crossOriginIsolated});
      const page = await browser.newPage();
      await page.goto(`${server.url}browser/kernels.html`);
      const {info, out} = await page.evaluate(`${PAGE_BENCH}(${JSON.stringify({layers, rounds: 15})})`) as
          {info: Record<string, unknown>; out: Array<{name: string; denseMs: number; oursMs: number; oursOneMs: number}>};
      console.log(`\n### headless Chromium ${browser.version()}, ${crossOriginIsolated ? 'cross-origin-isolated' : 'ordinary'} page\n`);
      console.log(`page: ${JSON.stringify(info)}\n`);
      console.log('| case | tfjs dense ms | ours ms | ours vs dense | ours, 1 thread, ms | threads vs 1 |\n|---|---|---|---|---|---|');
      for (const r of out) {
        console.log(`| ${r.name} | ${r.denseMs.toFixed(3)} | ${r.oursMs.toFixed(3)} | **${(r.denseMs / r.oursMs).toFixed(2)}x** | ` +
            `${r.oursOneMs.toFixed(3)} | **${(r.oursOneMs / r.oursMs).toFixed(2)}x** |`);
      }
      if (crossOriginIsolated && args.includes('--sweep')) {
        const pixel = [[196, 64, 64, 0.9], [784, 64, 64, 0.9], [784, 128, 128, 0.9], [3136, 24, 144, 0.9], [3136, 144, 24, 0.9],
          [3136, 64, 64, 0.9], [3136, 128, 128, 0.9], [12544, 16, 96, 0.9], [12544, 32, 64, 0.9], [196, 512, 512, 0.9]];
        const depthwise = [[14, 576, 1], [28, 192, 1], [56, 144, 1], [112, 32, 1], [112, 96, 2]];
        const sweep = await page.evaluate(`${PAGE_SWEEP}(${JSON.stringify({pixel, depthwise, rounds: 15})})`) as
            Array<{name: string; macs: number; one: number; two: number}>;
        console.log(`\nThreads forced, 2 against 1 (dispatcher now: threads from ${MIN_THREADED_MACS / 1e6}M MACs)\n`);
        console.log('| case | M MACs | 1 thread ms | 2 threads ms | speedup |\n|---|---|---|---|---|');
        for (const r of sweep) {
          console.log(`| ${r.name} | ${(r.macs / 1e6).toFixed(2)} | ${r.one.toFixed(3)} | ${r.two.toFixed(3)} | **${(r.one / r.two).toFixed(2)}x** |`);
        }
      }
      await page.close();
      await server.close();
    }
    await browser.close();
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

if (args.includes('--copies')) await useWasm();
else if (!await useThreadedWasm()) throw new Error("tfjs-wasm's threaded build did not start");
console.log(`tfjs-wasm heap: ${args.includes('--copies') ? 'not shared (threaded calls copy)' : 'shared (no copies)'}`);
setThreads(THREADS);
await ready();
const load0 = loadavg()[0];
if (args.includes('--browser')) await browser();  // with --sweep, also the isolated page's sweep
else if (args.includes('--sweep')) sweep();
else if (args.includes('--model')) await model();
else layers();
console.log(`\n1-minute load average: ${load0.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after (2 cores)`);
