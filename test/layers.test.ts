// The house rules of src/ (DESIGN.md §1, README "Layout"), checked over the sources' own imports:
// dependencies run one way, `cli -> index -> sparse -> pruning -> {training, tensorboard, io} -> model
// -> ops -> kernels`, with util usable from every layer; no deep `dist/` import of a package; no
// source file over MAX_LINES lines.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import {dirname, join, relative, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

/**
 * The layer of each folder of src/ (files at its top are the public entries). A file may import its
 * own folder, util, and any folder of a lower layer; folders of one layer do not import each other.
 */
const LAYERS: Record<string, number> = {
  util: 0, kernels: 1, ops: 2, model: 3, training: 4, tensorboard: 4, io: 4, pruning: 5, sparse: 6, '.': 7, cli: 8,
};

const MAX_LINES = 400;

/** The files under `dir`, skipping hidden folders (bench/.cache holds unpacked npm packages, not our sources). */
function filesUnder(dir: string, ext = /\.ts$/): string[] {
  return readdirSync(dir).filter(name => !name.startsWith('.')).flatMap(name => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, ext) : ext.test(name) ? [path] : [];
  });
}

/** Every module specifier a source imports or re-exports (type imports included: they tie the code too). */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) specs.push(m[1]);
  for (const m of source.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) specs.push(m[1]);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]);
  return specs;
}

/** The folder of src/ a file belongs to ('.' for the entries at its top). */
function folderOf(file: string): string {
  const rel = relative(src, file).split(/[\\/]/);
  return rel.length === 1 ? '.' : rel[0];
}

const sources = filesUnder(src).filter(f => !f.endsWith('wasm-bytes.ts'));

const rules = suite('house rules');

rules('every folder of src/ has a layer', () => {
  const folders = new Set(sources.map(folderOf));
  assert.equal([...folders].filter(f => !(f in LAYERS)), []);
});

rules('imports run one way: down the layers, or within a folder, or to util', () => {
  const upward: string[] = [];
  for (const file of sources) {
    const from = folderOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(src)) continue;
      const to = folderOf(existsAsFile(target));
      if (to === from || to === 'util') continue;
      if (!(LAYERS[to] < LAYERS[from])) upward.push(`${relative(root, file)} -> ${spec} (${from} -> ${to})`);
    }
  }
  assert.equal(upward, [], `imports that do not run down the layers:\n${upward.join('\n')}`);
});

rules('no two files of src/ import each other, directly or round a longer circle (type imports too)', () => {
  const edges = new Map(sources.map(file => [file, importsOf(readFileSync(file, 'utf8'))
      .filter(spec => spec.startsWith('.')).map(spec => existsAsFile(resolve(dirname(file), spec)))
      .filter(target => target.startsWith(src))]));
  const circles: string[] = [];
  const state = new Map<string, 'open'|'done'>();
  const visit = (file: string, path: string[]): void => {
    state.set(file, 'open');
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') circles.push([...path.slice(path.indexOf(next)), file, next].map(f => relative(src, f)).join(' -> '));
      else if (!state.has(next)) visit(next, [...path, file]);
    }
    state.set(file, 'done');
  };
  for (const file of sources) if (!state.has(file)) visit(file, []);
  assert.equal(circles, []);
});

rules('cli/ imports only the public surface (src/index.ts), util and its own files', () => {
  const outside: string[] = [];
  for (const file of sources.filter(f => folderOf(f) === 'cli')) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(src, existsAsFile(resolve(dirname(file), spec)));
      if (!/^(cli|util)[\\/]/.test(target) && target !== 'index.ts') outside.push(`${relative(root, file)} -> ${spec}`);
    }
  }
  assert.equal(outside, []);
});

rules('no deep import of a package\'s dist/ or src/ (public entry points only)', () => {
  const deep: string[] = [];
  const scanned = [...sources, ...filesUnder(join(root, 'bench')), ...filesUnder(join(root, 'test'))];
  for (const file of scanned) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.') && /\/(dist|src)\//.test(spec)) deep.push(`${relative(root, file)} -> ${spec}`);
    }
  }
  assert.equal(deep, []);
});

rules(`no source file is over ${MAX_LINES} lines`, () => {
  const scanned = [...sources, ...filesUnder(join(root, 'assembly')), ...filesUnder(join(root, 'bench')),
    ...filesUnder(join(root, 'scripts'), /\.(ts|mjs)$/)];
  const long = scanned.map(f => [relative(root, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > MAX_LINES).map(([f, n]) => `${f}: ${n}`);
  assert.equal(long, []);
});

rules('the import scanner sees what it must (a check that can fail)', () => {
  assert.equal(importsOf("import {a} from '../x';\nexport * from './y';\nimport './z';\nconst m = await import('node:fs');"),
               ['../x', './y', './z', 'node:fs']);
  assert.equal(importsOf("import type {T} from '../kernels/bridge';"), ['../kernels/bridge']);
  assert.is(folderOf(join(src, 'sparse', 'matmul.ts')), 'sparse');
  assert.is(folderOf(join(src, 'index.ts')), '.');
});

rules.run();

/** The file an import specifier names (`x` is `x.ts` or `x/index.ts`). */
function existsAsFile(target: string): string {
  for (const candidate of [target, `${target}.ts`, join(target, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return target;
}
