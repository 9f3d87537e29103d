/**
 * One-shot pruning accuracy on the MNIST digits of the `mnist` package, no fine-tuning: the demo
 * CNN and an MLP 784-300-100-10, each trained here with fixed seeds, pruned at 50/70/80/90 %
 * unstructured by magnitude, Wanda and OBC (SparseGPT), with uniform and sensitivity allocation;
 * then one-shot + one fine-tuning epoch at the one-shot masks. Prints markdown tables for
 * BENCHMARKS.md and writes bench-results/one_shot.json.
 *
 *   node --import tsx bench/one_shot.ts [--samples 256] [--quick] [--only mlp|cnn]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdirSync, writeFileSync} from 'node:fs';
import {
  analyzeSensitivity, OneShotMethod, pruneLowMagnitudeFromOneShot, pruneOneShot, SensitivityResult, stripPruning,
  UpdatePruningStep,
} from '../src/index';
import {loadMnist} from '../src/cli/mnist';
import {mulberry32} from '../src/util/random';
import {saveModel} from '../src/cli/model_files';
import {accuracy, buildCnn, compileForMnist, splitTensors} from '../src/cli/mnist_cnn';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SAMPLES = flag('--samples', 256);
const QUICK = args.includes('--quick');
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const SPARSITIES = QUICK ? [0.7, 0.9] : [0.5, 0.7, 0.8, 0.9];
const METHODS: OneShotMethod[] = ['magnitude', 'wanda', 'obc'];

function buildMlp(seed = 7): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({seed: seed + s});
  return tfl.sequential({layers: [
    tfl.layers.flatten({inputShape: [28, 28, 1], name: 'flatten'}),
    tfl.layers.dense({units: 300, activation: 'relu', kernelInitializer: init(1), name: 'fc1'}),
    tfl.layers.dense({units: 100, activation: 'relu', kernelInitializer: init(2), name: 'fc2'}),
    tfl.layers.dense({units: 10, kernelInitializer: init(3), name: 'logits'}),
  ]});
}

/** Trains with a seeded order per epoch (tfjs-layers' `shuffle` uses Math.random). */
async function train(model: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor, epochs: number, seed = 99): Promise<void> {
  compileForMnist(model);
  const random = mulberry32(seed);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = Array.from({length: xs.shape[0]}, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const [x, y] = tf.tidy(() => {
      const idx = tf.tensor1d(order, 'int32');
      return [tf.gather(xs, idx), tf.gather(ys, idx)];
    });
    await model.fit(x, y, {epochs: 1, batchSize: 64, shuffle: false, verbose: 0});
    tf.dispose([x, y]);
  }
}

interface Row {model: string; sparsity: number; method: string; allocation: string; accuracy: number; sparsityReached: number}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  const data = loadMnist();
  const {xs, ys} = splitTensors(data.train);
  const calibration = tf.slice(xs, 0, SAMPLES);
  const rows: Row[] = [];
  const fineTune: Array<Record<string, unknown>> = [];
  const started = Date.now();
  const models = [['mlp', 'MLP 784-300-100-10', buildMlp, 3], ['cnn', 'demo CNN', () => buildCnn(), 5]] as const;
  for (const [id, name, build, epochs] of models.filter(([id]) => ONLY == null || id === ONLY)) {
    const dense = build();
    await train(dense, xs, ys, epochs);
    // Saved for the CLI (tfjs-sparsity sensitivity|prune bench-results/models/<id>/model.json).
    await saveModel(dense, `bench-results/models/${id}`);
    const denseAcc = accuracy(dense, data.test);
    console.error(`${name}: dense ${(100 * denseAcc).toFixed(2)} % (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    rows.push({model: name, sparsity: 0, method: 'dense', allocation: '-', accuracy: denseAcc, sparsityReached: 0});
    for (const method of METHODS) {
      const curves: SensitivityResult = await analyzeSensitivity(dense, calibration, {method, metric: 'kl'});
      for (const sparsity of SPARSITIES) {
        for (const allocation of ['uniform', 'sensitivity'] as const) {
          const result = await pruneOneShot(dense, {
            sparsity, method, allocation, sensitivity: curves, calibration: method === 'magnitude' && allocation === 'uniform' ? undefined : calibration,
          });
          const acc = accuracy(result.model, data.test);
          rows.push({model: name, sparsity, method, allocation, accuracy: acc, sparsityReached: result.sparsity});
          console.error(`  ${method} ${allocation} ${sparsity}: ${(100 * acc).toFixed(2)} % ` +
              `(reached ${(100 * result.sparsity).toFixed(1)} %, ${((Date.now() - started) / 1000).toFixed(0)} s)`);
          if (method === 'obc' && sparsity === 0.8) {
            const wrapped = pruneLowMagnitudeFromOneShot(result);
            compileForMnist(wrapped, 3e-4);
            await wrapped.fit(xs, ys, {epochs: 1, batchSize: 64, shuffle: false, verbose: 0,
                                       callbacks: [new UpdatePruningStep()]});
            const stripped = stripPruning(wrapped);
            const tuned = accuracy(stripped, data.test);
            fineTune.push({model: name, allocation, oneShot: acc, fineTuned: tuned, dense: denseAcc});
            console.error(`    + 1 epoch at the masks: ${(100 * tuned).toFixed(2)} %`);
            wrapped.optimizer.dispose();
            stripped.dispose();
          } else {
            result.model.dispose();
          }
        }
      }
    }
    dense.optimizer.dispose();
    dense.dispose();
  }
  tf.dispose([xs, ys, calibration]);
  printTables(rows, fineTune);
  mkdirSync('bench-results', {recursive: true});
  writeFileSync('bench-results/one_shot.json', JSON.stringify({samples: SAMPLES, rows, fineTune}, null, 1));
  console.error(`done in ${((Date.now() - started) / 1000).toFixed(0)} s, ${tf.memory().numTensors} tensors live`);
}

function printTables(rows: Row[], fineTune: Array<Record<string, unknown>>): void {
  const pct = (x: number) => (100 * x).toFixed(2);
  for (const model of [...new Set(rows.map(r => r.model))]) {
    const dense = rows.find(r => r.model === model && r.method === 'dense')!;
    console.log(`\n### ${model} (dense ${pct(dense.accuracy)} %, ${SAMPLES} calibration samples)\n`);
    console.log(`| method | allocation | ${SPARSITIES.map(s => `${100 * s} %`).join(' | ')} |`);
    console.log(`|---|---|${SPARSITIES.map(() => '---').join('|')}|`);
    for (const method of METHODS) {
      for (const allocation of ['uniform', 'sensitivity']) {
        const cells = SPARSITIES.map(s => {
          const r = rows.find(x => x.model === model && x.method === method && x.allocation === allocation && x.sparsity === s);
          return r ? pct(r.accuracy) : '-';
        });
        console.log(`| ${method} | ${allocation} | ${cells.join(' | ')} |`);
      }
    }
  }
  console.log('\n| model | allocation | dense | one-shot OBC 80 % | + 1 epoch at the masks |');
  console.log('|---|---|---|---|---|');
  for (const f of fineTune) {
    console.log(`| ${f.model} | ${f.allocation} | ${pct(f.dense as number)} | ${pct(f.oneShot as number)} | ${pct(f.fineTuned as number)} |`);
  }
}

await main();
