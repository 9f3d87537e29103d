// One-shot channel pruning of a pretrained MobileNetV2: the layers model inside the npm package
// `nsfwjs` 4.4.0 (224x224x3 -> 5 classes; Conv2D, DepthwiseConv2D, BatchNormalization, ReLU6,
// residual Add, ZeroPadding2D, AveragePooling2D, Flatten, Dense), fetched at bench time with
// `npm pack` (bench/models.ts). `shrinkModel(model, {sparsity})` removes 30 % and 50 % of the
// removable channels (L1 scores, 'uniform' allocation; the first 'global' row for comparison), with
// no fine-tuning (the package ships no training data). Reports parameters, file bytes (every model
// saved by our file handler as float32; nsfwjs ships uint8-quantized weights, 4x smaller than its
// float32 model), the outputs' change on random images, and batch-1 `predict` latency against the
// dense model on wasm and cpu, timed alternately in this process (bench/util.ts).
//   node --import tsx bench/mobilenet_channels.ts   (ROUNDS=8)
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {shrinkModel} from '../src/index';
import type {ChannelAllocation} from '../src/index';
import {modelBytes, saveModel} from '../src/cli/model_files';
import {loadPackagedModel, NSFWJS_MOBILENET_V2} from './models';
import {markdownTable, timeAlternating} from './util';
import type {CaseResult} from './util';

tf.env().set('PROD', true);
const ROUNDS = Number(process.env.ROUNDS ?? 8);

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  const dense = await loadPackagedModel(NSFWJS_MOBILENET_V2);
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-mobilenet-'));
  await saveModel(dense, join(dir, 'dense'));
  const x = tf.randomUniform([4, 224, 224, 3], -1, 1, 'float32', 3);
  const reference = dense.predict(x) as tf.Tensor;
  const variants: Array<[string, number, ChannelAllocation]> = [['30 %', 0.3, 'uniform'], ['50 %', 0.5, 'uniform'],
    ['30 % global', 0.3, 'global']];
  const rows: string[] = [];
  const shrunk: Array<[string, tfl.LayersModel]> = [];
  const denseBytes = modelBytes(join(dir, 'dense')).bytes;
  rows.push(`| dense | ${dense.countParams()} | ${denseBytes} | 1.00x | - | - |`);
  for (const [name, sparsity, allocation] of variants) {
    const {model, report} = await shrinkModel(dense, {sparsity, allocation});
    await saveModel(model, join(dir, name.replace(/\W+/g, '_')));
    const bytes = modelBytes(join(dir, name.replace(/\W+/g, '_'))).bytes;
    const y = model.predict(x) as tf.Tensor;
    const change = tf.tidy(() => tf.mean(tf.abs(tf.sub(y, reference))).dataSync()[0]);
    const same = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(y, -1), tf.argMax(reference, -1)), 'float32')).dataSync()[0]);
    y.dispose();
    rows.push(`| ${name} | ${model.countParams()} | ${bytes} | ${(denseBytes / bytes).toFixed(2)}x | ` +
        `${report.removedChannels} / ${report.removableChannels} | ${change.toFixed(4)} (top-1 same ${(100 * same).toFixed(0)} %) |`);
    if (name === '50 %') {
      console.log(`stops (50 %): ${report.stops.map(s => `${s.layer}: ${s.reason} (${s.channels})`).join('; ')}`);
    }
    shrunk.push([name, model]);
  }
  tf.dispose([x, reference]);
  console.log('\n| model | parameters | bytes (float32) | smaller | channels removed / removable | mean |Δ probability| on 4 random images |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);

  const results: CaseResult[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    await tf.ready();
    const input = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 5);
    const run = (m: tfl.LayersModel) => () => {
      const y = m.predict(input) as tf.Tensor;
      y.dataSync();
      y.dispose();
    };
    for (const [name, model] of shrunk) {
      results.push(timeAlternating(`${backend} batch 1, ${name}`, run(dense), run(model), {rounds: backend === 'cpu' ? 2 : ROUNDS}));
    }
    input.dispose();
  }
  console.log(`\n${markdownTable(results, 'dense')}`);
  for (const [, m] of shrunk) m.dispose();
  dense.dispose();
  rmSync(dir, {recursive: true, force: true});
}

await main();
