// The kernels in headless Chromium: an ordinary page (tfjs-wasm's single-threaded build, our
// kernels on its heap, zero copy) against a cross-origin-isolated one (threaded build, shared heap,
// which our kernels now also run on with no copies, through the module's shared-memory variant).
// Times per call in ms, tf.mul as the yardstick.
// Run: node --import tsx bench/browser.ts   (needs Chromium or Chrome: CHROME_PATH, or a usual install location)
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {rollup} from 'rollup';
import {browserBundle} from '../rollup.config.mjs';
import {serveStatic} from '../src/cli/static_server';
import {launchChromium} from '../test/helpers';

const SIZES = [4096, 262144, 1048576];

// Plain JavaScript evaluated in the page (a string, so no transpiler helper leaks into it).
const PAGE_BENCH = `(async (sizes) => {
  const tf = await import('@tensorflow/tfjs-core');
  const sp = await import('tfjs-sparsity');
  const time = (f) => {
    for (let i = 0; i < 3; i++) tf.dispose(f());
    const t0 = performance.now();
    let k = 0;
    while (performance.now() - t0 < 500) { tf.dispose(f()); k++; }
    return (performance.now() - t0) / k;
  };
  const out = [];
  for (const n of sizes) {
    const w = tf.randomNormal([n]);
    out.push({n, op: 'tf.mul', ms: time(() => tf.mul(w, w))});
    out.push({n, op: 'maskFromThreshold', ms: time(() => sp.maskFromThreshold(w, 0.5))});
    out.push({n, op: 'magnitudeThreshold', ms: time(() => sp.magnitudeThreshold(w, 0.5))});
    w.dispose();
  }
  return out;
})`;

const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-bench-'));
const options = browserBundle(join(dir, 'tfjs-sparsity.browser.mjs'));
const bundle = await rollup(options);
await bundle.write(options.output);
await bundle.close();
const mounts = {'/node_modules/@tensorflow/': 'node_modules/@tensorflow', '/dist/': dir, '/browser/': 'browser'};
const browser = await launchChromium();
const results: Record<string, Array<{n: number; op: string; ms: number}>> = {};
for (const mode of ['plain', 'isolated']) {
  const server = await serveStatic({mounts, crossOriginIsolated: mode === 'isolated'});
  const page = await browser.newPage();
  await page.goto(`${server.url}browser/kernels.html`);
  const info = await page.evaluate('window.kernelPage.then(p => p.info)');
  console.log(mode, JSON.stringify(info));
  results[mode] = await page.evaluate(`${PAGE_BENCH}(${JSON.stringify(SIZES)})`);
  await page.close();
  await server.close();
}
await browser.close();
rmSync(dir, {recursive: true, force: true});

console.log('\n| op | n | plain ms | isolated ms | isolated / plain |\n|---|---:|---:|---:|---:|');
results.plain.forEach((p, i) => {
  const q = results.isolated[i];
  console.log(`| ${p.op} | ${p.n} | ${p.ms.toFixed(3)} | ${q.ms.toFixed(3)} | ${(q.ms / p.ms).toFixed(2)} |`);
});
