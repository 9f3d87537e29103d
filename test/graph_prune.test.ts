import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {pruneGraphWeights} from '../src/index';
import {rejects, useBackend} from './helpers';
import {tinyGraph} from './graph_helpers';

const zeros = (t: tf.Tensor) => Array.from(t.dataSync()).filter(v => v === 0).length / t.size;

const prune = suite('pruneGraphWeights');

prune("pruneGraphWeights(model, {targetSparsity: 0.9}) prunes the 1x1 and MatMul kernels of a new model, leaving the given one as it was", async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(1, {sparsity: 0});
  const before = tf.memory().numTensors;
  const {model, report} = await pruneGraphWeights(dense, {targetSparsity: 0.9});
  assert.equal(report.map(r => r.node), ['expand', 'project', 'last', 'logits']);
  for (const r of report) {
    assert.ok(Math.abs(r.sparsity - 0.9) < 0.03, `${r.weight}: ${r.sparsity}`);
    assert.ok(Math.abs(zeros(model.weights[r.weight][0]) - r.sparsity) < 1e-9);
    assert.is(zeros(dense.weights[r.weight][0]), 0, 'the given model is unchanged');
  }
  assert.is(zeros(model.weights['stem/weights'][0]), 0, 'the 3x3 stem is not pruned by default');
  model.dispose();
  assert.is(tf.memory().numTensors, before);
  dense.dispose();
});

prune("nodes 'all' prunes k×k kernels too; blocks are aligned; M:N keeps n - m of every n input channels", async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(2, {sparsity: 0});
  const all = await pruneGraphWeights(dense, {targetSparsity: 0.5, nodes: 'all'});
  assert.ok(all.report.some(r => r.node === 'stem'));
  all.model.dispose();
  const blocks = await pruneGraphWeights(dense, {targetSparsity: 0.75, blockSize: [1, 4], blockPoolingType: 'MAX'});
  const w = tf.reshape(blocks.model.weights['expand/weights'][0], [8, 24]).arraySync() as number[][];
  for (const row of w) for (let c = 0; c < 24; c += 4) {
    const block = row.slice(c, c + 4);
    assert.ok(block.every(v => v === 0) || block.every(v => v !== 0), `block ${block}`);
  }
  blocks.model.dispose();
  const nm = await pruneGraphWeights(dense, {targetSparsity: 0, sparsityMByN: [2, 4]});
  const k = tf.reshape(nm.model.weights['last/weights'][0], [8, 32]).arraySync() as number[][];
  for (let o = 0; o < 32; o++) for (let g = 0; g < 8; g += 4) {
    assert.is([0, 1, 2, 3].filter(i => k[g + i][o] !== 0).length, 2);
  }
  // logits is [32, 5] as stored: groups along its 32 inputs.
  const l = nm.model.weights['logits/weights'][0].arraySync() as number[][];
  assert.is(l.slice(0, 4).filter(r => r[0] !== 0).length, 2);
  nm.model.dispose();
  dense.dispose();
});

prune('pruneGraphWeights of transpose_b MatMul weights prunes along their input axis', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(3, {sparsity: 0, transposeB: true});
  const {model} = await pruneGraphWeights(dense, {targetSparsity: 0, sparsityMByN: [3, 4]});
  const l = model.weights['logits/weights'][0].arraySync() as number[][];  // [5, 32]
  for (const row of l) for (let g = 0; g < 32; g += 4) assert.is(row.slice(g, g + 4).filter(v => v !== 0).length, 1);
  model.dispose();
  dense.dispose();
});

prune('bad arguments throw naming them', async () => {
  await useBackend('wasm');
  const dense = await tinyGraph(4);
  const before = tf.memory().numTensors;
  await rejects(() => pruneGraphWeights({} as never, {targetSparsity: 0.5}), /'model' passed to 'pruneGraphWeights' must be a tf.GraphModel/);
  await rejects(() => pruneGraphWeights(dense, {targetSparsity: 1}), /'targetSparsity'.*\[0, 1\)/);
  await rejects(() => pruneGraphWeights(dense, {targetSparsity: 0.5, blockSize: [0, 4]}), /'blockSize'/);
  await rejects(() => pruneGraphWeights(dense, {targetSparsity: 0.5, sparsityMByN: [4, 2]}), /'mByN'.*m smaller than n/);
  await rejects(() => pruneGraphWeights(dense, {targetSparsity: 0.5, nodes: 'some'} as never), /'nodes'.*'pointwise', 'all'/);
  await rejects(() => pruneGraphWeights(dense, {targetSparsity: 0.5, sparsity: 1} as never), /unknown option 'sparsity'/);
  assert.is(tf.memory().numTensors, before);
  dense.dispose();
});

prune.run();
