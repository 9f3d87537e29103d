/**
 * `tfjs-sparsity serve`: the demo page (browser/demo.html) on localhost, comparing a dense and a
 * sparse MNIST model from `tfjs-sparsity demo`'s output in the browser, on tfjs-wasm.
 */
import {existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {loadMnist, MnistSplit} from './mnist';
import {serveStatic, StaticServer} from './static_server';
import {UsageError} from './usage';

/** The folder `tfjs-sparsity demo` writes its models to (with its default `--out`). */
export const DEFAULT_MODELS_DIR = join('tfjs-sparsity-demo', 'models');
/** The sparse model the page shows first, when the folder has it. */
export const DEFAULT_SPARSE_MODEL = 'pruned-90-1x16-sparse-float32';
/** Test digits per class in the page's row of digits. */
const DIGITS_PER_CLASS = 2;

/** Options of `startDemoServer`. */
export interface DemoServerOptions {
  /** Folder holding `dense/model.json` and at least one other `<name>/model.json`. */
  models: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  /** The browser bundle's file; default the package's `dist/tfjs-sparsity.browser.mjs`. */
  bundle?: string;
}

/** A running demo server. `close()` also removes the generated digits file. */
export interface DemoServer extends StaticServer {
  /** URL of the demo page. */
  readonly pageUrl: string;
}

/** The package's root folder: the nearest ancestor of this file with tfjs-sparsity's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"tfjs-sparsity"/.test(readFileSync(pkg, 'utf8'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the tfjs-sparsity package folder above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The tfjs packages the demo page imports (browser/demo.html's import map). */
const PAGE_PACKAGES = ['tfjs-core', 'tfjs-layers', 'tfjs-backend-wasm'];

/**
 * A mount per tfjs package the page imports, at the package's real folder wherever the package manager
 * put it (pnpm links them from elsewhere: the server refuses symlinks out of a mount).
 */
function tensorflowMounts(root: string): Record<string, string> {
  const require = createRequire(join(root, 'package.json'));
  try {
    return Object.fromEntries(PAGE_PACKAGES.map(name =>
      [`/node_modules/@tensorflow/${name}/`, realpathSync(dirname(require.resolve(`@tensorflow/${name}/package.json`)))]));
  } catch {
    throw new UsageError('the demo page needs @tensorflow/tfjs-core, -layers and -backend-wasm installed (npm install)');
  }
}

/**
 * The model folders under `dir` (those with a model.json), dense first. Throws a UsageError naming
 * what is missing, so `serve` fails before the page does.
 */
export function listDemoModels(dir: string): string[] {
  const hint = 'run `tfjs-sparsity demo` (npm start) to train and write them, or pass --models <dir>';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`models folder not found: ${dir} (${hint})`);
  const names = readdirSync(dir).filter(n => existsSync(join(dir, n, 'model.json'))).sort();
  if (!names.includes('dense')) throw new UsageError(`${dir} has no dense/model.json (${hint})`);
  if (names.length < 2) {
    throw new UsageError(`${dir} has only the dense model; the page compares it with a pruned or sparse one ` +
        `(<name>/model.json) (${hint})`);
  }
  return ['dense', ...names.filter(n => n !== 'dense')];
}

/** `perClass` test digits of each class, interleaved 0..9, 0..9, ..., pixels rounded to 1/1000. */
function pickDigits(split: MnistSplit, perClass: number): Array<{label: number; pixels: number[]}> {
  const pixels = split.images.length / split.count;
  const byClass: number[][] = Array.from({length: 10}, () => []);
  for (let i = 0; i < split.count; i++) {
    if (byClass[split.labels[i]].length < perClass) byClass[split.labels[i]].push(i);
  }
  const picked: Array<{label: number; pixels: number[]}> = [];
  for (let k = 0; k < perClass; k++) {
    for (const indices of byClass) {
      const i = indices[k];
      if (i === undefined) continue;
      const image = split.images.subarray(i * pixels, (i + 1) * pixels);
      picked.push({label: split.labels[i], pixels: Array.from(image, v => Math.round(v * 1000) / 1000)});
    }
  }
  return picked;
}

/**
 * Serves the demo page with everything it loads: tfjs's ES modules and wasm files, the browser
 * bundle, the models folder (`/models/`) and `/data/demo.json` (the model names, the default sparse
 * model and 20 MNIST test digits, generated from the held-out split so nothing large is committed).
 * @throws UsageError when the models or the browser bundle are missing.
 */
export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const root = packageRoot();
  const models = resolve(options.models);
  const names = listDemoModels(models);
  const bundle = resolve(options.bundle ?? join(root, 'dist', 'tfjs-sparsity.browser.mjs'));
  if (!existsSync(bundle)) throw new UsageError(`the browser bundle ${bundle} is missing: build it with npm run build`);
  const page = join(root, 'browser', 'demo.html');
  if (!existsSync(page)) throw new Error(`the demo page ${page} is missing from the tfjs-sparsity package`);
  const others = names.slice(1);
  const sparse = others.includes(DEFAULT_SPARSE_MODEL) ? DEFAULT_SPARSE_MODEL :
      others.find(n => n.includes('sparse')) ?? others[0];
  const data = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-serve-'));
  try {
    const digits = pickDigits(loadMnist().test, DIGITS_PER_CLASS);
    writeFileSync(join(data, 'demo.json'), JSON.stringify({dense: 'dense', sparse, models: others, digits}));
    const server = await serveStatic({
      mounts: {
        '/': join(root, 'browser'),
        ...tensorflowMounts(root),
        '/dist/': dirname(bundle),
        '/models/': models,
        '/data/': data,
      },
      port: options.port,
      host: options.host,
    });
    return {
      url: server.url,
      port: server.port,
      pageUrl: `${server.url}demo.html`,
      close: () => server.close().finally(() => rmSync(data, {recursive: true, force: true})),
    };
  } catch (e) {
    rmSync(data, {recursive: true, force: true});
    throw e;
  }
}

/** The `serve` command: starts the demo server, prints its URL and runs until Ctrl-C (SIGINT) or SIGTERM. */
export async function runServe(opts: {models: string; port: number}): Promise<void> {
  const server = await startDemoServer({models: opts.models, port: opts.port}).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'EADDRINUSE' ? new UsageError(`port ${opts.port} is in use: pass --port <n> (0 picks a free one)`) : e;
  });
  console.log(`Demo page: ${server.pageUrl}`);
  console.log(`Models:    ${resolve(opts.models)}`);
  console.log('Press Ctrl-C to stop.');
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
}
