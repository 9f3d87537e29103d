// The CLI on graph models (`prune`, `convert`, `inspect`) and `bench --model` on a graph and a layers
// model, run as a user runs them: the built binary (`npm run build` first) in a separate process.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {fileSystem} from '../src/index';
import type {ModelBenchResult} from '../src/cli/bench_model_cmd';
import {saveModel} from '../src/cli/model_files';
import {dump} from 'npyjs';
import {normal, useBackend} from './helpers';
import {tinyGraph} from './graph_helpers';

const CLI = resolve('dist/cli.mjs');

function cli(args: string[]): {code: number; out: string; err: string} {
  const r = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8'});
  return {code: r.status ?? -1, out: r.stdout, err: r.stderr};
}

let dir = '';
let graphPath = '';
let layersPath = '';

const graph = suite('tfjs-sparsity on graph models (binary)');

graph.before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-cli-graph-'));
  const model = await tinyGraph(1, {sparsity: 0, size: 16});
  await model.save(fileSystem(join(dir, 'graph')));
  model.dispose();
  graphPath = join(dir, 'graph', 'model.json');
  const layers = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 2], filters: 16, kernelSize: 1, name: 'pw'}),
    tfl.layers.flatten({}),
    tfl.layers.dense({units: 32, activation: 'relu', name: 'hidden'}),
    tfl.layers.dense({units: 3, name: 'logits'}),
  ]});
  await saveModel(layers, join(dir, 'layers'));
  layers.dispose();
  layersPath = join(dir, 'layers', 'model.json');
  writeFileSync(npy(), Buffer.from(dump(normal(24 * 16 * 16 * 3, 5), [24, 16, 16, 3])));
});

/** Calibration samples for the graph model, as a .npy file. */
const npy = () => join(dir, 'graph-samples.npy');

graph.after(() => rmSync(dir, {recursive: true, force: true}));

graph('prune, convert and inspect a graph model', () => {
  const pruned = cli(['prune', graphPath, '--sparsity', '0.9', '--out', join(dir, 'pruned')]);
  assert.is(pruned.code, 0, pruned.err);
  assert.match(pruned.out, /expand\/weights \[1,1,8,24\] \(_FusedConv2D expand\): (89|90)\.\d+% sparse/);
  assert.match(pruned.out, /logits\/weights \[32,5\] \(_FusedMatMul logits\)/);
  const converted = cli(['convert', join(dir, 'pruned', 'model.json'), '--out', join(dir, 'sparse')]);
  assert.is(converted.code, 0, converted.err);
  const json = JSON.parse(converted.out.slice(0, converted.out.lastIndexOf('}') + 1));
  assert.equal(json.report.map((r: {name: string; kind: string}) => `${r.name}:${r.kind}`).filter((s: string) => !s.endsWith('elementwise')),
      ['stem:dense', 'expand:pixelConv', 'dw1:depthwise', 'project:pixelConv', 'dw2:depthwise', 'last:pixelConv', 'logits:sparse']);
  const inspected = cli(['inspect', join(dir, 'sparse', 'model.json'), '--json']);
  assert.is(inspected.code, 0, inspected.err);
  const rows = JSON.parse(inspected.out) as Array<{node: string; op: string; sparsity: number}>;
  const expand = rows.find(r => r.node === 'expand/channels_first')!;
  assert.is(expand.op, 'SparsityConv2DNCHW');
  assert.ok(expand.sparsity > 0.85);
  assert.ok(rows.some(r => r.node === 'stem' && r.sparsity < 0.1));
});

graph('prune --method obc --calibration file.npy prunes the 1x1 convolutions and the matmul of a graph model with a report', () => {
  const out = join(dir, 'obc');
  const r = cli(['prune', graphPath, '--sparsity', '0.7', '--method', 'obc', '--calibration', npy(), '--samples', '20',
    '--quiet', '--out', out]);
  assert.is(r.code, 0, r.err);
  for (const w of ['expand/weights \\[1,1,8,24\\]', 'project/weights', 'last/weights', 'logits/weights \\[32,5\\]']) {
    assert.match(r.out, new RegExp(`${w}.*: (69|70)\\.\\d+% sparse \\(target 70\\.00%, relative output error \\d`));
  }
  assert.not.match(r.out, /stem/, 'the 3x3 stem stays dense');
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /obc, uniform allocation/);
  const inspected = cli(['inspect', join(out, 'model.json'), '--json']);
  assert.is(inspected.code, 0, inspected.err);
  const rows = JSON.parse(inspected.out) as Array<{node: string; sparsity: number}>;
  assert.ok(Math.abs(rows.find(x => x.node === 'last')!.sparsity - 0.7) < 0.01, 'the saved model holds the pruned weights');
  assert.ok(rows.find(x => x.node === 'stem')!.sparsity < 0.1);
});

graph('sensitivity <graph model.json> writes the curves of its nodes; prune --allocation sensitivity meets the target', () => {
  const out = join(dir, 'graph-sensitivity');
  const r = cli(['sensitivity', graphPath, '--data', npy(), '--samples', '16', '--sparsities', '0.5,0.9', '--metric', 'mse',
    '--quiet', '--out', out]);
  assert.is(r.code, 0, r.err);
  const result = JSON.parse(readFileSync(join(out, 'sensitivity.json'), 'utf8')) as {layers: Array<{layer: string; values: number[]}>};
  assert.equal(result.layers.map(l => l.layer), ['expand', 'project', 'last', 'logits']);
  assert.ok(result.layers.every(l => l.values.length === 2 && l.values[1] > l.values[0]), JSON.stringify(result.layers));
  assert.match(r.out, /\| expand \| 192 \|/);
  const pruned = cli(['prune', graphPath, '--sparsity', '0.6', '--method', 'wanda', '--allocation', 'sensitivity', '--calibration',
    npy(), '--samples', '16', '--quiet', '--out', join(dir, 'graph-allocated')]);
  assert.is(pruned.code, 0, pruned.err);
  assert.match(pruned.out, /target \d+\.\d+%/);
  assert.match(readFileSync(join(dir, 'graph-allocated', 'report.html'), 'utf8'), /wanda, sensitivity allocation: 60\.\d+ %.*Per-layer sensitivity/s);
});

graph('prune of a graph model: --allocation best, --recalibrate-bn and --method wanda without data are usage errors (exit 2)', () => {
  const allocation = cli(['prune', graphPath, '--sparsity', '0.5', '--allocation', 'best', '--out', join(dir, 'never')]);
  assert.is(allocation.code, 2);
  assert.match(allocation.err, /--allocation must be one of 'uniform', 'erk', 'sensitivity'/);
  const sensitivity = cli(['prune', graphPath, '--sparsity', '0.5', '--allocation', 'sensitivity', '--out', join(dir, 'never')]);
  assert.is(sensitivity.code, 2);
  assert.match(sensitivity.err, /--calibration is needed/);
  const bn = cli(['prune', graphPath, '--sparsity', '0.5', '--recalibrate-bn', '--calibration', 'x.npy', '--out', join(dir, 'never')]);
  assert.is(bn.code, 2);
  assert.match(bn.err, /--recalibrate-bn applies to layers models/);
  const noData = cli(['prune', graphPath, '--sparsity', '0.5', '--method', 'wanda', '--out', join(dir, 'never')]);
  assert.is(noData.code, 2);
  assert.match(noData.err, /--calibration is needed by --method wanda/);
});

graph('convert --dtype int4 on a graph model is a usage error (exit 2)', () => {
  const r = cli(['convert', graphPath, '--dtype', 'int4', '--out', join(dir, 'never')]);
  assert.is(r.code, 2);
  assert.match(r.err, /--dtype must be one of 'float32', 'int8'/);
});

for (const kind of ['graph', 'layers'] as const) {
  graph(`bench --model on a ${kind} model writes a report matching its inputs`, () => {
    const out = join(dir, `bench-${kind}`);
    const r = cli(['bench', '--model', kind === 'graph' ? graphPath : layersPath, '--blocks', '1x1,1x4',
      '--sparsities', '0.5,0.9', '--runs', '3', '--out', out]);
    assert.is(r.code, 0, r.err);
    const result = JSON.parse(readFileSync(join(out, 'bench-model.json'), 'utf8')) as ModelBenchResult;
    assert.is(result.kind, kind);
    assert.equal(result.blocks, ['1x1', '1x4']);
    assert.equal(result.sparsities, [0.5, 0.9]);
    assert.equal(result.points.map(p => `${p.block}@${p.sparsity}`), ['1x1@0.5', '1x1@0.9', '1x4@0.5', '1x4@0.9']);
    for (const p of result.points) {
      assert.ok(p.latencyMs > 0 && p.denseLatencyMs > 0 && p.bytes > 0);
      assert.ok(p.maxRelativeError < 1e-4, `${p.block}@${p.sparsity}: ${p.maxRelativeError}`);
      assert.ok(p.layers.length >= 3);
      assert.ok(existsSync(join(out, 'models', `${p.block}-${p.sparsity}`, 'model.json')));
    }
    const at90 = result.points.find(p => p.block === '1x1' && p.sparsity === 0.9)!;
    const hidden = at90.layers.find(l => l.name === (kind === 'graph' ? 'last' : 'hidden'))!;
    assert.ok(hidden.bytesAfter < hidden.bytesBefore / 3, `${hidden.bytesAfter} of ${hidden.bytesBefore}`);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<h2>End to end<\/h2>/);
    assert.match(html, /<h2>Per layer<\/h2>/);
    assert.is((html.match(/<canvas /g) ?? []).length, 3);
    // One table row per point in the end-to-end table, one per point and layer in the per-layer table.
    const rows = (html.match(/<tr>/g) ?? []).length - 2;
    assert.is(rows, result.points.length + result.points.reduce((a, p) => a + p.layers.length, 0));
  });
}

graph('bench --model with a missing file is a usage error (exit 2)', () => {
  const r = cli(['bench', '--model', join(dir, 'none.json'), '--out', join(dir, 'never')]);
  assert.is(r.code, 2);
  assert.match(r.err, /model file not found/);
});

graph.run();
