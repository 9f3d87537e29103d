// A headless Chromium page for the real-model benchmarks: the library's browser bundle built into
// `dir`, served with tfjs from node_modules and any extra folders, on browser/kernels.html (a plain
// page: tfjs-wasm single-threaded, our kernels on its heap).
import {join} from 'node:path';

/** The open page, what it reports about itself, and how to close it with its server. */
export interface BenchPage {
  evaluate(script: string): Promise<unknown>;
  info: unknown;
  version: string;
  close(): Promise<void>;
}

/** Builds the bundle into `dir`, serves it with `mounts` (URL prefix -> folder), and opens the page. */
export async function openBenchPage(dir: string, mounts: Record<string, string>): Promise<BenchPage> {
  const {chromium} = await import('playwright-core');
  const {rollup} = await import('rollup');
  const {browserBundle} = await import('../rollup.config.mjs');
  const {serveStatic} = await import('../src/cli/static_server');
  const options = browserBundle(join(dir, 'tfjs-sparsity.browser.mjs'));
  const bundle = await rollup(options);
  await bundle.write(options.output);
  await bundle.close();
  const server = await serveStatic({mounts: {'/node_modules/@tensorflow/': 'node_modules/@tensorflow', '/dist/': dir,
    '/browser/': 'browser', ...mounts}, crossOriginIsolated: false});
  const chrome = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']});
  const page = await chrome.newPage();
  await page.goto(`${server.url}browser/kernels.html`);
  const info = await page.evaluate('window.kernelPage.then(p => p.info)');
  return {evaluate: script => page.evaluate(script), info, version: chrome.version(),
    close: async () => {
      await chrome.close();
      await server.close();
    }};
}
