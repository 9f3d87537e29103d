import {rollup} from 'rollup';
import {chromium} from 'playwright-core';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {browserBundle} from './rollup.config.mjs';
import {serveStatic} from './src/cli/serve';
const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-browser-'));
const o = browserBundle(join(dir, 'tfjs-sparsity.browser.mjs'));
const b = await rollup(o); await b.write(o.output); await b.close();
const mounts = {'/node_modules/@tensorflow/': 'node_modules/@tensorflow', '/dist/': dir, '/browser/': 'browser'};
const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless','--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync']});
for (const iso of [false, true]) {
  const s = await serveStatic({mounts, crossOriginIsolated: iso});
  const page = await browser.newPage();
  await page.goto(s.url + 'browser/kernels.html');
  await page.evaluate(() => (window as any).kernelPage);
  const r: Record<string, number> = await page.evaluate(`(async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const heap = tf.backend().wasm.HEAPU8;
    const n = 4 << 20;
    const priv = new Uint8Array(new WebAssembly.Memory({initial: 128}).buffer);
    const time = (f) => { for (let i = 0; i < 2; i++) f(); const t0 = performance.now(); let k = 0; while (performance.now() - t0 < 300) { f(); k++; } return (performance.now() - t0) / k; };
    const out = {};
    out.slice = time(() => heap.slice(1024, 1024 + n));
    out.setFromHeap = time(() => priv.set(heap.subarray(1024, 1024 + n)));
    out.setIntoHeap = time(() => heap.set(priv.subarray(0, n), 1024));
    out.f64set = time(() => new Float64Array(priv.buffer, 0, n / 8).set(new Float64Array(heap.buffer, 1024, n / 8)));
    out.copyWithin = time(() => heap.copyWithin(8 << 20, 1024, 1024 + n));
    return out;
  })()`);
  console.log(iso ? 'isolated (shared heap, copies)' : 'plain (zero copy)', JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +v.toFixed(3)]))));
  await page.close(); await s.close();
}
await browser.close();
