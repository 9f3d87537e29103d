// Node: dual ESM/CJS bundles with one .d.ts; tfjs and Node built-ins stay external (peer dependencies).
// Browser: one ESM bundle from src/browser.ts, tfjs external (a page maps it with an import map), our
// small CommonJS dependencies bundled in.
import {chmodSync, existsSync, readFileSync, statSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join, resolve} from 'node:path';
import {gzipSync} from 'node:zlib';
import commonjs from '@rollup/plugin-commonjs';
import typescript from '@rollup/plugin-typescript';
import {dts} from 'rollup-plugin-dts';
import ts from 'typescript';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const dependencies = Object.keys({...pkg.dependencies, ...pkg.peerDependencies});
/** tfjs, our runtime dependencies and Node built-ins are imported, never bundled. */
const external = (id) => id.startsWith('node:') || dependencies.some(d => id === d || id.startsWith(`${d}/`));
const tsOptions = {tsconfig: './tsconfig.json', include: ['src/**/*.ts'], declaration: false,
                   outDir: undefined, compilerOptions: {outDir: undefined, declaration: false}};

/**
 * Runtime dependencies the browser bundle carries inside it (a page maps only `@tensorflow/*`): small,
 * dependency-free CommonJS packages, which @rollup/plugin-commonjs turns into ES modules.
 */
const BROWSER_BUNDLED = ['crc-32'];
const require = createRequire(import.meta.url);

/**
 * Fails the browser build on any import other than our own files, `@tensorflow/*` and the bundled
 * dependencies: a Node built-in or an unbundled package would only fail later, in the user's page.
 */
function browserOnly() {
  return {
    name: 'tfjs-sparsity-browser-only',
    resolveId(id, importer) {
      if (!importer || id.startsWith('.') || id.startsWith('@tensorflow/') || id === 'tslib') return null;
      if (BROWSER_BUNDLED.some(d => id.startsWith(`${d}/`))) return require.resolve(id);
      this.error(`'${id}' (imported by ${importer}) cannot go into the browser bundle: src/browser.ts must ` +
          `export only modules that need nothing but @tensorflow/* (list Node-only exports in ` +
          `test/browser.test.ts NODE_ONLY instead)`);
    },
  };
}

/**
 * TypeScript to JavaScript one file at a time (tsconfig has `isolatedModules`, so this is exact), in
 * about a second: the browser test builds the bundle on every run. Type errors are `npm run
 * typecheck`'s job.
 */
function transpileTs() {
  const {config} = ts.readConfigFile('tsconfig.json', ts.sys.readFile);
  const {options} = ts.convertCompilerOptionsFromJson(config.compilerOptions, '.');
  const compilerOptions = {...options, declaration: false, sourceMap: true, inlineSourceMap: false, outDir: undefined};
  const isFile = (path) => existsSync(path) && statSync(path).isFile();
  return {
    name: 'tfjs-sparsity-transpile-ts',
    resolveId(id, importer) {
      if (!importer || !id.startsWith('.')) return null;
      const base = resolve(dirname(importer), id);
      return [`${base}.ts`, `${base}/index.ts`, base].find(isFile) ?? null;
    },
    transform(code, id) {
      if (!id.endsWith('.ts')) return null;
      const out = ts.transpileModule(code, {compilerOptions, fileName: id});
      return {code: out.outputText.replace(/\n\/\/# sourceMappingURL=.*$/, ''), map: JSON.parse(out.sourceMapText)};
    },
  };
}

/**
 * Makes the written file executable: npm sets a bin's mode when it installs a package, but a build
 * after a clean checkout (`npm run build`) would leave `npx tfjs-sparsity` with "Permission denied".
 */
export function executable() {
  return {
    name: 'tfjs-sparsity-executable',
    writeBundle(options) {
      chmodSync(options.file, 0o755);
    },
  };
}

/**
 * Files the command reads from packages that are only dev dependencies (src/cli/vendor.ts), per
 * package, relative to the folder of its main file: gzipped into dist/vendor/<package>/, with the
 * package's license beside them.
 */
export const CLI_VENDOR_FILES = {
  'chart.js': {license: '../LICENSE.md', files: ['chart.umd.min.js']},
  mnist: {license: '../LICENSE', files: Array.from({length: 10}, (_, digit) => `digits/${digit}.json`)},
};

/** Copies CLI_VENDOR_FILES beside the command's bundle, so an installed package has them. */
export function vendorFiles() {
  return {
    name: 'tfjs-sparsity-vendor-files',
    generateBundle() {
      for (const [pkg, {license, files}] of Object.entries(CLI_VENDOR_FILES)) {
        const root = dirname(require.resolve(pkg));
        this.emitFile({type: 'asset', fileName: `vendor/${pkg}/LICENSE`, source: readFileSync(join(root, license))});
        for (const file of files) {
          this.emitFile({type: 'asset', fileName: `vendor/${pkg}/${file}.gz`,
                         source: gzipSync(readFileSync(join(root, file)), {level: 9})});
        }
      }
    },
  };
}

/** The browser bundle's rollup options (the browser test builds it into a temporary folder). */
export function browserBundle(file = 'dist/tfjs-sparsity.browser.mjs') {
  return {
    input: 'src/browser.ts',
    external: (id) => id.startsWith('@tensorflow/'),
    plugins: [browserOnly(), transpileTs(), commonjs()],
    output: {file, format: 'es', sourcemap: true},
  };
}

export default [
  {
    input: 'src/index.ts',
    external,
    plugins: [typescript(tsOptions)],
    output: [
      {file: 'dist/index.mjs', format: 'es', sourcemap: true},
      {file: 'dist/index.cjs', format: 'cjs', sourcemap: true, exports: 'named'},
    ],
  },
  {
    input: 'src/index.ts',
    external,
    plugins: [dts()],
    output: {file: 'dist/index.d.ts', format: 'es'},
  },
  {
    // The `tfjs-sparsity` command (package.json "bin").
    input: 'src/cli/bin.ts',
    external,
    plugins: [typescript(tsOptions), executable(), vendorFiles()],
    output: {file: 'dist/cli.mjs', format: 'es', sourcemap: true, banner: '#!/usr/bin/env node'},
  },
  browserBundle(),
  {
    input: 'src/browser.ts',
    external,
    plugins: [dts()],
    output: {file: 'dist/tfjs-sparsity.browser.d.ts', format: 'es'},
  },
];
