// The demo (`npm start`) end to end as a user runs it, through the package's bin and shortened to
// one epoch per phase: every model is built, converted and measured, the report renders its charts
// in headless Chromium, and the README's command sequence (inspect, prune, convert, inspect) runs
// on the demo's dense model.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {Row as DemoRow} from '../src/cli/demo_cmd';
import {readEventFile} from '../src/index';
import {launchChromium} from './helpers';
import {runCli} from './spawn';

const demo = suite('tfjs-sparsity demo');
let out = '';

demo.before(() => {
  out = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-demo-'));
});
demo.after(() => rmSync(out, {recursive: true, force: true}));

/** One row of the table the demo prints, with its speedups over the dense model. */
interface Row extends DemoRow {
  speedup1: number;
  speedup32: number;
}

/** The demo's results table, parsed from its stdout. */
function parseTable(stdout: string): Row[] {
  const lines = stdout.split('\n').filter(l => l.startsWith('| ') && !l.startsWith('| model'));
  return lines.map(line => {
    const c = line.split('|').slice(1, -1).map(s => s.trim());
    return {model: c[0], accuracy: parseFloat(c[1]) / 100, sparsity: parseFloat(c[2]) / 100, bytes: parseFloat(c[3]) * 1024,
            gzipBytes: parseFloat(c[4]) * 1024, latency1: parseFloat(c[6]), latency32: parseFloat(c[7]),
            speedup1: parseFloat(c[8]), speedup32: parseFloat(c[9])};
  });
}

demo('npx tfjs-sparsity demo trains, prunes, strips, sparsifies and reports every model', async () => {
  const r = await runCli(['demo', '--out', out, '--epochs', '1', '--finetune-epochs', '1', '--quiet'], {via: 'npx'});
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| model \| test accuracy \| sparsity \| bytes \(raw\) \| bytes \(gzip\) \| vs dense \| batch-1 ms \| batch-32 ms \| speedup b1 \| speedup b32 \|/);
  const rows = parseTable(r.stdout);
  assert.equal(rows.map(r => r.model), [
    'dense', 'pruned-80 stripped', 'pruned-80 sparse float32', 'pruned-80 sparse int8',
    'pruned-90-1x16 stripped', 'pruned-90-1x16 sparse float32', 'pruned-90-1x16 sparse int8']);
  const byName = Object.fromEntries(rows.map(r => [r.model, r]));
  const dense = byName['dense'];
  assert.ok(dense.accuracy > 0.85, `dense accuracy ${dense.accuracy}`);
  assert.ok(Math.abs(byName['pruned-80 stripped'].sparsity - 0.8) < 0.01, `${byName['pruned-80 stripped'].sparsity}`);
  assert.ok(Math.abs(byName['pruned-90-1x16 stripped'].sparsity - 0.9) < 0.02);
  // The sparse models compute what the stripped ones do (int8 within quantisation error).
  assert.is(byName['pruned-80 sparse float32'].accuracy, byName['pruned-80 stripped'].accuracy);
  assert.ok(Math.abs(byName['pruned-80 sparse int8'].accuracy - byName['pruned-80 stripped'].accuracy) <= 0.01);
  assert.ok(dense.bytes / byName['pruned-80 sparse float32'].bytes >= 4, 'f32 at least 4x smaller');
  assert.ok(dense.bytes / byName['pruned-80 sparse int8'].bytes >= 12, 'int8 at least 12x smaller');
  for (const row of rows) {
    assert.ok(row.latency1 > 0 && row.latency32 > 0 && row.gzipBytes > 0, row.model);
    // Speedups over the dense model, timed in alternation with it (so not the ratio of the latency columns).
    assert.ok(row.speedup1 > 0 && row.speedup32 > 0, `${row.model}: ${row.speedup1}x, ${row.speedup32}x`);
  }
  assert.is(dense.speedup1, 1);
  assert.is(dense.speedup32, 1);

  const logs = join(out, 'logs', 'pruned-80', 'metrics');
  const eventFiles = readdirSync(logs).filter(f => f.startsWith('events.out.tfevents.'));
  assert.is(eventFiles.length, 1);
  const events = await readEventFile(join(logs, eventFiles[0]));
  assert.ok(events.some(e => e.values.some(v => v.tag.endsWith('/mask:0/sparsity'))), 'TensorBoard sparsity scalars');
  // Keras's train run beside tfmot's metrics: the loss and accuracy curves and the model graph.
  const trainDir = join(out, 'logs', 'pruned-80', 'train');
  const trainTags = new Set((await readEventFile(join(trainDir, readdirSync(trainDir)[0]))).flatMap(e => e.values.map(v => v.tag)));
  assert.equal([...trainTags].sort(), ['epoch_acc', 'epoch_loss', 'keras']);
  for (const m of ['dense', 'pruned-80-sparse-int8', 'pruned-90-1x16-sparse-float32']) {
    assert.ok(existsSync(join(out, 'models', m, 'model.json')), m);
  }
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
  const result = await runCli(['inspect', join(out, 'p80-int8', 'model.json')], {via: 'npx'});
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /\| hidden \| SparseDense \| hidden\/kernel \| pruned \| \[2028,256\] \| 519168 \| 103834 \| 80\.00% \|/);
  // conv 22 of 108, hidden 103834 of 519168, logits 512 of 2560 weights kept: what prune reported.
  assert.match(result.stdout, /prunable weights: 521836 parameters, 104368 nonzero, 80\.00% sparse/);
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
    const firstRow = await page.evaluate(() => Array.from(document.querySelectorAll('tbody tr:first-child td')).map(td => td.textContent));
    assert.equal(firstRow.slice(-2), ['1.00x', '1.00x']);
    assert.equal(errors, []);
  } finally {
    await browser.close();
  }
});

demo.run();
