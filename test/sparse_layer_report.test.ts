// What toSparse reports per layer (SparseLayerReport), and the strip width it chooses for the kernels.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {chooseKernelBlockWidth, SparseLayerReport, toSparse} from '../src/index';
import {packBlockSparse, planBlockSparseMatMul} from '../src/index';
import {SparseDense} from '../src/sparse/sparse_dense';
import {blockSparseWeight, useBackend} from './helpers';
import {functionalModel, sparsify} from './sparse_models';

const report = suite('SparseLayerReport');

report('reports every layer with weights, with sparsity, blocks, kernel and bytes', async () => {
  await useBackend('wasm');
  const model = functionalModel();
  sparsify(model, [1, 16], 0.9);
  const {model: sparse, report: entries} = await toSparse(model, {dtype: 'int8'});
  assert.equal(entries.map(e => e.name).sort(), ['branch', 'out', 'shared']);
  for (const e of entries as SparseLayerReport[]) {
    assert.is(e.className, 'Dense');
    assert.is(e.converted, true);
    assert.is(e.dtype, 'int8');
    assert.is(e.blockSource, 'chosen');
    assert.ok(e.sparsity! > 0.5 && e.sparsity! <= 1, `${e.name}: ${e.sparsity}`);
    assert.ok(e.kernelBlockSize![0] === 1 && [1, 4, 8, 16].includes(e.kernelBlockSize![1]));
    assert.ok(e.kernelDensity! >= 1 - e.sparsity! - 1e-9 && e.kernelDensity! <= 1, `${e.name}: kernel density ${e.kernelDensity}`);
    assert.is(e.kernel!.backend, 'wasm');
    assert.ok(e.bytesAfter < e.bytesBefore);
  }
  // The shared layer stays shared: one SparseDense applied twice.
  const shared = sparse.getLayer('shared');
  assert.ok(shared instanceof SparseDense);
  assert.is(shared.inboundNodes.length, 2);
  sparse.dispose();
  model.dispose();
});

report('chooseKernelBlockWidth picks the strip width the dispatcher runs sparse most often', async () => {
  await useBackend('wasm');
  const [K, N] = [256, 64];
  for (const dtype of ['float32', 'int8'] as const) {
    assert.is(chooseKernelBlockWidth(blockSparseWeight(K, N, [1, 16], 0.9, 1), [K, N], dtype), 16, `1x16-pruned, ${dtype}`);
    const w = blockSparseWeight(K, N, [1, 1], 0.8, 2);
    const chosen = chooseKernelBlockWidth(w, [K, N], dtype);
    const wt = tf.tensor2d(w, [K, N]);
    const sparseBatches = (bw: number) => {
      const packed = packBlockSparse(wt, {blockSize: [1, bw], dtype});
      const count = [1, 32].filter(b => planBlockSparseMatMul([b, K], packed).kernel === 'sparse').length;
      packed.dispose();
      return count;
    };
    // An unstructured weight packs into nearly full 1x16 strips, which int8 still runs fastest.
    if (dtype === 'int8') assert.is(chosen, 16, 'int8, 80 % unstructured');
    const best = sparseBatches(chosen);
    for (const bw of [1, 4, 8, 16]) assert.ok(sparseBatches(bw) <= best, `${dtype}: width ${bw} runs sparse more often than ${chosen}`);
    wt.dispose();
  }
  assert.is(chooseKernelBlockWidth(blockSparseWeight(8, 3, [1, 1], 0.5, 3), [8, 3], 'float32'), 1, 'N < 4 leaves the scalar layout');
});

report.run();

