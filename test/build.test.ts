// The build check must be able to fail: modules that would corrupt the tfjs-wasm heap are rejected,
// each with its own reason, and the shipped kernel module passes.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {WASM_BASE64, WASM_RELAXED_BASE64} from '../src/kernels/wasm-bytes';

const root = fileURLToPath(new URL('..', import.meta.url));

// The check runs in a plain Node child, as the build runs it: loading binaryen through tsx's ESM
// loader (which the tests use) takes ~40 s, under plain Node ~1 s. The child assembles each case
// from WebAssembly text with binaryen (a real module, valid) or takes base64 bytes, and prints the
// check's reasons per case.
const CHILD = `
  import binaryen from 'binaryen';
  import {readFileSync} from 'node:fs';
  import {checkSharedHeapModule} from './scripts/check-wasm.mjs';
  const cases = JSON.parse(readFileSync(0, 'utf8'));
  const out = {};
  for (const [name, c] of Object.entries(cases)) {
    let bytes;
    if (c.base64 !== undefined) bytes = new Uint8Array(Buffer.from(c.base64, 'base64'));
    else if (c.file !== undefined) bytes = new Uint8Array(readFileSync(c.file));
    else {
      const m = binaryen.parseText(c.wat);
      if (!m.validate()) throw new Error('invalid test module ' + name);
      bytes = m.emitBinary();
      m.dispose();
    }
    out[name] = [...new Set(checkSharedHeapModule(bytes))];
  }
  process.stdout.write(JSON.stringify(out));
`;

const MEMORY = '(import "env" "memory" (memory 0))';
const LOAD = '(func (export "load") (param i32) (result i32) (i32.load (local.get 0)))';

const CASES: Record<string, {wat?: string; base64?: string; file?: string}> = {
  clean: {wat: `(module ${MEMORY} ${LOAD})`},
  data: {wat: `(module ${MEMORY} (data (i32.const 1024) "tfjs heap") ${LOAD})`},
  grow: {wat: `(module ${MEMORY} (func (export "grow") (result i32) (memory.grow (i32.const 1))))`},
  importFunc: {wat: `(module ${MEMORY} (import "env" "abort" (func $abort)) (func (export "f") (call $abort)))`},
  otherMemory: {wat: `(module (import "js" "mem" (memory 1)) ${LOAD})`},
  importGlobal: {wat: `(module ${MEMORY} (import "env" "g" (global i32)) (func (export "f") (result i32) (global.get 0)))`},
  global: {wat: `(module ${MEMORY} (global $g (mut i32) (i32.const 0)) (func (export "f") (global.set $g (i32.const 1))))`},
  start: {wat: `(module ${MEMORY} (func $init) (start $init) ${LOAD})`},
  built: {file: 'build/kernels.wasm'},
  embedded: {base64: WASM_BASE64},
  builtRelaxed: {file: 'build/kernels-relaxed.wasm'},
  embeddedRelaxed: {base64: WASM_RELAXED_BASE64},
};

let problems: Record<string, string[]>;

const check = suite('checkSharedHeapModule');

check.before(() => {
  problems = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', CHILD],
      {cwd: root, input: JSON.stringify(CASES), encoding: 'utf8', env: {...process.env, NODE_OPTIONS: ''}}));
});

check('a pointer-in, pointer-out module on env.memory passes', () => {
  assert.equal(problems.clean, []);
});

check('a module with a data segment is rejected', () => {
  assert.equal(problems.data, ['has a data section']);
});

check('a module that grows memory is rejected', () => {
  assert.equal(problems.grow, ['contains memory.grow']);
});

check('a module importing anything but env.memory is rejected, naming the import', () => {
  assert.equal(problems.importFunc, ['imports env.abort (only env.memory is allowed)']);
  assert.equal(problems.otherMemory, ['imports js.mem (only env.memory is allowed)']);
  // An imported global is an import, not state of the module's own.
  assert.equal(problems.importGlobal, ['imports env.g (only env.memory is allowed)']);
});

check('a module with globals or a start function is rejected', () => {
  assert.equal(problems.global, ['has globals']);
  assert.equal(problems.start, ['has a start function']);
});

check('the built kernels (build/kernels.wasm and the embedded copy) pass', () => {
  assert.equal(problems.built, []);
  assert.equal(problems.embedded, []);
  assert.ok(WebAssembly.validate(Buffer.from(WASM_BASE64, 'base64')), 'embedded kernels do not validate');
});

check('the relaxed-SIMD build (build/kernels-relaxed.wasm and the embedded copy) passes the same checks', () => {
  assert.equal(problems.builtRelaxed, []);
  assert.equal(problems.embeddedRelaxed, []);
  assert.ok(WASM_RELAXED_BASE64 !== WASM_BASE64, 'the relaxed build is a copy of the baseline');
});

check.run();

// ---

const bin = suite('the command\'s bundle');

bin('dist/cli.mjs is written executable, so npx tfjs-sparsity runs after any build', async () => {
  const {default: configs, executable} = await import('../rollup.config.mjs');
  const cli = configs.find(c => c.input === 'src/cli/bin.ts');
  assert.ok(cli, 'the rollup config builds src/cli/bin.ts');
  assert.ok((cli!.plugins as Array<{name: string}>).some(p => p.name === executable().name), 'its plugins make it executable');
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-bin-'));
  try {
    const file = join(dir, 'cli.mjs');
    writeFileSync(file, '#!/usr/bin/env node\n', {mode: 0o644});
    executable().writeBundle({file});
    assert.is(statSync(file).mode & 0o777, 0o755);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

bin.run();

