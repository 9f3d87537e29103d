// `tfjs-sparsity prune --structure channels` and `inspect --channels`, run as a user runs them: the
// built binary (`npm run build` first) in a separate process.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {saveModel} from '../src/cli/model_files';
import {useBackend} from './helpers';

const CLI = resolve('dist/cli.mjs');
const L = tfl.layers;

function cli(args: string[]): {code: number; out: string; err: string} {
  const r = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8'});
  return {code: r.status ?? -1, out: r.stdout, err: r.stderr};
}

let dir = '';
let modelPath = '';

const prune = suite('tfjs-sparsity prune --structure channels (binary)');

prune.before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build first`);
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-cli-channels-'));
  const model = tfl.sequential({layers: [
    L.conv2d({inputShape: [8, 8, 1], filters: 8, kernelSize: 3, activation: 'relu', name: 'conv',
              kernelInitializer: tfl.initializers.glorotUniform({seed: 1})}),
    L.batchNormalization({name: 'bn'}),
    L.flatten({name: 'flat'}),
    L.dense({units: 16, activation: 'relu', name: 'hidden', kernelInitializer: tfl.initializers.glorotUniform({seed: 2})}),
    L.dense({units: 3, name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({seed: 3})}),
  ]});
  await saveModel(model, join(dir, 'dense'));
  model.dispose();
  modelPath = join(dir, 'dense', 'model.json');
});

prune.after(() => rmSync(dir, {recursive: true, force: true}));

prune('writes the shrunk model and its report, and prints the per-layer table', () => {
  const out = join(dir, 'small');
  const r = cli(['prune', modelPath, '--structure', 'channels', '--sparsity', '0.5', '--out', out]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\| conv \| Conv2D \| 1 -> 1 \| 8 -> 4 \|/);
  assert.match(r.out, /\| bn \| BatchNormalization \| 8 -> 4 \| 8 -> 4 \|/);
  assert.match(r.out, /\| hidden \| Dense \| 288 -> 144 \| 16 -> 8 \|/);
  assert.match(r.out, /\| logits \| Dense \| 16 -> 8 \| 3 -> 3 \|/);
  assert.match(r.out, /12 of 24 removable channels removed/);
  assert.match(r.out, /kept 3 channel\(s\) at logits \(Dense\): they are an output of the model/);
  const report = JSON.parse(readFileSync(join(out, 'shrink-report.json'), 'utf8'));
  assert.is(report.removedChannels, 12);
  const topology = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).modelTopology;
  const layers = (topology.model_config ?? topology).config.layers as Array<{class_name: string; config: Record<string, unknown>}>;
  assert.is(layers.find(l => l.config.name === 'conv')?.config.filters, 4);
  assert.is(layers.find(l => l.config.name === 'hidden')?.config.units, 8);
});

prune('inspect --channels shows before and after, from the report or from the zero channels', () => {
  const shrunk = cli(['inspect', join(dir, 'small', 'model.json'), '--channels']);
  assert.is(shrunk.code, 0, shrunk.err);
  assert.match(shrunk.out, /before -> after the shrink that wrote this model \(shrink-report.json\)/);
  assert.match(shrunk.out, /\| conv \| Conv2D \| 1 -> 1 \| 8 -> 4 \|/);
  const dense = cli(['inspect', modelPath, '--channels']);
  assert.is(dense.code, 0, dense.err);
  assert.match(dense.out, /this model -> after removing its zero channels/);
  assert.match(dense.out, /\| conv \| Conv2D \| 1 -> 1 \| 8 -> 8 \|/);
  assert.match(dense.out, /0 of 24 removable channels removed/);
  const json = cli(['inspect', modelPath, '--channels', '--json']);
  assert.is(JSON.parse(json.out).removableChannels, 24);
});

prune('bad flags exit with code 2 and say what is allowed', () => {
  const out = join(dir, 'bad');
  const score = cli(['prune', modelPath, '--structure', 'channels', '--sparsity', '0.5', '--score', 'l3', '--out', out]);
  assert.is(score.code, 2);
  assert.match(score.err, /--score must be one of 'l1', 'l2', 'batchNormScale', but got 'l3'/);
  const structure = cli(['prune', modelPath, '--structure', 'filters', '--sparsity', '0.5', '--out', out]);
  assert.is(structure.code, 2);
  assert.match(structure.err, /--structure must be one of 'weights', 'channels', but got 'filters'/);
  const block = cli(['prune', modelPath, '--structure', 'channels', '--sparsity', '0.5', '--block', '1x4', '--out', out]);
  assert.is(block.code, 2);
  assert.match(block.err, /--block applies to --structure weights only/);
  const allocation = cli(['prune', modelPath, '--structure', 'channels', '--sparsity', '0.5', '--allocation', 'x', '--out', out]);
  assert.is(allocation.code, 2);
  assert.match(allocation.err, /--allocation must be one of 'uniform', 'global'/);
  assert.not.ok(existsSync(out), 'nothing written on a usage error');
});

prune.run();
