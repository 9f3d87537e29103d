// The demo (`npm start`) end to end as a user runs it, through the package's bin and shortened to
// one epoch per phase: every model is built, converted and measured, the report renders its charts
// in headless Chromium, and the README's command sequence (inspect, prune, convert, inspect) runs
// on the demo's dense model.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {inspectModel} from '../src/cli/inspect_cmd';
import {loadMnist} from '../src/cli/mnist';
import {modelBytes} from '../src/cli/model_files';
import {accuracy} from '../src/cli/mnist_cnn';
import {readEventFile} from '../src/index';
import {folderBytes, launchChromium, useBackend} from './helpers';
import {runCli} from './spawn';

const demo = suite('tfjs-sparsity demo');
let out = '';

demo.before(() => {
  out = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-demo-'));
});
demo.after(() => rmSync(out, {recursive: true, force: true}));

const COLUMNS = ['model', 'test accuracy', 'sparsity', 'bytes (raw)', 'bytes (gzip)', 'vs dense', 'batch-1 ms', 'batch-32 ms',
                 'speedup b1', 'speedup b32'] as const;
type Row = Record<typeof COLUMNS[number], string>;

/** The demo's results table, parsed from its stdout: one record of cells per model. */
function parseTable(stdout: string): Row[] {
  const lines = stdout.split('\n').filter(l => l.startsWith('| ') && !l.startsWith('| model'));
  return lines.map(line => {
    const cells = line.split('|').slice(1, -1).map(c => c.trim());
    return Object.fromEntries(COLUMNS.map((c, i) => [c, cells[i]])) as Row;
  });
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const percent = (fraction: number, digits: number) => `${(100 * fraction).toFixed(digits)}%`;
/** The folder the demo saved a row's model to. */
const modelDir = (row: Row) => join(out, 'models', row.model.replace(/ /g, '-'));

demo('npx tfjs-sparsity demo: its table is what the models it saved measure (bytes, sparsity, accuracy)', async () => {
  const r = await runCli(['demo', '--out', out, '--epochs', '1', '--finetune-epochs', '1', '--quiet'], {via: 'npx'});
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `| ${COLUMNS.join(' | ')} |`);
  const rows = parseTable(r.stdout);
  assert.equal(rows.map(r => r.model), [
    'dense', 'pruned-80 stripped', 'pruned-80 sparse float32', 'pruned-80 sparse int8',
    'pruned-90-1x16 stripped', 'pruned-90-1x16 sparse float32', 'pruned-90-1x16 sparse int8']);
  await useBackend('wasm');
  const test = loadMnist().test;
  const denseBytes = folderBytes(modelDir(rows[0]));
  const measured: Record<string, {accuracy: number; sparsity: number; bytes: number}> = {};
  for (const row of rows) {
    const dir = modelDir(row);
    const {bytes, gzipBytes} = modelBytes(dir);
    assert.is(bytes, folderBytes(dir), row.model);
    assert.is(row['bytes (raw)'], kb(bytes), `${row.model}: bytes`);
    assert.is(row['bytes (gzip)'], kb(gzipBytes), `${row.model}: gzip bytes`);
    assert.is(row['vs dense'], `${(denseBytes / bytes).toFixed(2)}x smaller`, row.model);
    const model = await tfl.loadLayersModel(`file://${join(dir, 'model.json')}`);
    const accuracyOfSaved = accuracy(model, test);
    assert.is(row['test accuracy'], percent(accuracyOfSaved, 2), `${row.model}: accuracy of the saved model`);
    // Zeros over the prunable kernels, sparse layers' decoded from what they store.
    const sparsity = inspectModel(model).pruned.sparsity;
    model.dispose();
    measured[row.model] = {accuracy: accuracyOfSaved, sparsity, bytes};
    if (row.model.endsWith('int8')) {
      // int8 reports its pruning's sparsity; quantization may round a few more kept weights to 0.
      const f32 = measured[row.model.replace('int8', 'float32')];
      assert.is(row.sparsity, percent(f32.sparsity, 1), row.model);
      assert.ok(sparsity >= f32.sparsity && sparsity - f32.sparsity < 0.005, `${row.model}: ${sparsity} vs ${f32.sparsity}`);
    } else {
      assert.is(row.sparsity, percent(sparsity, 1), `${row.model}: sparsity of the saved model`);
    }
  }
  assert.ok(measured['dense'].accuracy > 0.85, `dense accuracy ${measured['dense'].accuracy}`);
  assert.ok(Math.abs(measured['pruned-80 stripped'].sparsity - 0.8) < 0.01, `${measured['pruned-80 stripped'].sparsity}`);
  assert.ok(Math.abs(measured['pruned-90-1x16 stripped'].sparsity - 0.9) < 0.02);
  // The sparse models compute what the stripped ones do (int8 within quantisation error).
  assert.is(measured['pruned-80 sparse float32'].accuracy, measured['pruned-80 stripped'].accuracy);
  assert.ok(Math.abs(measured['pruned-80 sparse int8'].accuracy - measured['pruned-80 stripped'].accuracy) <= 0.01);
  assert.ok(denseBytes / measured['pruned-80 sparse float32'].bytes >= 4, 'f32 at least 4x smaller');
  assert.ok(denseBytes / measured['pruned-80 sparse int8'].bytes >= 12, 'int8 at least 12x smaller');
  // The dense model's speedup over itself (each round's ratio of a model to itself).
  assert.is(rows[0]['speedup b1'], '1.00x');
  assert.is(rows[0]['speedup b32'], '1.00x');

  const logs = join(out, 'logs', 'pruned-80', 'metrics');
  const eventFiles = readdirSync(logs).filter(f => f.startsWith('events.out.tfevents.'));
  assert.is(eventFiles.length, 1);
  const events = await readEventFile(join(logs, eventFiles[0]));
  assert.ok(events.some(e => e.values.some(v => v.tag.endsWith('/mask:0/sparsity'))), 'TensorBoard sparsity scalars');
  // Keras's train run beside tfmot's metrics: the loss and accuracy curves and the model graph.
  const trainDir = join(out, 'logs', 'pruned-80', 'train');
  const trainTags = new Set((await readEventFile(join(trainDir, readdirSync(trainDir)[0]))).flatMap(e => e.values.map(v => v.tag)));
  assert.equal([...trainTags].sort(), ['epoch_acc', 'epoch_loss', 'keras']);
});

demo('the README\'s commands on the demo\'s dense model: inspect, prune --sparsity 0.8, convert --dtype int8, inspect', async () => {
  const dense = join(out, 'models', 'dense', 'model.json');
  const inspected = await runCli(['inspect', dense], {via: 'npx'});
  assert.is(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, /prunable weights: 521836 parameters, 521836 nonzero, 0\.00% sparse/);
  const pruned = await runCli(['prune', dense, '--sparsity', '0.8', '--out', join(out, 'p80')], {via: 'npx'});
  assert.is(pruned.code, 0, pruned.stderr);
  const converted = await runCli(['convert', join(out, 'p80', 'model.json'), '--dtype', 'int8', '--out', join(out, 'p80-int8')],
                                 {via: 'npx'});
  assert.is(converted.code, 0, converted.stderr);
  // conv 22 of 108, hidden 103834 of 519168, logits 512 of 2560 weights kept: what prune reported.
  const prunedReport = await runCli(['inspect', join(out, 'p80', 'model.json')], {via: 'npx'});
  assert.match(prunedReport.stdout, /prunable weights: 521836 parameters, 104368 nonzero, 80\.00% sparse/);
  const result = await runCli(['inspect', join(out, 'p80-int8', 'model.json')], {via: 'npx'});
  assert.is(result.code, 0, result.stderr);
  // int8 stores a kept weight under half its column's quantization step as 0, and how many there are
  // varies from run to run (tfjs's fit shuffles with Math.random): a few at most, never more kept.
  const hidden = /\| hidden \| SparseDense \| hidden\/kernel \| pruned \| \[2028,256\] \| 519168 \| (\d+) \| (8\d\.\d\d)% \|/.exec(result.stdout);
  assert.ok(hidden, result.stdout);
  const kept = Number(hidden[1]);
  assert.ok(kept <= 103834 && kept >= 103834 * 0.995, `hidden/kernel keeps ${kept} of the 103834 pruning kept`);
  const total = /prunable weights: 521836 parameters, (\d+) nonzero/.exec(result.stdout);
  assert.ok(total, result.stdout);
  assert.ok(Number(total[1]) <= 104368 && Number(total[1]) >= 104368 * 0.995, result.stdout);
  assert.is(result.stderr, '');
});

demo('the HTML report renders its five charts in headless Chromium, with speedups in the table', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', e => errors.push(e.message));
    await page.goto(`file://${join(out, 'report.html')}`);
    await page.waitForFunction(() => document.body.dataset.chartsRendered === '5', null, {timeout: 30000});
    // Every canvas has drawn pixels (not blank).
    const drawn = await page.evaluate(() => Array.from(document.querySelectorAll('canvas')).map(c => {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
      return inked;
    }));
    assert.is(drawn.length, 5);
    for (const [i, n] of drawn.entries()) assert.ok(n > 1000, `chart ${i} drew ${n} pixels`);
    const headers = await page.evaluate(() => Array.from(document.querySelectorAll('th')).map(th => th.textContent));
    assert.ok(headers.includes('speedup b1') && headers.includes('speedup b32'), headers.join());
    const table = await page.evaluate(() => Array.from(document.querySelectorAll('tbody tr'))
        .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent ?? '')));
    assert.equal(table[0].slice(-2), ['1.00x', '1.00x']);
    // Exact bytes here (the stdout table rounds to 0.1 KB): the files of each saved model.
    assert.is(table.length, 7);
    for (const [model, , , bytes, gzipBytes] of table) {
      const dir = join(out, 'models', model.replace(/ /g, '-'));
      assert.equal([bytes, gzipBytes], [String(folderBytes(dir)), String(modelBytes(dir).gzipBytes)], model);
    }
    assert.equal(errors, []);
  } finally {
    await browser.close();
  }
});

demo.run();
