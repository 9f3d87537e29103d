// Leak audit: every public entry point in a loop, after a warm-up, must leave tf.memory()'s tensor
// count and bytes where they were; and the tfjs-wasm heap (a WebAssembly.Memory, which only grows)
// must not grow across 1,000 mask updates and 1,000 sparse inference calls.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {applyMask, blockPool, blockSparseMatMul, ConstantSparsity, countNonzero, expandBlockMask, fastMatMul,
  kthLargestMagnitude, magnitudeThreshold, maskFromThreshold, mByNMask, packBlockSparse, pruneLowMagnitude,
  pruneMask, stripPruning, toSparse, unpackBlockSparse, UpdatePruningStep} from '../src/index';
import {wasmHeapMemory} from '../src/kernels/bridge';
import {BACKENDS, blockSparseWeight, normal, useBackend} from './helpers';

/** Rounds per entry point after the warm-up. */
const ROUNDS = 20;

/** Runs `fn` twice to warm up, then ROUNDS times, asserting tensor count and bytes stay constant. */
async function steady(what: string, fn: () => unknown): Promise<void> {
  for (let i = 0; i < 2; i++) await fn();
  const before = tf.memory();
  for (let i = 0; i < ROUNDS; i++) await fn();
  const after = tf.memory();
  assert.is(after.numTensors, before.numTensors, `${what}: tensors ${before.numTensors} -> ${after.numTensors}`);
  assert.is(after.numBytes, before.numBytes, `${what}: bytes ${before.numBytes} -> ${after.numBytes}`);
}

/** The byte length of the tfjs-wasm heap. */
function heapBytes(): number {
  assert.is(tf.getBackend(), 'wasm');
  return wasmHeapMemory(tf.backend() as unknown as Parameters<typeof wasmHeapMemory>[0]).buffer.byteLength;
}

/** Runs `fn` 1,000 times after 50 warm-up calls, asserting tensors, bytes and the wasm heap stay constant. */
async function heapSteady(what: string, fn: () => unknown): Promise<void> {
  for (let i = 0; i < 50; i++) await fn();
  const before = tf.memory(), heap = heapBytes();
  for (let i = 0; i < 1000; i++) await fn();
  assert.is(tf.memory().numTensors, before.numTensors, `${what}: tensors`);
  assert.is(tf.memory().numBytes, before.numBytes, `${what}: bytes`);
  assert.is(heapBytes(), heap, `${what}: the wasm heap grew from ${heap} to ${heapBytes()} bytes`);
}

function denseModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({units: 32, inputShape: [64], activation: 'relu'}));
  model.add(tfl.layers.dense({units: 16}));
  return model;
}

/** A memory IOHandler pair: saves into `store`, loads from it. */
async function saveAndLoad(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async artifacts => {
    saved = artifacts;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  return tfl.loadLayersModel(tf.io.fromMemory(saved!));
}

const ops = suite('leaks: ops');

for (const backend of BACKENDS) {
  ops(`every kernel op keeps tensors and bytes constant in a loop on ${backend}`, async () => {
    await useBackend(backend);
    const w = tf.tensor2d(normal(48 * 40, 1), [48, 40]);
    const mask = tf.tensor2d(normal(48 * 40, 2).map(v => (v > 0 ? 1 : 0)), [48, 40]);
    const blockMask = tf.tensor2d(normal(12 * 10, 3).map(v => (v > 0 ? 1 : 0)), [12, 10]);
    const x = tf.tensor2d(normal(4 * 48, 4), [4, 48]);
    const sparseW = tf.tensor2d(blockSparseWeight(48, 40, [1, 4], 0.8, 5), [48, 40]);
    const calls: Array<[string, () => tf.Tensor|tf.Tensor[]]> = [
      ['maskFromThreshold', () => maskFromThreshold(w, 0.5)],
      ['applyMask', () => applyMask(w, mask)],
      ['countNonzero', () => countNonzero(w)],
      ['kthLargestMagnitude', () => kthLargestMagnitude(w, 100)],
      ['magnitudeThreshold', () => magnitudeThreshold(w, 0.8)],
      ['blockPool', () => blockPool(w, [4, 4], 'AVG')],
      ['expandBlockMask', () => expandBlockMask(blockMask, [4, 4], [48, 40])],
      ['mByNMask', () => mByNMask(w, [2, 4])],
      ['pruneMask', () => { const r = pruneMask(w, 0.7, {blockSize: [2, 2]}); return [r.mask, r.threshold]; }],
      ['fastMatMul', () => fastMatMul(x, w)],
      ['packBlockSparse + unpackBlockSparse', () => {
        const packed = packBlockSparse(sparseW, {blockSize: [1, 4], dtype: 'int8'});
        const back = unpackBlockSparse(packed);
        packed.dispose();
        return back;
      }],
      ['blockSparseMatMul (every kernel)', () => {
        const packed = packBlockSparse(sparseW, {blockSize: [1, 4]});
        const ys = (['sparse', 'dense', 'tfMatMul'] as const).map(kernel => blockSparseMatMul(x, packed, {kernel, activation: 'relu'}));
        packed.dispose();
        return ys;
      }],
    ];
    for (const [name, call] of calls) await steady(`${name} on ${backend}`, () => tf.dispose(call()));
    tf.dispose([w, mask, blockMask, x, sparseW]);
  });
}

// ---

const models = suite('leaks: models');

models('pruneLowMagnitude + fit, stripPruning, toSparse + predict, save/load keep tensors and bytes constant', async () => {
  await useBackend('wasm');
  const x = tf.tensor2d(normal(32 * 64, 6), [32, 64]), y = tf.tensor2d(normal(32 * 16, 7), [32, 16]);
  // A pruned model trained for a few steps per round, stripped and predicted (stripPruning shares
  // the inner layers, so it adds no tensors).
  const pruned = pruneLowMagnitude(denseModel(), {pruningSchedule: new ConstantSparsity({targetSparsity: 0.8, beginStep: 0, frequency: 1})});
  pruned.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  await steady('pruneLowMagnitude model: fit + stripPruning + predict', async () => {
    await pruned.fit(x, y, {batchSize: 8, epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
    tf.dispose(stripPruning(pruned).predict(x) as tf.Tensor);
  });
  // One stripped model, converted to sparse each round (f32 and int8), predicted, saved and reloaded.
  const stripped = stripPruning(pruned);
  for (const dtype of ['float32', 'int8'] as const) {
    await steady(`toSparse(${dtype}) + predict + dispose`, async () => {
      const {model} = await toSparse(stripped, {dtype});
      tf.dispose(model.predict(x) as tf.Tensor);
      model.dispose();
    });
  }
  const {model: sparse} = await toSparse(stripped, {dtype: 'int8'});
  await steady('save/load (withSaveHandler, fromMemory) of a sparse model', async () => {
    const loaded = await saveAndLoad(sparse);
    tf.dispose(loaded.predict(x) as tf.Tensor);
    loaded.dispose();
  });
  await steady('save/load of a pruned model', async () => {
    const loaded = await saveAndLoad(pruned);
    loaded.dispose();
  });
  sparse.dispose();
  pruned.dispose();  // stripped shares its layers: dispose one of the two (RELIABILITY.md)
  tf.dispose([x, y]);
});

// ---

const heap = suite('leaks: wasm heap');

heap('1,000 mask updates (pruneMask + applyMask on a fixed weight) do not grow the wasm heap', async () => {
  await useBackend('wasm');
  const w = tf.tensor2d(normal(256 * 128, 8), [256, 128]);
  let sparsity = 0;
  await heapSteady('pruneMask + applyMask', () => {
    sparsity = (sparsity + 0.013) % 0.95;
    const {mask, threshold} = pruneMask(w, sparsity, {blockSize: sparsity > 0.5 ? [1, 4] : [1, 1]});
    const masked = applyMask(w, mask);
    tf.dispose([mask, threshold, masked]);
  });
  w.dispose();
});

heap('1,000 sparse inference calls (blockSparseMatMul, SparseDense predict) do not grow the wasm heap', async () => {
  await useBackend('wasm');
  const x = tf.tensor2d(normal(8 * 256, 9), [8, 256]);
  for (const dtype of ['float32', 'int8'] as const) {
    const w = tf.tensor2d(blockSparseWeight(256, 128, [1, 16], 0.9, 10), [256, 128]);
    const packed = packBlockSparse(w, {blockSize: [1, 16], dtype});
    await heapSteady(`blockSparseMatMul ${dtype}`, () => tf.dispose(blockSparseMatMul(x, packed, {kernel: 'sparse'})));
    packed.dispose();
    w.dispose();
  }
  const model = tfl.sequential();
  model.add(tfl.layers.dense({units: 128, inputShape: [256], activation: 'relu'}));
  model.layers[0].setWeights([tf.tensor2d(blockSparseWeight(256, 128, [1, 16], 0.9, 11), [256, 128]), tf.zeros([128])]);
  const {model: sparse, report} = await toSparse(model, {dtype: 'int8'});
  assert.ok(JSON.stringify(report).includes('SparseDense'), 'the layer was converted');
  await heapSteady('SparseDense predict', () => tf.dispose(sparse.predict(x) as tf.Tensor));
  sparse.dispose();
  model.dispose();
  x.dispose();
});

ops.run();
models.run();
heap.run();
