// The one-shot commands run as a user runs them: the built binary (npm run build) in a child process.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {dump} from 'npyjs';
import {saveModel} from '../src/cli/model_files';
import {normal, useBackend} from './helpers';

const root = fileURLToPath(new URL('..', import.meta.url));
let dir = '';

function cli(args: string[]): {code: number; out: string; err: string} {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.mjs'), ...args],
                      {cwd: dir, encoding: 'utf8', env: {...process.env, NODE_OPTIONS: ''}});
  return {code: r.status ?? -1, out: r.stdout, err: r.stderr};
}

/** A small MNIST-shaped MLP: 784 -> 32 -> 10, saved to `dir/dense`. */
async function savedModel(): Promise<string> {
  const init = (seed: number) => tfl.initializers.glorotUniform({seed});
  const model = tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [784], units: 32, activation: 'relu', kernelInitializer: init(1), name: 'hidden'}),
    tfl.layers.dense({units: 10, kernelInitializer: init(2), name: 'logits'}),
  ]});
  await saveModel(model, join(dir, 'dense'));
  model.dispose();
  return join(dir, 'dense', 'model.json');
}

const commands = suite('cli one-shot commands (dist/cli.mjs)');

commands.before(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-oneshot-'));
  assert.ok(existsSync(join(root, 'dist', 'cli.mjs')), 'run npm run build first');
});
commands.after(() => rmSync(dir, {recursive: true, force: true}));

commands('sensitivity on the MNIST digits writes the curves as JSON and an HTML report', async () => {
  const path = await savedModel();
  const r = cli(['sensitivity', path, '--data', 'mnist', '--samples', '64', '--sparsities', '0.5,0.9',
                 '--out', join(dir, 'sens'), '--quiet']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\| layer \| weights \| 50 % \| 90 % \|/);
  assert.match(r.out, /\| hidden \| 25088 \|/);
  const result = JSON.parse(readFileSync(join(dir, 'sens', 'sensitivity.json'), 'utf8'));
  assert.equal(result.layers.map((l: {layer: string}) => l.layer), ['hidden', 'logits']);
  assert.is(result.samples, 64);
  const html = readFileSync(join(dir, 'sens', 'report.html'), 'utf8');
  assert.match(html, /Per-layer sensitivity/);
  assert.match(html, /"label":"hidden"/);
});

commands('prune --method wanda --calibration file.npy --allocation sensitivity writes a model near the target', async () => {
  const path = await savedModel();
  const npy = join(dir, 'samples.npy');
  writeFileSync(npy, Buffer.from(dump(normal(48 * 784, 3).map(Math.abs), [48, 28, 28, 1])));
  const out = join(dir, 'wanda');
  const r = cli(['prune', path, '--sparsity', '0.8', '--method', 'wanda', '--calibration', npy,
                 '--allocation', 'sensitivity', '--out', out, '--quiet']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /hidden\/kernel \[784,32\]: \d+\.\d+% sparse \(target \d+\.\d+%\)/);
  const model = await tfl.loadLayersModel(`file://${join(out, 'model.json')}`);
  const [a, b] = [model.getLayer('hidden').getWeights()[0], model.getLayer('logits').getWeights()[0]];
  const zeros = (t: tf.Tensor) => t.dataSync().filter(v => v === 0).length;
  assert.ok(Math.abs((zeros(a) + zeros(b)) / (a.size + b.size) - 0.8) < 0.01, 'global sparsity 80 %');
  model.dispose();
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /wanda, sensitivity allocation/);
  assert.match(html, /Per-layer sensitivity/);
});

commands('prune with obc on MNIST and progress bars on stderr', async () => {
  const path = await savedModel();
  const r = cli(['prune', path, '--sparsity', '0.5', '--calibration', 'mnist', '--samples', '32', '--out', join(dir, 'obc')]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /relative output error/);
  assert.match(r.err, /pruning\s+\[.*\] 2\/2/);
});

commands('bad calibration and flags exit 2 naming the flag', async () => {
  const path = await savedModel();
  const npy = join(dir, 'wrong.npy');
  writeFileSync(npy, Buffer.from(dump(new Float32Array(20 * 10), [20, 10])));
  const cases: Array<[string[], RegExp]> = [
    [['--method', 'wanda'], /--calibration is needed by --method wanda/],
    [['--calibration', npy], /--calibration: each sample of '.*wrong\.npy' has shape \[10\], but the model takes \[784\]/],
    [['--calibration', join(dir, 'missing.npy')], /--calibration: cannot read/],
    [['--calibration', 'cifar'], /--calibration must be 'mnist' or a \.npy file/],
    [['--method', 'sparsegpt', '--calibration', 'mnist'], /--method must be one of 'magnitude', 'wanda', 'obc', but got 'sparsegpt'/],
    [['--allocation', 'greedy'], /--allocation must be one of 'uniform', 'erk', 'sensitivity', but got 'greedy'/],
  ];
  for (const [flags, pattern] of cases) {
    const r = cli(['prune', path, '--sparsity', '0.5', '--out', join(dir, 'x'), '--quiet', ...flags]);
    assert.is(r.code, 2, `${flags.join(' ')}: ${r.err}`);
    assert.match(r.err, pattern);
  }
  const metric = cli(['sensitivity', path, '--metric', 'accuracy', '--out', join(dir, 'y')]);
  assert.is(metric.code, 2);
  assert.match(metric.err, /--metric must be one of 'kl', 'mse', 'top1'/);
  const ten = cli(['prune', path, '--sparsity', '0.5', '--calibration', 'mnist', '--samples', '8', '--out', join(dir, 'z'), '--quiet']);
  assert.is(ten.code, 1);
  assert.match(ten.err, /'calibration' passed to 'pruneOneShot' has 8 samples/);
});

commands.run();
