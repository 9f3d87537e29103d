// End-to-end batch-1 latency of nsfwjs 4.4.0's MobileNetV2 (a tfjs layers model shipped inside the
// npm package), pruned one-shot by magnitude to 80 % and 90 % in its 1x1 convolutions and Dense
// layers (the first convolution and the depthwise layers stay dense, as in Fast Sparse ConvNets),
// converted by toSparse, against the same dense model on tfjs-wasm; with a breakdown by layer type.
//
//   node --import tsx bench/models.ts                  once: npm pack nsfwjs@4.4.0 into bench/.cache/
//   node --import tsx bench/mobilenet.ts               Node, wasm backend (3 alternating runs, ranges)
//   node --import tsx bench/mobilenet.ts --runs=5
//   node --import tsx bench/mobilenet.ts --browser     headless Chromium (/usr/bin/chromium), plain page
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {foldForInference, toSparse, ToSparseOptions} from '../src/index';
import {planChannelMajor, toChannelMajor} from '../src/sparse/channel_major';
import {ensurePackage, loadPackagedModel, NSFWJS_MOBILENET_V2, prunePointwise} from './models';
import {openBenchPage} from './page';
import {timeAlternating, useWasm} from './util';

const args = process.argv.slice(2);
const RUNS = Number(args.find(a => a.startsWith('--runs='))?.slice(7) ?? 3);

/** The layer-type column of a layer in the breakdown. */
function layerType(layer: tfl.layers.Layer): string {
  const c = layer.getClassName();
  const k = layer.getConfig().kernelSize as number[]|undefined;
  if ((c === 'Conv2D' || c === 'SparseConv2D') && k?.every(v => v === 1)) return '1x1 conv';
  if (c === 'DepthwiseConv2D' || c === 'DepthwiseConv2DChannelsFirst') return 'depthwise';
  if (c === 'Permute') return 'transposes';
  if (c === 'BatchNormalization' || c === 'ReLU') return 'BatchNorm, ReLU';
  return 'the rest';
}

const TYPES = ['1x1 conv', 'depthwise', 'transposes', 'BatchNorm, ReLU', 'the rest'];

/**
 * Milliseconds per layer type: the model's layers called one at a time in order (each the fastest
 * of `reps` passes; wasm ops run synchronously, so a layer's call is its whole cost).
 */
function breakdown(model: tfl.LayersModel, x: tf.Tensor, reps = 15): Record<string, number> {
  const best = new Map<tfl.layers.Layer, number>();
  for (let r = 0; r < reps; r++) {
    const out = new Map<tfl.layers.Layer, tf.Tensor>();
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer') {
        out.set(layer, x);
        continue;
      }
      const ins = layer.inboundNodes[0].inboundLayers.map(l => out.get(l as tfl.layers.Layer)!);
      const t0 = performance.now();
      const y = layer.apply(ins.length === 1 ? ins[0] : ins) as tf.Tensor;
      best.set(layer, Math.min(best.get(layer) ?? Infinity, performance.now() - t0));
      out.set(layer, y);
    }
    for (const t of out.values()) if (t !== x) t.dispose();
  }
  const sums: Record<string, number> = Object.fromEntries(TYPES.map(t => [t, 0]));
  for (const [layer, ms] of best) sums[layerType(layer)] += ms;
  return sums;
}

/**
 * max |want - got| / max |want| over the softmax outputs and over the 128 features that feed the
 * last Dense layer (the softmax of a pruned model can saturate to exact 0 and 1).
 */
function maxRelativeError(dense: tfl.LayersModel, sparse: tfl.LayersModel, x: tf.Tensor): number {
  const features = (m: tfl.LayersModel) => tfl.model({inputs: m.inputs, outputs: [m.outputs[0],
    m.getLayer(FEATURES).output as tfl.SymbolicTensor]});
  const want = features(dense).predict(x) as tf.Tensor[], got = features(sparse).predict(x) as tf.Tensor[];
  const err = Math.max(...want.map((w, i) => relativeError(w, got[i])));
  tf.dispose([...want, ...got]);
  return err;
}

/** The layer whose output feeds nsfwjs's final Dense layer. */
const FEATURES = 'dense_2';

function relativeError(want: tf.Tensor, got: tf.Tensor): number {
  const a = want.dataSync(), b = got.dataSync();
  let err = 0, top = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    top = Math.max(top, Math.abs(a[i]));
  }
  return err / top;
}

/** toSparse with every pixel-kernel 1x1 convolution in a channel-major run of its own (a transpose in and out). */
async function perLayerTransposes(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const {model: last} = await toSparse(model, {layout: 'channelsLast'});
  const plan = planChannelMajor(last);
  if (typeof plan === 'string') throw new Error(plan);
  for (const [node, role] of [...plan.roles]) if (role !== 'pixelConv') plan.roles.delete(node);
  const moved = toChannelMajor(last, plan);
  last.dispose();
  return moved;
}

interface Variant {name: string; sparsity: number; make: (dense: tfl.LayersModel) => Promise<tfl.LayersModel>}

const VARIANTS: Variant[] = [
  {name: 'dense, BatchNorm folded (tfjs ops)', sparsity: 0.9, make: async m => foldForInference(m).model},
  {name: '90 % f32, toSparse', sparsity: 0.9, make: async m => (await toSparse(m)).model},
  {name: '90 % int8, toSparse', sparsity: 0.9, make: async m => (await toSparse(m, {dtype: 'int8'})).model},
  {name: '80 % f32, toSparse', sparsity: 0.8, make: async m => (await toSparse(m)).model},
  {name: '90 % f32, per-layer transposes', sparsity: 0.9, make: perLayerTransposes},
  {name: "90 % f32, layout 'channelsLast' (strip kernels)", sparsity: 0.9,
    make: async m => (await toSparse(m, {layout: 'channelsLast'} as ToSparseOptions)).model},
];

const fmt = (v: number[]) => {
  const lo = Math.min(...v), hi = Math.max(...v);
  return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}-${hi.toFixed(2)}`;
};

async function node(): Promise<void> {
  await useWasm();
  ensurePackage(NSFWJS_MOBILENET_V2);
  const dense: Record<number, tfl.LayersModel> = {};
  for (const s of [0.8, 0.9]) {
    dense[s] = await loadPackagedModel(NSFWJS_MOBILENET_V2);
    prunePointwise(dense[s], s);
  }
  const x = tf.randomUniform([1, 224, 224, 3]);
  const rows: string[] = [];
  const breakdowns: string[] = [];
  const denseBreakdown = breakdown(dense[0.9], x);
  breakdowns.push(`| dense (as shipped) | ${TYPES.map(t => denseBreakdown[t].toFixed(2)).join(' | ')} |`);
  for (const v of VARIANTS) {
    const model = await v.make(dense[v.sparsity]);
    const err = maxRelativeError(dense[v.sparsity], model, x);
    const ratios: number[] = [], denseMs: number[] = [], oursMs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const res = timeAlternating(`${v.name} (run ${r + 1})`, () => (dense[v.sparsity].predict(x) as tf.Tensor).dispose(),
          () => (model.predict(x) as tf.Tensor).dispose(), {rounds: 15});
      ratios.push(res.ratio);
      denseMs.push(res.baselineMs);
      oursMs.push(res.candidateMs);
    }
    rows.push(`| ${v.name} | ${fmt(denseMs)} | ${fmt(oursMs)} | **${fmt(ratios)}x** | ${err.toExponential(1)} |`);
    const b = breakdown(model, x);
    breakdowns.push(`| ${v.name} | ${TYPES.map(t => b[t].toFixed(2)).join(' | ')} |`);
    model.dispose();
  }
  console.log(`\n### nsfwjs MobileNetV2, batch 1, Node ${process.version}, wasm backend (${RUNS} runs)\n`);
  console.log('| model | dense ms | ours ms | speedup | max rel. error vs dense |\n|---|---|---|---|---|');
  console.log(rows.join('\n'));
  console.log('\n### Breakdown by layer type, ms (layers called one at a time, fastest of 15)\n');
  console.log(`| model | ${TYPES.join(' | ')} |\n|---|${TYPES.map(() => '---|').join('')}`);
  console.log(breakdowns.join('\n'));
  x.dispose();
}

// --- Chromium ----------------------------------------------------------------------------------

// Plain JavaScript run in the page: load the pruned dense model, convert it there, time both
// alternately (fastest of many short batches), check the outputs, and break the time down by type.
const PAGE_BENCH = `(async ({rounds, runs}) => {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  const sp = await import('tfjs-sparsity');
  const dense = await tfl.loadLayersModel('/model/model.json');
  const x = tf.randomUniform([1, 224, 224, 3]);
  const once = (m) => { const t0 = performance.now(); tf.dispose(m.predict(x)); return performance.now() - t0; };
  const out = [];
  for (const [name, options] of [['90 % f32, toSparse', {}], ['90 % int8, toSparse', {dtype: 'int8'}]]) {
    const {model} = await sp.toSparse(dense, options);
    for (let i = 0; i < 5; i++) { once(dense); once(model); }
    // The softmax outputs and the 128 features before the last Dense layer (a softmax can saturate).
    const both = (m) => tfl.model({inputs: m.inputs, outputs: [m.outputs[0], m.getLayer('dense_2').output]});
    const a = both(dense).predict(x), b = both(model).predict(x);
    let err = 0;
    for (let k = 0; k < 2; k++) {
      const av = a[k].dataSync(), bv = b[k].dataSync();
      let e = 0, top = 0;
      for (let i = 0; i < av.length; i++) { e = Math.max(e, Math.abs(av[i] - bv[i])); top = Math.max(top, Math.abs(av[i])); }
      err = Math.max(err, e / top);
    }
    tf.dispose([...a, ...b]);
    for (let r = 0; r < runs; r++) {
      let d = Infinity, s = Infinity;
      for (let i = 0; i < rounds; i++) { d = Math.min(d, once(dense)); s = Math.min(s, once(model)); }
      out.push({name, run: r, denseMs: d, oursMs: s, err});
    }
    model.dispose();
  }
  x.dispose();
  return out;
})`;

async function browser(): Promise<void> {
  await useWasm();
  ensurePackage(NSFWJS_MOBILENET_V2);
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-mobilenet-'));
  try {
    const model = await loadPackagedModel(NSFWJS_MOBILENET_V2);
    prunePointwise(model, 0.9);
    await model.save(tf.io.withSaveHandler(async a => {
      writeFileSync(join(dir, 'model.json'), JSON.stringify({modelTopology: a.modelTopology, format: a.format,
        generatedBy: a.generatedBy, convertedBy: a.convertedBy,
        weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}));
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    const page = await openBenchPage(dir, {'/model/': dir});
    const info = page.info, version = page.version;
    const results = await page.evaluate(`${PAGE_BENCH}({rounds: 30, runs: ${RUNS}})`) as
        Array<{name: string; denseMs: number; oursMs: number; err: number}>;
    await page.close();
    console.log(`\n### nsfwjs MobileNetV2, batch 1, headless Chromium ${version}, page ${JSON.stringify(info)}\n`);
    console.log('| model | dense ms | ours ms | speedup | max rel. error vs dense |\n|---|---|---|---|---|');
    for (const name of [...new Set(results.map(r => r.name))]) {
      const rs = results.filter(r => r.name === name);
      console.log(`| ${name} | ${fmt(rs.map(r => r.denseMs))} | ${fmt(rs.map(r => r.oursMs))} | ` +
          `**${fmt(rs.map(r => r.denseMs / r.oursMs))}x** | ${rs[0].err.toExponential(1)} |`);
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

if (args.includes('--browser')) await browser();
else await node();
