// Training-step benchmark on tfjs-wasm (issue "pruning-aware training faster than plain tfjs-wasm"):
//   1. MLP 784-1024-1024-10, batch 64, SGD: plain unpruned tfjs-wasm vs the same model pruned to 80%
//      (our fast Dense path), and vs plain + enableFastTraining();
//   2. the demo's MNIST CNN (`buildCnn()`), batch 64, Adam: pruned to 80% vs unpruned;
//   3. one mask update (all layers), as a fraction of 100 pruned training steps;
//   4. sparse vs dense masked products: maskedDense with a 0/1 mask (the sparse kernels, below the
//      density threshold) vs the same layer on the pre-masked kernel (the dense 4x8 GEMM), forward and
//      forward + dX, at several densities and batches (this sets SPARSE_FORWARD / SPARSE_DX in
//      src/kernels/kernel_tuning.ts);
//   5. the two backward products of the MLP's middle layer (M = 64, K = N = 1024) three ways: the
//      stock transposed tf.matMul, tf.transpose + untransposed tf.matMul (XNNPACK), and fastMatMul.
// Steps are `model.trainOnBatch` (what `fit` runs per batch, loss read back); the models are timed
// in interleaved rounds and each reports its median step. Run: node --import tsx bench/train.ts
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {applyMask, ConstantSparsity, disableFastTraining, enableFastTraining, fastMatMul, maskedDense,
  pruneLowMagnitude,
  PruneLowMagnitude, UpdatePruningStep} from '../src/index';
import {buildCnn} from '../src/cli/mnist_cnn';
import {useWasm} from './util';

const BATCH = 64;
const SPARSITY = 0.8;
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const STEPS_PER_ROUND = Number(process.env.STEPS ?? 5);

function buildMlp(seed: number): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({seed: seed + s});
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [784], units: 1024, activation: 'relu', kernelInitializer: init(1)}),
    tfl.layers.dense({units: 1024, activation: 'relu', kernelInitializer: init(2)}),
    tfl.layers.dense({units: 10, kernelInitializer: init(3)}),
  ]});
}

const logitsLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred);

/**
 * Prunes `model` to `SPARSITY` now (one forced mask update), compiles it and sets the steps as
 * `UpdatePruningStep` does at train begin; the schedule's next update is at step 100.
 */
async function pruned(model: tfl.LayersModel, optimizer: () => tf.Optimizer): Promise<{model: tfl.LayersModel; wrappers: PruneLowMagnitude[]}> {
  const p = pruneLowMagnitude(model, {pruningSchedule: new ConstantSparsity({targetSparsity: SPARSITY, beginStep: 0, frequency: 100})});
  p.compile({optimizer: optimizer(), loss: logitsLoss});
  const wrappers = p.layers.filter((l): l is PruneLowMagnitude => l instanceof PruneLowMagnitude && l.maskWeights.length > 0);
  const cb = new UpdatePruningStep();
  cb.setModel(p);
  await cb.onTrainBegin();
  for (const w of wrappers) {
    w.pruningObj!.updateMasks(SPARSITY);
    w.pruningObj!.weightMaskOp();
  }
  return {model: p, wrappers};
}

interface Timed {name: string; run: () => Promise<void>; times: number[]}

async function step(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<void> {
  await model.trainOnBatch(x, y);
}

/** Interleaved rounds; returns the median step time (ms) of each entry. */
async function timeRounds(entries: Timed[]): Promise<Map<string, number>> {
  for (const e of entries) await e.run();  // warm-up (XNNPACK operators, kernel module instances)
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of entries) {
      for (let s = 0; s < STEPS_PER_ROUND; s++) {
        const t0 = performance.now();
        await e.run();
        e.times.push(performance.now() - t0);
      }
    }
  }
  const out = new Map<string, number>();
  for (const e of entries) {
    const t = [...e.times].sort((a, b) => a - b);
    out.set(e.name, t[t.length >> 1]);
  }
  return out;
}

function median(xs: number[]): number {
  const t = [...xs].sort((a, b) => a - b);
  return t[t.length >> 1];
}

/** Median time of one forced mask update of every wrapper (what the schedule runs every 100 steps). */
function maskUpdateMs(wrappers: PruneLowMagnitude[], runs = 7): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    for (const w of wrappers) w.pruningObj!.updateMasks(SPARSITY);
    for (const w of wrappers) w.pruningObj!.weightMaskOp();
    for (const w of wrappers) w.maskWeights[0].read().dataSync();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Run times in ms of `fn` (outputs disposed; wasm kernels run synchronously, so no read-back is needed). */
function runTimes(fn: () => tf.Tensor, runs: number): number[] {
  fn().dispose();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn().dispose();
    times.push(performance.now() - t0);
  }
  return times;
}

const medianMs = (fn: () => tf.Tensor, runs: number) => median(runTimes(fn, runs));
/** The minimum: on a shared machine contention only adds time, so it is the steadiest for short kernels. */
const minMs = (fn: () => tf.Tensor, runs: number) => Math.min(...runTimes(fn, runs));

/** The backward products of a Dense(1024 -> 1024) at batch 64, three ways. */
function products(): string[] {
  const [m, k, n] = [64, 1024, 1024];
  const x = tf.randomNormal([m, k], 0, 1, 'float32', 5), w = tf.randomNormal([k, n], 0, 1, 'float32', 6);
  const dy = tf.randomNormal([m, n], 0, 1, 'float32', 7);
  const gflops = (ms: number) => (2 * m * k * n / ms / 1e6).toFixed(1);
  const rows: string[] = [];
  const cases: Array<[string, () => tf.Tensor, () => tf.Tensor, () => tf.Tensor]> = [
    ['dX = dY·Wᵀ', () => tf.matMul(dy, w, false, true), () => tf.tidy(() => tf.matMul(dy, tf.transpose(w))),
      () => fastMatMul(dy, w, false, true)],
    ['dW = Xᵀ·dY', () => tf.matMul(x, dy, true, false), () => tf.tidy(() => tf.matMul(tf.transpose(x), dy)),
      () => fastMatMul(x, dy, true, false)],
  ];
  for (const [name, stock, transposed, fast] of cases) {
    const a = medianMs(stock, 3), b = medianMs(transposed, 9), c = medianMs(fast, 9);
    console.log(`${name}: stock ${a.toFixed(1)} ms, transpose + XNNPACK ${b.toFixed(1)} ms, fastMatMul ${c.toFixed(1)} ms`);
    rows.push(`| ${name} | ${a.toFixed(1)} (${gflops(a)}) | ${b.toFixed(1)} (${gflops(b)}) | ${c.toFixed(1)} (${gflops(c)}) | ` +
        `**${(a / c).toFixed(1)}x** |`);
  }
  tf.dispose([x, w, dy]);
  return rows;
}

/**
 * Sparse (0/1 mask) vs dense (pre-masked kernel) maskedDense, forward and forward + dX (tf.grad,
 * tape included), [batch, 1024] x [1024, 1024], minimum of 25 runs.
 */
function sparseVsDense(): string[] {
  const rows: string[] = [];
  const [k, n] = [1024, 1024];
  const w = tf.randomNormal([k, n], 0, 1, 'float32', 8);
  for (const m of [8, 32, 64]) {
    const x = tf.randomNormal([m, k], 0, 1, 'float32', 9);
    for (const density of [0.1, 0.2, 0.35, 0.5]) {
      const mask = tf.cast(tf.less(tf.randomUniform([k, n], 0, 1, 'float32', 10), density), 'float32');
      const wm = applyMask(w, mask);
      const sparseF = minMs(() => maskedDense(x, w, mask, null, 'relu'), 25);
      const denseF = minMs(() => maskedDense(x, wm, null, null, 'relu'), 25);
      const gradOf = (kernel: tf.Tensor, msk: tf.Tensor|null) => () =>
        tf.grad((xx: tf.Tensor) => tf.sum(maskedDense(xx, kernel, msk, null, 'relu')))(x);
      const sparseB = minMs(gradOf(w, mask), 25), denseB = minMs(gradOf(wm, null), 25);
      console.log(`sparse vs dense m=${m} density=${density}: forward ${sparseF.toFixed(2)} / ${denseF.toFixed(2)} ms, ` +
          `forward+dX ${sparseB.toFixed(2)} / ${denseB.toFixed(2)} ms`);
      rows.push(`| ${m} | ${density} | ${sparseF.toFixed(2)} | ${denseF.toFixed(2)} | **${(denseF / sparseF).toFixed(2)}x** | ` +
          `${sparseB.toFixed(2)} | ${denseB.toFixed(2)} | **${(denseB / sparseB).toFixed(2)}x** |`);
      tf.dispose([mask, wm]);
    }
    x.dispose();
  }
  w.dispose();
  return rows;
}

/**
 * Median training step of a model three ways (plain; plain with enableFastTraining; pruned to 80%)
 * and the cost of one mask update; returns a table row.
 */
async function compareSteps(name: string, build: () => tfl.Sequential, optimizer: () => tf.Optimizer,
                            x: tf.Tensor, y: tf.Tensor): Promise<string> {
  const plain = build();
  plain.compile({optimizer: optimizer(), loss: logitsLoss});
  const fastPlain = build();
  fastPlain.compile({optimizer: optimizer(), loss: logitsLoss});
  const p = await pruned(build(), optimizer);
  const res = await timeRounds([
    {name: 'plain', run: () => step(plain, x, y), times: []},
    {name: 'enableFastTraining', run: async () => {
      enableFastTraining();
      try {
        await step(fastPlain, x, y);
      } finally {
        disableFastTraining();
      }
    }, times: []},
    {name: 'pruned', run: () => step(p.model, x, y), times: []},
  ]);
  const base = res.get('plain')!, fast = res.get('enableFastTraining')!, pr = res.get('pruned')!;
  const upd = maskUpdateMs(p.wrappers);
  const share = 100 * upd / (100 * pr + upd);
  console.log(`${name} step: plain ${base.toFixed(1)} ms, plain+enableFastTraining ${fast.toFixed(1)} ms, ` +
      `pruned 80% ${pr.toFixed(1)} ms -> ${(base / pr).toFixed(2)}x; mask update ${upd.toFixed(2)} ms = ${share.toFixed(2)}% of 100 steps`);
  for (const m of [plain, fastPlain, p.model]) m.dispose();
  return `| ${name} | ${base.toFixed(1)} | ${fast.toFixed(1)} (${(base / fast).toFixed(1)}x) | ${pr.toFixed(1)} | ` +
      `**${(base / pr).toFixed(1)}x** | ${upd.toFixed(2)} ms = ${share.toFixed(2)}% |`;
}

async function main(): Promise<void> {
  await useWasm();
  tf.enableProdMode();
  console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()}, batch ${BATCH}, ${ROUNDS} rounds x ${STEPS_PER_ROUND} steps`);
  const only = process.env.ONLY;  // 'steps', 'sparse' or 'products' to run one part
  const rows: string[] = [];
  if (only == null || only === 'steps') {
    const mlpX = tf.randomNormal([BATCH, 784], 0, 1, 'float32', 1);
    const cnnX = tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 3);
    const y = tf.cast(tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2), 10), 'float32');
    rows.push(await compareSteps('MLP 784-1024-1024-10, SGD', () => buildMlp(1), () => tf.train.sgd(0.01), mlpX, y));
    rows.push(await compareSteps('MNIST CNN (buildCnn), Adam', () => buildCnn(), () => tf.train.adam(1e-3), cnnX, y));
    tf.dispose([mlpX, cnnX, y]);
  }
  if (only == null || only === 'sparse') {
    const sparseRows = sparseVsDense();
    console.log('\n| batch | mask density | sparse fwd ms | dense fwd ms | sparse vs dense | sparse fwd+dX ms | dense fwd+dX ms | sparse vs dense |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of sparseRows) console.log(r);
  }
  if (only == null || only === 'products') {
    const productRows = products();
    console.log('\n| M=64, K=N=1024 | stock tf.matMul ms (GFLOP/s) | tf.transpose + tf.matMul | fastMatMul | fastMatMul vs stock |');
    console.log('|---|---|---|---|---|');
    for (const r of productRows) console.log(r);
  }
  if (rows.length > 0) {
    console.log('\n| model, batch 64 | plain tfjs-wasm step ms | plain + enableFastTraining ms | pruned 80% step ms | ' +
        'pruned vs plain | one mask update (share of 100 steps) |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  }
}

await main();
