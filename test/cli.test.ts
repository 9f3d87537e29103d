// The `tfjs-sparsity` command: in-process (`main()`) for the details of flags and messages, and as
// a user runs it, the built binary in its own process (`node dist/cli.mjs`, and the package's bin
// through `npx`) for every subcommand on models this file builds. demo.test.ts runs the demo and
// the README's command sequence on its models; bench_harness.test.ts runs bench.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {CLI_BACKENDS, initCliBackend} from '../src/cli/backend';
import {InspectReport} from '../src/cli/inspect_cmd';
import {main, parseBlock, parseSparsity} from '../src/cli/main';
import {saveModel} from '../src/cli/model_files';
import {ConstantSparsity, pruneLowMagnitude, stripPruning, toSparse, UpdatePruningStep} from '../src/index';
import {useBackend} from './helpers';
import {runCli} from './spawn';

/** Runs the CLI in-process, capturing stdout and stderr. */
async function run(args: string[]): Promise<{code: number; out: string; err: string}> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  const write = process.stdout.write, ewrite = process.stderr.write;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return {code, out: out.join('\n'), err: err.join('\n')};
  } finally {
    console.log = log;
    console.error = error;
    process.stdout.write = write;
    process.stderr.write = ewrite;
  }
}

let dir = '';

async function tinyModel(): Promise<string> {
  const model = tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [32], units: 64, activation: 'relu', name: 'a',
                      kernelInitializer: tfl.initializers.glorotUniform({seed: 1})}),
    tfl.layers.dense({units: 16, name: 'b', kernelInitializer: tfl.initializers.glorotUniform({seed: 2})}),
  ]});
  await saveModel(model, join(dir, 'dense'));
  model.dispose();
  return join(dir, 'dense', 'model.json');
}

const flags = suite('cli flags and exit codes');

flags.before(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-cli-'));
});
flags.after(() => rmSync(dir, {recursive: true, force: true}));

flags('parseSparsity and parseBlock accept good values and name what is allowed', () => {
  assert.is(parseSparsity('0.8'), 0.8);
  assert.equal(parseBlock('1x16'), [1, 16]);
  assert.equal(parseBlock('2147483647x1'), [2147483647, 1]);
  assert.throws(() => parseSparsity('1.5'), /\[0, 1\)/);
  assert.throws(() => parseSparsity('abc'), /\[0, 1\)/);
  assert.throws(() => parseBlock('16'), /HEIGHTxWIDTH/);
  assert.throws(() => parseBlock('0x4'), /HEIGHTxWIDTH/);
  assert.throws(() => parseBlock('2147483648x1'), /HEIGHTxWIDTH with positive integers up to 2147483647/);
  assert.throws(() => parseBlock('99999999999999999999x1'), /HEIGHTxWIDTH/);
});

flags('--help of every command exits 0 and describes it', async () => {
  for (const cmd of [[], ['demo'], ['prune'], ['sensitivity'], ['inspect'], ['convert'], ['bench'], ['serve']]) {
    const r = await run([...cmd, '--help']);
    assert.is(r.code, 0, `${cmd.join(' ')} --help`);
    assert.match(r.out, /Usage: tfjs-sparsity/);
  }
});

flags('bad usage exits 2 with a message', async () => {
  const unknown = await run(['frobnicate', 'x']);
  assert.is(unknown.code, 2);
  const badSparsity = await run(['prune', 'model.json', '--sparsity', '1.5', '--out', dir]);
  assert.is(badSparsity.code, 2);
  assert.match(badSparsity.err, /--sparsity.*\[0, 1\)/);
  const missing = await run(['inspect', join(dir, 'nope', 'model.json')]);
  assert.is(missing.code, 2);
  assert.match(missing.err, /model file not found/);
  const directory = await run(['inspect', dir]);
  assert.is(directory.code, 2);
  assert.match(directory.err, /is a directory/);
  const noOut = await run(['prune', 'model.json', '--sparsity', '0.5']);
  assert.is(noOut.code, 2);
  assert.match(noOut.err, /--out/);
});

flags('inspect of a device or FIFO says what it is, not "a directory"', async () => {
  const r = await run(['inspect', '/dev/zero']);
  assert.is(r.code, 2);
  assert.match(r.err, /expected a model\.json file, but \/dev\/zero is a character device/);
});

flags('--out "" and --out naming a file exit 2 naming the flag, before any work', async () => {
  const path = await tinyModel();
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a folder');
  const cases: string[][] = [
    ['prune', path, '--sparsity', '0.5', '--out', ''],
    ['prune', path, '--sparsity', '0.5', '--out', '  '],
    ['convert', path, '--out', ''],
    ['prune', path, '--sparsity', '0.5', '--out', file],
    ['convert', path, '--out', join(file, 'below')],
    ['demo', '--out', file, '--quiet'],
    ['demo', '--out', ''],
    ['bench', '--out', file, '--quick'],
  ];
  for (const args of cases) {
    const r = await run(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /--out/, args.join(' '));
    assert.not.match(r.err, /EEXIST|ENOTDIR|ENOENT/, args.join(' '));
  }
  assert.match((await run(['demo', '--out', file])).err, /--out .*a-file exists and is a file, not a folder/);
  assert.match((await run(['convert', path, '--out', join(file, 'below')])).err, /cannot be created: .*a-file is a file/);
  assert.is(readFileSync(file, 'utf8'), 'not a folder');
});

flags('bench validates --blocks and --sparsities before training', async () => {
  const out = join(dir, 'bench-out');
  for (const [blocks, pattern] of [['99999999999999999999x1', /--blocks: '99999999999999999999x1' must be HEIGHTxWIDTH/],
                                   ['1x16,4096x1', /--blocks: 4096x1 does not fit the benchmarked weight \[2028,256\]/]] as const) {
    const r = await run(['bench', '--blocks', blocks, '--out', out, '--quiet']);
    assert.is(r.code, 2, r.err);
    assert.match(r.err, pattern);
  }
  // Nothing was trained or written.
  assert.not.ok(existsSync(join(out, 'dense')));
});

flags.run();

// ---

const backend = suite('initCliBackend');

backend.after(() => useBackend('wasm'));

backend('makes wasm the active, initialised backend', async () => {
  const warnings: string[] = [];
  assert.is(await initCliBackend(CLI_BACKENDS, w => warnings.push(w)), 'wasm');
  assert.is(tf.getBackend(), 'wasm');
  assert.equal(warnings, []);
});

backend('falls back to the next backend with a warning when one cannot start', async () => {
  tf.registerBackend('test-broken', () => { throw new Error('cannot start'); });
  const warnings: string[] = [];
  const error = console.error, warn = console.warn;
  console.error = console.warn = () => {};  // tfjs reports the failed initialisation itself
  try {
    assert.is(await initCliBackend(['test-broken', 'cpu'], w => warnings.push(w)), 'cpu');
    assert.is(tf.getBackend(), 'cpu');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /the test-broken backend could not start here; running on the cpu backend \(slower\)/);
    try {
      await initCliBackend(['test-broken'], w => warnings.push(w));
      assert.unreachable('no backend started');
    } catch (e) {
      assert.match((e as Error).message, /no tfjs backend could start \(tried test-broken\)/);
    }
  } finally {
    console.error = error;
    console.warn = warn;
    tf.removeBackend('test-broken');
  }
});

backend.run();

// ---

const commands = suite('cli commands');

commands.before(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-cli-'));
});
commands.after(() => rmSync(dir, {recursive: true, force: true}));

commands('prune then inspect: one-shot 80% sparsity, reported per layer', async () => {
  const path = await tinyModel();
  const before = tf.memory().numTensors;
  const pruned = await run(['prune', path, '--sparsity', '0.8', '--out', join(dir, 'pruned')]);
  assert.is(pruned.code, 0, pruned.err);
  // tfmot keeps round(2048 * 0.2) = 410 of 2048 weights: 79.98% sparse.
  assert.match(pruned.out, /a\/kernel \[32,64\]: 79\.98% sparse/);
  assert.match(pruned.out, /b\/kernel \[64,16\]: 79\.98% sparse/);
  const inspected = await run(['inspect', join(dir, 'pruned', 'model.json'), '--json']);
  assert.is(inspected.code, 0, inspected.err);
  const report = JSON.parse(inspected.out) as InspectReport;
  const kernel = report.weights.find(r => r.layer === 'a' && r.weight === 'a/kernel');
  assert.ok(kernel, JSON.stringify(report.weights));
  assert.is(kernel!.role, 'pruned');
  assert.is(kernel!.sparsity, 1 - 410 / 2048);
  assert.equal(report.pruned, {params: 3072, nonzeros: 615, sparsity: 1 - 615 / 3072});
  assert.equal(report.all.params, 3072 + 64 + 16);
  assert.is(tf.memory().numTensors, before, 'commands leak no tensors');
});

commands('prune with 1x16 blocks zeroes whole blocks', async () => {
  const path = await tinyModel();
  const r = await run(['prune', path, '--sparsity', '0.75', '--block', '1x16', '--pooling', 'max', '--out', join(dir, 'blocks')]);
  assert.is(r.code, 0, r.err);
  const model = await tfl.loadLayersModel(`file://${join(dir, 'blocks', 'model.json')}`);
  const kernel = model.getLayer('a').getWeights()[0].arraySync() as number[][];
  for (const row of kernel) {
    for (let c = 0; c < 64; c += 16) {
      const block = row.slice(c, c + 16);
      assert.ok(block.every(v => v === 0) || block.every(v => v !== 0), 'blocks are all zero or all kept');
    }
  }
  model.dispose();
});

commands('prune refuses a bad pooling type with exit code 2', async () => {
  const path = await tinyModel();
  const r = await run(['prune', path, '--sparsity', '0.5', '--pooling', 'median', '--out', join(dir, 'x')]);
  assert.is(r.code, 2);
  assert.match(r.err, /--pooling must be one of 'AVG', 'MAX'/);
});

commands('convert writes a smaller sparse model with a per-layer report', async () => {
  const path = await tinyModel();
  await run(['prune', path, '--sparsity', '0.9', '--out', join(dir, 'p90')]);
  const r = await run(['convert', join(dir, 'p90', 'model.json'), '--dtype', 'int8', '--out', join(dir, 'sparse')]);
  assert.is(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'sparse', 'model.json')));
  const bytes = (p: string) => readFileSync(join(dir, p,
      JSON.parse(readFileSync(join(dir, p, 'model.json'), 'utf8')).weightsManifest[0].paths[0])).length;
  assert.ok(bytes('sparse') * 4 < bytes('p90'), `int8 sparse ${bytes('sparse')} vs dense ${bytes('p90')}`);
  const bad = await run(['convert', join(dir, 'p90', 'model.json'), '--dtype', 'float16', '--out', join(dir, 'y')]);
  assert.is(bad.code, 2);
  assert.match(bad.err, /--dtype must be one of 'float32', 'int8'/);
});

commands('inspect reports sparse models from their decoded kernels (f32 and int8) and skips pruning state', async () => {
  const path = await tinyModel();
  await run(['prune', path, '--sparsity', '0.9', '--out', join(dir, 'p90')]);
  const pruned = await tfl.loadLayersModel(`file://${join(dir, 'p90', 'model.json')}`);
  for (const dtype of ['float32', 'int8'] as const) {
    const {model: sparse} = await toSparse(pruned, {dtype, blockSize: [1, 4]});
    await saveModel(sparse, join(dir, `sparse-${dtype}`));
    sparse.dispose();
    const r = await run(['inspect', join(dir, `sparse-${dtype}`, 'model.json'), '--json']);
    assert.is(r.code, 0, r.err);
    const report = JSON.parse(r.out) as InspectReport;
    assert.equal(report.weights.map(w => [w.layer, w.className, w.weight, w.role, w.shape]), [
      ['a', 'SparseDense', 'a/kernel', 'pruned', [32, 64]], ['a', 'SparseDense', 'a/bias', 'other', [64]],
      ['b', 'SparseDense', 'b/kernel', 'pruned', [64, 16]], ['b', 'SparseDense', 'b/bias', 'other', [16]]], dtype);
    // round(2048 * 0.1) = 205 and round(1024 * 0.1) = 102 weights kept: what prune reported.
    assert.equal(report.pruned, {params: 3072, nonzeros: 307, sparsity: 1 - 307 / 3072}, dtype);
  }
  // A pruned model during training: masks, thresholds and steps are listed, not counted.
  const wrapped = pruneLowMagnitude(tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [8], units: 10, name: 'h', kernelInitializer: tfl.initializers.glorotUniform({seed: 3})})]}),
  {pruningSchedule: new ConstantSparsity({targetSparsity: 0.8, beginStep: 0, frequency: 1})});
  wrapped.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const [x, y] = [tf.ones([4, 8]), tf.zeros([4, 10])];
  await wrapped.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
  await saveModel(wrapped, join(dir, 'wrapped'));
  const r = await run(['inspect', join(dir, 'wrapped', 'model.json')]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\| prune_low_magnitude_h \| PruneLowMagnitude \| prune_low_magnitude_h\/mask \| pruning state \|/);
  assert.match(r.out, /prunable weights: 80 parameters, 16 nonzero, 80\.00% sparse/);
  const biasNonzeros = Number(/\| prune_low_magnitude_h\/bias \| other \| \[10\] \| 10 \| (\d+) \|/.exec(r.out)?.[1]);
  const all = 16 + biasNonzeros;
  assert.match(r.out, new RegExp(`all weights: 90 parameters, ${all} nonzero, ${(100 * (1 - all / 90)).toFixed(2)}% sparse ` +
      '\\(pruning masks, thresholds and steps not counted\\)'));
  stripPruning(wrapped).dispose();
  tf.dispose([x, y]);
  pruned.dispose();
});

commands.run();

// ---

const binary = suite('the tfjs-sparsity binary');

/** Models the spawned commands work on, built in-process once. */
const built = {root: '', dense: '', cnn: '', rnn: ''};

binary.before(async () => {
  await useBackend('wasm');
  built.root = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-bin-'));
  dir = built.root;
  built.dense = await tinyModel();
  const cnn = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 2], filters: 16, kernelSize: 3, activation: 'relu', name: 'conv',
                       kernelInitializer: tfl.initializers.glorotUniform({seed: 4})}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 10, name: 'out', kernelInitializer: tfl.initializers.glorotUniform({seed: 5})}),
  ]});
  await saveModel(cnn, join(built.root, 'cnn'));
  cnn.dispose();
  built.cnn = join(built.root, 'cnn', 'model.json');
  built.rnn = await recurrentModel(join(built.root, 'rnn'));
});
binary.after(() => rmSync(built.root, {recursive: true, force: true}));

/**
 * An LSTM + GRU + SimpleRNN + Dense model saved as Keras saves one: recurrent kernels with the
 * Orthogonal initializer in the config. (It is built with another initializer here: tfjs-layers'
 * Orthogonal needs the chained ops of the @tensorflow/tfjs union package, which a user who installs
 * what the README names does not have.)
 */
async function recurrentModel(folder: string): Promise<string> {
  const init = (seed: number) => tfl.initializers.glorotUniform({seed});
  const model = tfl.sequential({layers: [
    tfl.layers.lstm({inputShape: [5, 4], units: 8, returnSequences: true, name: 'lstm',
                     kernelInitializer: init(6), recurrentInitializer: init(7)}),
    tfl.layers.gru({units: 8, returnSequences: true, name: 'gru', kernelInitializer: init(8), recurrentInitializer: init(9)}),
    tfl.layers.simpleRNN({units: 8, name: 'rnn', kernelInitializer: init(10), recurrentInitializer: init(11)}),
    tfl.layers.dense({units: 64, name: 'head', kernelInitializer: init(12)}),
  ]});
  await saveModel(model, folder);
  model.dispose();
  const path = join(folder, 'model.json');
  const json = JSON.parse(readFileSync(path, 'utf8'));
  for (const layer of json.modelTopology.config.layers) {
    if (layer.config.recurrent_initializer) {
      layer.config.recurrent_initializer = {class_name: 'Orthogonal', config: {gain: 1, seed: null}};
    }
  }
  writeFileSync(path, JSON.stringify(json));
  return path;
}

binary('--help and bad usage, through node and through the package bin (npx)', async () => {
  for (const via of ['node', 'npx'] as const) {
    const help = await runCli(['--help'], {via});
    assert.is(help.code, 0, `${via}: ${help.stderr}`);
    for (const cmd of ['demo', 'prune', 'inspect', 'convert', 'bench', 'serve']) assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`));
  }
  {
    const unknown = await runCli(['frobnicate']);
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, /error: unknown command 'frobnicate' \(commands: demo, prune, sensitivity, inspect, convert, bench, serve\)/);
  }
  const empty = await runCli(['prune', built.dense, '--sparsity', '0.5', '--out', '']);
  assert.is(empty.code, 2);
  assert.match(empty.stderr, /error: --out must name a folder, but got ""/);
  const device = await runCli(['inspect', '/dev/zero']);
  assert.is(device.code, 2);
  assert.match(device.stderr, /\/dev\/zero is a character device/);
});

binary('prune, inspect and convert run on the wasm backend and write what they say', async () => {
  const out = join(built.root, 'run');
  const pruned = await runCli(['prune', built.cnn, '--sparsity', '0.8', '--out', join(out, 'p80')], {via: 'npx'});
  assert.is(pruned.code, 0, pruned.stderr);
  assert.is(pruned.stderr, '');
  // round(288 * 0.2) = 58 of the conv kernel's 288 weights are kept, round(5760 * 0.2) = 1152 of the Dense's 5760.
  assert.match(pruned.stdout, /conv\/kernel \[3,3,2,16\]: 79\.86% sparse\nout\/kernel \[576,10\]: 80\.00% sparse\n/);
  // model.json and the weights files it names (whatever the file:// handler calls them).
  const manifest = JSON.parse(readFileSync(join(out, 'p80', 'model.json'), 'utf8')).weightsManifest as Array<{paths: string[]}>;
  const paths = manifest.flatMap(group => group.paths);
  assert.ok(paths.length > 0 && paths.every(p => existsSync(join(out, 'p80', p))), `${paths}`);

  const converted = await runCli(['convert', join(out, 'p80', 'model.json'), '--dtype', 'int8', '--out', join(out, 'int8')]);
  assert.is(converted.code, 0, converted.stderr);
  const report = JSON.parse(converted.stdout.slice(0, converted.stdout.lastIndexOf(']') + 1)) as Array<{name: string; newClassName: string}>;
  assert.equal(report.map(r => [r.name, r.newClassName]), [['conv', 'SparseConv2D'], ['out', 'SparseDense']]);
  assert.match(converted.stdout, /sparse model written to .*int8: \d+ bytes \(\d+ gzipped\)/);

  for (const [model, nonzeros] of [[join(out, 'p80', 'model.json'), 1210], [join(out, 'int8', 'model.json'), 1210],
                                   [built.cnn, 6048]] as const) {
    const r = await runCli(['inspect', model]);
    assert.is(r.code, 0, r.stderr);
    const sparsity = (100 * (1 - nonzeros / 6048)).toFixed(2).replace('.', '\\.');
    assert.match(r.stdout, new RegExp(`prunable weights: 6048 parameters, ${nonzeros} nonzero, ${sparsity}% sparse`), r.stdout);
  }
  const json = await runCli(['inspect', join(out, 'int8', 'model.json'), '--json']);
  const parsed = JSON.parse(json.stdout) as InspectReport;
  assert.equal(parsed.pruned.nonzeros, 58 + 1152);
  assert.equal(parsed.weights.find(w => w.weight === 'conv/kernel')?.shape, [3, 3, 2, 16]);
});

binary('convert handles LSTM, GRU and SimpleRNN models saved with the Orthogonal initializer', async () => {
  const out = join(built.root, 'rnn-run');
  const pruned = await runCli(['prune', built.rnn, '--sparsity', '0.9', '--out', join(out, 'p90')]);
  assert.is(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /lstm\/recurrent_kernel \[8,32\]: 89\.84% sparse/);
  for (const dtype of ['float32', 'int8']) {
    const r = await runCli(['convert', join(out, 'p90', 'model.json'), '--dtype', dtype, '--out', join(out, dtype)]);
    assert.is(r.code, 0, `${dtype}: ${r.stderr}`);
    assert.not.match(r.stderr, /flatten/);
    const inspected = await runCli(['inspect', join(out, dtype, 'model.json'), '--json']);
    const classes = (JSON.parse(inspected.stdout) as InspectReport).weights.map(w => w.className);
    assert.ok(classes.includes('LSTM') && classes.includes('GRU') && classes.includes('SimpleRNN') &&
              classes.includes('SparseDense'), classes.join());
  }
});

binary('falls back to the cpu backend, saying so, when tfjs-wasm cannot load its binary', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/no-tfjs-wasm.mjs', import.meta.url));
  const r = await runCli(['inspect', built.dense], {nodeArgs: ['--import', fixture]});
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: the wasm backend could not start here; running on the cpu backend \(slower\)/);
  assert.match(r.stdout, /prunable weights: 3072 parameters, 3072 nonzero, 0\.00% sparse/);
});

binary('serve prints the page URL, serves it, and exits 0 on Ctrl-C', async () => {
  const models = join(built.root, 'serve-models');
  mkdirSync(models);
  const {model: sparse} = await toSparse(await tfl.loadLayersModel(`file://${built.dense}`), {minSparsity: 0});
  await saveModel(sparse, join(models, 'tiny-sparse'));
  sparse.dispose();
  const dense = await tfl.loadLayersModel(`file://${built.dense}`);
  await saveModel(dense, join(models, 'dense'));
  dense.dispose();
  const fetched: Array<{status: number; body: string}> = [];
  let failure: unknown = null;
  const r = await runCli(['serve', '--port', '0', '--models', models], {
    onStdout: (stdout, interrupt) => {
      const url = /Demo page: (\S+)/.exec(stdout)?.[1];
      if (url == null || fetched.length > 0) return;
      fetched.push({status: 0, body: ''});
      Promise.all([fetch(url), fetch(new URL('data/demo.json', url))])
          .then(responses => Promise.all(responses.map(async res => ({status: res.status, body: await res.text()}))))
          .then(results => fetched.splice(0, 1, ...results), (e: unknown) => { failure = e; })
          .finally(interrupt);
    },
  });
  assert.is(failure, null);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Press Ctrl-C to stop\./);
  assert.is(fetched[0].status, 200);
  assert.match(fetched[0].body, /<html/i);
  assert.is(fetched[1].status, 200);
  assert.equal(JSON.parse(fetched[1].body).models, ['tiny-sparse']);
  const missing = await runCli(['serve', '--port', '0', '--models', join(built.root, 'none')]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /models folder not found/);
});

binary.run();
