// The channel-pruned MNIST CNN against its dense model on tfjs's WebGL backend in headless Chromium.
// The machine has no GPU: Chromium runs WebGL 2 on SwiftShader (ANGLE's CPU implementation of
// Vulkan), so this measures tfjs-webgl's shaders on a software GPU, not a real one. Loads the
// models bench/channels.ts left in SAVE over HTTP, checks they agree with each other's shapes, and
// times batch-1 and batch-32 `predict` (outputs read back) alternately, keeping each side's fastest
// batch of calls, as bench/util.ts's timeAlternating does.
//   node --import tsx bench/channels_browser.ts   (SAVE=/tmp/tfjs-sparsity-channels; needs /usr/bin/chromium)
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {chromium} from 'playwright-core';
import {serveStatic} from '../src/cli/static_server';

const SAVE = process.env.SAVE ?? '/tmp/tfjs-sparsity-channels';
const ROUNDS = Number(process.env.ROUNDS ?? 15);

const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{"imports": {
  "@tensorflow/tfjs-core": "/node_modules/@tensorflow/tfjs-core/dist/tf-core.fesm.min.js",
  "@tensorflow/tfjs-layers": "/node_modules/@tensorflow/tfjs-layers/dist/tf-layers.fesm.min.js",
  "@tensorflow/tfjs-backend-webgl": "/node_modules/@tensorflow/tfjs-backend-webgl/dist/tf-backend-webgl.fesm.min.js"}}
</script>
<script type="module">
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-webgl';
window.bench = async (rounds) => {
  if (!await tf.setBackend('webgl')) throw new Error('webgl backend failed');
  const gl = tf.backend().gpgpu.gl;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const info = {backend: tf.getBackend(), version: gl.getParameter(gl.VERSION),
                renderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : 'unknown'};
  const dense = await tfl.loadLayersModel('/models/dense/model.json');
  const small = await tfl.loadLayersModel('/models/shrunk/model.json');
  const msPerCall = (f, reps) => { const t0 = performance.now(); for (let i = 0; i < reps; i++) f(); return (performance.now() - t0) / reps; };
  const results = [];
  for (const batch of [1, 32]) {
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 7);
    const run = (m) => () => { const y = m.predict(x); y.dataSync(); y.dispose(); };
    const a = run(dense), b = run(small);
    for (let i = 0; i < 10; i++) { a(); b(); }
    const once = Math.max(msPerCall(a, 1), msPerCall(b, 1));
    const reps = Math.max(1, Math.round(20 / once));
    let da = Infinity, db = Infinity;
    for (let r = 0; r < rounds; r++) { da = Math.min(da, msPerCall(a, reps)); db = Math.min(db, msPerCall(b, reps)); }
    results.push({batch, denseMs: da, shrunkMs: db, speedup: da / db});
    x.dispose();
  }
  return {info, results};
};
window.ready = true;
</script>`;

const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-webgl-'));
writeFileSync(join(dir, 'index.html'), PAGE);
const server = await serveStatic({mounts: {'/node_modules/@tensorflow/': 'node_modules/@tensorflow', '/models/': SAVE,
                                           '/page/': dir}});
// SwiftShader stands in for the missing GPU (newer Chromium needs the 'unsafe' flag to allow it).
const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']});
try {
  const page = await browser.newPage();
  page.on('pageerror', e => console.error('page error:', e.message));
  await page.goto(`${server.url}page/index.html`);
  await page.waitForFunction('window.ready === true');
  const {info, results} = await page.evaluate(`window.bench(${ROUNDS})`) as {info: Record<string, string>;
    results: Array<{batch: number; denseMs: number; shrunkMs: number; speedup: number}>};
  console.log(JSON.stringify(info));
  console.log('\n| case | dense ms | shrunk ms | speedup |\n|---|---|---|---|');
  for (const r of results) {
    console.log(`| webgl (SwiftShader) batch ${r.batch} | ${r.denseMs.toFixed(3)} | ${r.shrunkMs.toFixed(3)} | **${r.speedup.toFixed(2)}x** |`);
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, {recursive: true, force: true});
}
