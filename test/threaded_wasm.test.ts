import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {ensureBuilt, ROOT} from './spawn';

interface ChildResult {
  error?: string|null;
  shared: boolean;
  heapShared: boolean;
  backend: string;
  equal: boolean;
  maxErr: number;
  warnings: string[];
  threadedCalls: number;
  copied: number;
  leaked: number;
}

/** The fixture in its own Node process (the wasm backend starts once per process); it must end on its own. */
function child(entry: 'esm'|'cjs', mode: 'threaded'|'started-before'|'refused'|'unreadable'|'no-backend',
               node: string[] = [process.execPath]): ChildResult {
  ensureBuilt();
  const preload = mode === 'unreadable' ? ['--import', join(ROOT, 'test/fixtures/no-tfjs-wasm.mjs')] : [];
  const run = spawnSync(node[0], [...node.slice(1), ...preload, join(ROOT, 'test/fixtures/threaded_wasm_child.mjs'), entry, mode],
      {cwd: ROOT, encoding: 'utf8', timeout: 120_000});
  assert.is(run.signal, null, `the process ended on its own (${run.signal ?? ''}): ${run.stderr}`);
  assert.is(run.status, 0, run.stderr);
  const line = run.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as ChildResult;
}

const threaded = suite('useThreadedWasm (Node, the built package in its own process)');

for (const entry of ['esm', 'cjs'] as const) {
  threaded(`${entry}: starts tfjs-wasm's threaded build; our kernels run threaded on its heap with no copies, bit for bit`, () => {
    const r = child(entry, 'threaded');
    assert.is(r.shared, true);
    assert.is(r.heapShared, true);
    assert.is(r.backend, 'wasm');
    assert.equal(r.warnings, []);
    assert.ok(r.threadedCalls >= 1, `threaded calls: ${r.threadedCalls}`);
    assert.is(r.copied, 0, 'no threaded call copied its operands');
    assert.is(r.equal, true, '2 threads equal 1 thread bit for bit');
    assert.ok(r.maxErr < 1e-5, `against the plain reference: ${r.maxErr}`);
    assert.is(r.leaked, 0);
  });
}

threaded('Node 22 from the npm registry (npx node@22): the same glue starts the same way', () => {
  const r = child('esm', 'threaded', ['npx', '-y', 'node@22.23.3']);
  assert.is(r.shared, true);
  assert.is(r.copied, 0);
  assert.ok(r.threadedCalls >= 1);
  assert.is(r.equal, true);
  assert.is(r.leaked, 0);
});

threaded('a wasm backend already started single-threaded stays so, with a warning that says when to call it', () => {
  const r = child('esm', 'started-before');
  assert.is(r.shared, false);
  assert.is(r.heapShared, false);
  assert.is(r.backend, 'wasm');
  assert.is(r.warnings.length, 1);
  assert.match(r.warnings[0], /already initialized single-threaded: call useThreadedWasm\(\) before/);
  assert.is(r.equal, true);
  assert.is(r.leaked, 0);
});

threaded('a runtime that refuses the pthread workers falls back to the single-threaded build, with a warning', () => {
  const r = child('esm', 'refused');
  assert.is(r.shared, false);
  assert.is(r.backend, 'wasm');
  assert.ok(r.warnings.some(w => /threaded build did not start in this Node/.test(w)), r.warnings.join('\n'));
  assert.is(r.equal, true);
  assert.ok(r.maxErr < 1e-5);
  assert.is(r.leaked, 0);
});

threaded('no wasm binary at all: a clear error, and the process (with the glue workers the failed start made) ends on its own', () => {
  const r = child('esm', 'unreadable');
  assert.is(r.error, 'the wasm backend failed to initialize');
  assert.ok(r.warnings.some(w => /EACCES/.test(w)), 'tfjs printed why');
});

threaded('without tfjs-backend-wasm imported: an error that says to import it', () => {
  const r = child('cjs', 'no-backend');
  assert.is(r.error, "useThreadedWasm needs the wasm backend: import '@tensorflow/tfjs-backend-wasm' first");
  assert.equal(r.warnings, []);
});

threaded.run();
