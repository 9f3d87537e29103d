// The demo (`npm start`) end to end, shortened to one epoch per phase: every model is built,
// converted and measured, and the report renders its charts in headless Chromium.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {runDemo} from '../src/cli/demo';
import {readEventFile} from '../src/index';
import {launchChromium} from './helpers';

const demo = suite('tfjs-sparsity demo');
let out = '';

demo.before(() => {
  out = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-demo-'));
});
demo.after(() => rmSync(out, {recursive: true, force: true}));

demo('runDemo trains, prunes, strips, sparsifies and reports every model', async () => {
  const log = console.log;
  console.log = () => {};
  let rows;
  try {
    rows = await runDemo({out, epochs: 1, finetuneEpochs: 1, quiet: true});
  } finally {
    console.log = log;
  }
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
  for (const r of rows) assert.ok(r.latency1 > 0 && r.latency32 > 0 && r.gzipBytes > 0, r.model);

  const logs = join(out, 'logs', 'pruned-80', 'metrics');
  const eventFiles = readdirSync(logs).filter(f => f.startsWith('events.out.tfevents.'));
  assert.is(eventFiles.length, 1);
  const events = await readEventFile(join(logs, eventFiles[0]));
  assert.ok(events.some(e => e.values.some(v => v.tag.endsWith('/mask:0/sparsity'))), 'TensorBoard sparsity scalars');
  for (const m of ['dense', 'pruned-80-sparse-int8', 'pruned-90-1x16-sparse-float32']) {
    assert.ok(existsSync(join(out, 'models', m, 'model.json')), m);
  }
});

demo('the HTML report renders its four charts in headless Chromium', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', e => errors.push(e.message));
    await page.goto(`file://${join(out, 'report.html')}`);
    await page.waitForFunction(() => document.body.dataset.chartsRendered === '4', null, {timeout: 30000});
    // Every canvas has drawn pixels (not blank).
    const drawn = await page.evaluate(() => Array.from(document.querySelectorAll('canvas')).map(c => {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
      return inked;
    }));
    assert.is(drawn.length, 4);
    for (const [i, n] of drawn.entries()) assert.ok(n > 1000, `chart ${i} drew ${n} pixels`);
    assert.equal(errors, []);
  } finally {
    await browser.close();
  }
});

demo.run();
