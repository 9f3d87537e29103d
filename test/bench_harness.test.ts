// The block-size trade-off harness (`tfjs-sparsity bench`) on a 2x2 subset, run as the built binary,
// checked against the models it saved.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {BenchResult, paretoFront, runBench} from '../src/cli/bench_cmd';
import {loadMnist} from '../src/cli/mnist';
import {accuracy} from '../src/cli/mnist_cnn';
import {packBlockSparse, planBlockSparseMatMul, SparseDense} from '../src/index';
import {folderBytes, useBackend} from './helpers';
import {runCli} from './spawn';

const harness = suite('tfjs-sparsity bench');

harness('paretoFront keeps the points no other point beats on both latency and accuracy', () => {
  const points = [{x: 1, y: 0.9}, {x: 2, y: 0.95}, {x: 2.5, y: 0.93}, {x: 3, y: 0.97}, {x: 0.5, y: 0.5}, {x: 3, y: 0.96}];
  assert.equal(paretoFront(points), [{x: 0.5, y: 0.5}, {x: 1, y: 0.9}, {x: 2, y: 0.95}, {x: 3, y: 0.97}]);
  assert.equal(paretoFront([]), []);
});

harness('bad --blocks and --sparsities are usage errors naming the flag', async () => {
  for (const [opts, pattern] of [[{blocks: '1x0'}, /--blocks: '1x0' must be HEIGHTxWIDTH/],
                                  [{sparsities: '0.5,1'}, /--sparsities: '1' must be a number in \[0, 1\)/]] as const) {
    try {
      await runBench({out: join(tmpdir(), 'never-written'), ...opts});
      assert.unreachable('runBench accepted a bad flag');
    } catch (e) {
      assert.is((e as Error).name, 'UsageError');
      assert.match((e as Error).message, pattern);
    }
  }
});

harness('tfjs-sparsity bench (the built binary): every point asked for, the bytes of the files it wrote, the ' +
        'kernels the dispatcher plans for its models, accuracies of the saved models', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-bench-'));
  try {
    const blocks = ['1x4', '1x16'], sparsities = [0.5, 0.9];
    const r = await runCli(['bench', '--quick', '--blocks', blocks.join(','), '--sparsities', sparsities.join(','), '--quiet',
                            '--out', out]);
    assert.is(r.code, 0, r.stderr);
    const result = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchResult;
    assert.equal(result.points.map(p => `${p.block}@${p.sparsity}`), blocks.flatMap(b => sparsities.map(s => `${b}@${s}`)));
    assert.equal(result.layerShape, [2028, 256]);
    assert.is(result.denseBytes, folderBytes(join(out, 'dense')));
    await useBackend('wasm');
    const test = loadMnist().test;
    for (const p of result.points) {
      const what = `${p.block}@${p.sparsity}`;
      const dir = join(out, 'models', `${p.block}-${p.sparsity}`);
      assert.is(p.modelBytes, folderBytes(dir), `${what}: bytes`);
      const model = await tfl.loadLayersModel(`file://${join(dir, 'model.json')}`);
      assert.is(accuracy(model, test), p.accuracy, `${what}: accuracy of the saved model`);
      // The hidden layer's kernel as saved, packed in the point's block: what the dispatcher runs at batch 1.
      const hidden = model.getLayer('hidden') as SparseDense;
      const values = hidden.decodedKernel();
      const zeros = values.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / values.length;
      assert.ok(Math.abs(zeros - p.sparsity) < 0.01, `${what}: the saved hidden kernel is ${zeros} sparse`);
      const kernel = tf.tensor2d(values, result.layerShape);
      const packed = packBlockSparse(kernel, {blockSize: p.block.split('x').map(Number) as [number, number]});
      assert.is(p.kernel, planBlockSparseMatMul([1, result.layerShape[0]], packed).kernel, `${what}: kernel`);
      tf.dispose(kernel);
      packed.dispose();
      model.dispose();
      assert.match(r.stdout, `${what}: kernel ${p.speedupBatch1.toFixed(2)}x (batch 1), ${p.speedupBatch32.toFixed(2)}x (batch 32); ` +
          `${p.modelBytes} bytes; accuracy ${(100 * p.accuracy).toFixed(2)}%`);
    }
    assert.match(r.stdout, /results: .*bench\.json\nreport: {2}.*report\.html/);
    // The report's table is bench.json's points: block, sparsity, kernel and bytes, row by row.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const rows = [...html.matchAll(/<tr>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map(m => [...m[1].matchAll(/<td>([^<]*)<\/td>/g)].map(c => c[1]));
    assert.equal(rows.map(c => [c[0], c[1], c[2], c[5]]), result.points.map(p => [p.block, String(p.sparsity), p.kernel, String(p.modelBytes)]));
    assert.is((html.match(/<canvas /g) ?? []).length, 4);
    assert.match(html, /Pareto front/);
  } finally {
    rmSync(out, {recursive: true, force: true});
  }
});

harness.run();
