import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {main, parseBlock, parseSparsity} from '../src/cli/main';
import {saveModel} from '../src/cli/model_files';
import {useBackend} from './helpers';

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
  assert.throws(() => parseSparsity('1.5'), /\[0, 1\)/);
  assert.throws(() => parseSparsity('abc'), /\[0, 1\)/);
  assert.throws(() => parseBlock('16'), /HEIGHTxWIDTH/);
  assert.throws(() => parseBlock('0x4'), /HEIGHTxWIDTH/);
});

flags('--help of every command exits 0 and describes it', async () => {
  for (const cmd of [[], ['demo'], ['prune'], ['sensitivity'], ['inspect'], ['convert'], ['bench']]) {
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

flags.run();

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
  const rows = JSON.parse(inspected.out) as Array<{layer: string; weight: string; sparsity: number}>;
  const kernel = rows.find(r => r.layer === 'a' && r.weight === 'a/kernel');
  assert.ok(kernel, JSON.stringify(rows));
  assert.is(kernel!.sparsity, 1 - 410 / 2048);
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
  assert.match(r.err, /--pooling must be avg or max/);
});

commands('convert writes a smaller sparse model with a per-layer report', async () => {
  const path = await tinyModel();
  await run(['prune', path, '--sparsity', '0.9', '--out', join(dir, 'p90')]);
  const r = await run(['convert', join(dir, 'p90', 'model.json'), '--dtype', 'int8', '--out', join(dir, 'sparse')]);
  assert.is(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'sparse', 'model.json')));
  const bytes = (p: string) => readFileSync(join(dir, p, 'weights.bin')).length;
  assert.ok(bytes('sparse') * 4 < bytes('p90'), `int8 sparse ${bytes('sparse')} vs dense ${bytes('p90')}`);
  const bad = await run(['convert', join(dir, 'p90', 'model.json'), '--dtype', 'float16', '--out', join(dir, 'y')]);
  assert.is(bad.code, 2);
  assert.match(bad.err, /--dtype must be float32 or int8/);
});

commands.run();
