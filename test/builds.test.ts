// The kernel module's builds (src/kernels/builds.ts, loaded by src/kernels/module.ts): the
// shared-memory variant, the self-test, and the choice of build. The relaxed-SIMD build runs in child processes: Node 20 needs
// --experimental-wasm-relaxed-simd, and Node 22 (the npm registry's `node` package, run by npx)
// has it on by default; relaxed results stay within the documented tolerance of the baseline's.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFileSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {decideBuild, selfTest, wasmBytes, withSharedMemoryImport} from '../src/kernels/builds';
import {MIN_RELAXED_SPEEDUP} from '../src/kernels/dispatch';
import {isSharedMemory, kernelBuild, kernelsOn} from '../src/kernels/module';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs `script` (ESM, tsx) in a child Node with `flags`, returning its stdout's last line as JSON. */
function child(script: string, {node = [process.execPath], flags = [] as string[], env = {}} = {}): unknown {
  const out = execFileSync(node[0], [...node.slice(1), ...flags, '--import', 'tsx', '--input-type=module', '-e', script],
      {cwd: root, encoding: 'utf8', timeout: 240000, env: {...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', ...env},
        stdio: ['ignore', 'pipe', 'pipe']});
  return JSON.parse(out.trim().split('\n').pop()!);
}

// ---

const shared = suite('withSharedMemoryImport');

shared('the shared variant imports a shared memory of up to 4 GiB and runs on one; the code is unchanged', () => {
  for (const build of ['simd128', 'relaxed-simd'] as const) {
    const plain = wasmBytes(build), sharedBytes = wasmBytes(build, true);
    assert.ok(WebAssembly.validate(sharedBytes) || build === 'relaxed-simd', build);
    assert.ok(sharedBytes.length > plain.length && sharedBytes.length < plain.length + 8, 'only the limits changed');
  }
  const memory = new WebAssembly.Memory({initial: 1, maximum: 65536, shared: true});
  assert.ok(isSharedMemory(memory));
  const module = new WebAssembly.Module(wasmBytes('simd128', true));
  assert.is(selfTest(module, memory), null);
  assert.equal(WebAssembly.Module.exports(module), WebAssembly.Module.exports(new WebAssembly.Module(wasmBytes('simd128'))));
  assert.throws(() => new WebAssembly.Instance(module, {env: {memory: new WebAssembly.Memory({initial: 1})}}));
  assert.is(typeof kernelsOn(memory).f32_spmm_nchw_16x1__simd128, 'function');
});

shared('a module with no memory import and other imports pass through unchanged', () => {
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  assert.equal([...withSharedMemoryImport(bytes)], [...bytes]);
});

shared.run();

// ---

const choice = suite('kernelBuild');

choice('Node 20 without the flag: the baseline build, because relaxed SIMD does not validate', () => {
  assert.is(selfTest(new WebAssembly.Module(wasmBytes('simd128'))), null);
  assert.equal(kernelBuild(), {build: 'simd128', reason: 'this runtime does not validate relaxed SIMD'});
});

// Compares the relaxed build's pixel and strip kernels with the baseline's on random problems and
// reports the largest error in units of the documented bound n·2⁻²³·Σ|wᵢxᵢ| (n terms per output).
const COMPARE = `
  import {wasmBytes} from './src/kernels/builds.ts';
  import {kernelBuild} from './src/kernels/module.ts';
  const choice = kernelBuild();
  const mods = ['simd128', 'relaxed-simd'].map(b => new WebAssembly.Module(wasmBytes(b)));
  let worst = 0, differ = 0, total = 0;
  let seed = 1;
  const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  for (let t = 0; t < 20; t++) {
    const K = 8 + (t * 13) % 90, N = 1 + (t * 7) % 40, P = 1 + (t * 29) % 70;
    const w = Array.from({length: K * N}, () => Math.random() < 0.6 ? 0 : rand());
    const x = Float32Array.from({length: K * P}, rand);
    const rowptr = [0], ics = [], vals = [];
    for (let n = 0; n < N; n++) { for (let k = 0; k < K; k++) if (w[k * N + n]) { ics.push(k); vals.push(w[k * N + n]); } rowptr.push(ics.length); }
    const outs = mods.map(m => {
      const memory = new WebAssembly.Memory({initial: 16});
      const k = new WebAssembly.Instance(m, {env: {memory}}).exports;
      const f32 = new Float32Array(memory.buffer), i32 = new Int32Array(memory.buffer);
      const X = 0, RP = 65536, IC = 131072, V = 262144, Y = 393216, PACK = 524288;
      f32.set(x, X / 4); i32.set(rowptr, RP / 4); i32.set(ics, IC / 4); f32.set(vals, V / 4);
      k.f32_spmm_nchw_16x1__simd128(X, 4 * P, P, RP, IC, V, 0, N, 0, -Infinity, Infinity, Y, 4 * P, K, PACK);
      return f32.slice(Y / 4, Y / 4 + N * P);
    });
    for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) {
      let mag = 0;
      for (let j = rowptr[n]; j < rowptr[n + 1]; j++) mag += Math.abs(vals[j] * x[ics[j] * P + p]);
      const terms = rowptr[n + 1] - rowptr[n];
      const i = n * P + p, d = Math.abs(outs[0][i] - outs[1][i]);
      total++;
      if (d > 0) differ++;
      if (d > 0) worst = Math.max(worst, d / (terms * 2 ** -23 * mag));
    }
  }
  // The one-row strip kernel (1x16, strips in pairs in the relaxed build) and the depthwise kernel
  // (rows summed apart in the relaxed build), on one memory per build.
  const inst = mods.map(m => { const memory = new WebAssembly.Memory({initial: 16});
    return {k: new WebAssembly.Instance(m, {env: {memory}}).exports, f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer)}; });
  const check = (got0, got1, mag, terms) => {
    const d = Math.abs(got0 - got1);
    total++;
    if (d > 0) { differ++; worst = Math.max(worst, d / (terms * 2 ** -23 * mag)); }
  };
  for (let t = 0; t < 10; t++) {
    const K = 20 + t * 11, S = 1 + (t * 5) % K;
    const x = Float32Array.from({length: K}, rand), ks = Array.from({length: S}, (_, s) => (s * 7 + t) % K);
    const v = Float32Array.from({length: S * 16}, rand);
    const ys = inst.map(({k, f32, i32}) => {
      f32.set(x, 0); i32[1024] = 0; i32[1025] = S; ks.forEach((kk, s) => { i32[2048 + s] = kk * 4; }); f32.set(v, 4096);
      k.f32_spmm_1x16__simd128(0, 4096, 8192, 16384, 16, 0, 0, 32768, 40000);
      return f32.slice(8192, 8192 + 16);
    });
    for (let c = 0; c < 16; c++) {
      let mag = 0;
      ks.forEach((kk, s) => { mag += Math.abs(x[kk] * v[s * 16 + c]); });
      check(ys[0][c], ys[1][c], mag, S);
    }
  }
  for (const [C, H] of [[4, 10], [5, 7], [8, 20]]) {
    const x = Float32Array.from({length: C * H * H}, rand), w = Float32Array.from({length: C * 9}, rand);
    const O = H - 2;
    const ys = inst.map(({k, f32}) => {
      f32.set(x, 0); f32.set(w, 16384);
      k.f32_dwconv2d_nchw_3x3s1__simd128(0, 1, C, 0, C, H, H, O, O, 0, 0, 65536, 0, -Infinity, Infinity, 81920, 131072);
      return f32.slice(81920 / 4, 81920 / 4 + C * O * O);
    });
    for (let c = 0; c < C; c++) for (let i = 0; i < O; i++) for (let j = 0; j < O; j++) {
      let mag = 0;
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) mag += Math.abs(w[c * 9 + a * 3 + b] * x[c * H * H + (i + a) * H + j + b]);
      const o = c * O * O + i * O + j;
      check(ys[0][o], ys[1][o], mag, 9);
    }
  }
  console.log(JSON.stringify({choice, worst, differ, total}));
`;

const RELAXED = {TFJS_SPARSITY_KERNELS: 'relaxed-simd'};

choice('Node 20 with --experimental-wasm-relaxed-simd: the relaxed build; pixel, strip and depthwise kernels within n·2⁻²³·Σ|wx| of the baseline', () => {
  const r = child(COMPARE, {flags: ['--experimental-wasm-relaxed-simd'], env: RELAXED}) as
      {choice: {build: string}; worst: number; differ: number; total: number};
  assert.is(r.choice.build, 'relaxed-simd');
  assert.ok(r.worst <= 1, `error ${r.worst} of the bound`);
  assert.ok(r.differ > 0, 'the relaxed build fused nothing (it equals the baseline everywhere)');
});

choice('Node 22 from the npm registry (npx node@22): the relaxed build with no flag, within the bound', () => {
  const r = child(COMPARE, {node: ['npx', '-y', 'node@22.23.3'], env: RELAXED}) as {choice: {build: string}; worst: number; differ: number};
  assert.is(r.choice.build, 'relaxed-simd');
  assert.ok(r.worst <= 1, `error ${r.worst} of the bound`);
  assert.ok(r.differ > 0);
});

choice('a runtime whose relaxed results are wrong: the baseline build, said once', () => {
  // The relaxed instance's pixel kernel corrupts its first output, as a broken runtime would.
  const script = `
    const Instance = WebAssembly.Instance;
    WebAssembly.Instance = function (module, imports) {
      const inst = new Instance(module, imports);
      if (!globalThis.__relaxed.has(module)) return inst;
      const f = inst.exports.f32_spmm_nchw_16x1__simd128;
      const exports = {...inst.exports, f32_spmm_nchw_16x1__simd128: (...a) => {
        f(...a); new Float32Array(imports.env.memory.buffer)[a[11] / 4] += 1; }};
      return {exports};
    };
    const Module = WebAssembly.Module;
    globalThis.__relaxed = new Set();
    const {wasmBytes} = await import('./src/kernels/builds.ts');
    const {kernelBuild} = await import('./src/kernels/module.ts');
    const relaxedBytes = wasmBytes('relaxed-simd');
    WebAssembly.Module = function (bytes) {
      const m = new Module(bytes);
      if (bytes.length === relaxedBytes.length) globalThis.__relaxed.add(m);
      return m;
    };
    const warnings = [];
    console.warn = (m) => warnings.push(m);
    const a = kernelBuild(), b = kernelBuild();
    console.log(JSON.stringify({a, b, warnings}));
  `;
  const r = child(script, {flags: ['--experimental-wasm-relaxed-simd']}) as
      {a: {build: string; reason: string}; b: {build: string}; warnings: string[]};
  assert.is(r.a.build, 'simd128');
  assert.match(r.a.reason, /relaxed SIMD failed the self-test: f32_spmm_nchw_16x1__simd128 gave/);
  assert.is(r.b.build, 'simd128');
  assert.is(r.warnings.length, 1);
  assert.match(r.warnings[0], /relaxed SIMD failed our self-test .*using the baseline SIMD128 kernels/);
});

choice('decideBuild: forced, validation, self-test, then speed, in that order; the reason says which decided', () => {
  const facts = (over: Partial<Parameters<typeof decideBuild>[0]>) => ({forced: undefined, validates: true,
    selfTest: () => null, speedup: () => 1.2, ...over});
  const never = () => { throw new Error('not to be measured'); };
  assert.equal(decideBuild(facts({forced: 'simd128', selfTest: never, speedup: never})),
      {build: 'simd128', reason: 'TFJS_SPARSITY_KERNELS=simd128'});
  assert.equal(decideBuild(facts({validates: false, selfTest: never, speedup: never})),
      {build: 'simd128', reason: 'this runtime does not validate relaxed SIMD'});
  const wrong = decideBuild(facts({selfTest: () => 'f gave 3 for 2', speedup: never}));
  assert.is(wrong.build, 'simd128');
  assert.match(wrong.warning!, /failed our self-test \(f gave 3 for 2\)/);
  assert.equal(decideBuild(facts({forced: 'relaxed-simd', speedup: never})).build, 'relaxed-simd');
  assert.equal(decideBuild(facts({speedup: () => 0.8})),
      {build: 'simd128', reason: 'relaxed SIMD validated and passed the self-test, but ran 0.80x the baseline here (chosen from 1.05x)'});
  assert.equal(decideBuild(facts({speedup: () => NaN})).build, 'simd128');
  assert.equal(decideBuild(facts({speedup: () => MIN_RELAXED_SPEEDUP})),
      {build: 'relaxed-simd', reason: 'relaxed SIMD validated, passed the self-test and ran 1.05x the baseline'});
});

choice('Node 20 with the flag, not forced: the speed probe decides, and says so', () => {
  const script = `
    import {kernelBuild} from './src/kernels/module.ts';
    const t0 = performance.now();
    const choice = kernelBuild();
    console.log(JSON.stringify({choice, ms: performance.now() - t0}));
  `;
  const r = child(script, {flags: ['--experimental-wasm-relaxed-simd']}) as {choice: {build: string; reason: string}; ms: number};
  assert.match(r.choice.reason, /ran \d+\.\d\dx the baseline/);
  assert.is(r.choice.build, /but ran/.test(r.choice.reason) ? 'simd128' : 'relaxed-simd');
});

choice('TFJS_SPARSITY_KERNELS forces the baseline build; an unknown value is an error naming the allowed ones', () => {
  const script = `
    import {kernelBuild} from './src/kernels/module.ts';
    let error = null, choice = null;
    try { choice = kernelBuild(); } catch (e) { error = e.message; }
    console.log(JSON.stringify({choice, error}));
  `;
  const forced = child(script, {flags: ['--experimental-wasm-relaxed-simd'], env: {TFJS_SPARSITY_KERNELS: 'simd128'}}) as
      {choice: {build: string; reason: string}};
  assert.equal(forced.choice, {build: 'simd128', reason: 'TFJS_SPARSITY_KERNELS=simd128'});
  const bad = child(script, {env: {TFJS_SPARSITY_KERNELS: 'avx512'}}) as {error: string};
  assert.is(bad.error, "TFJS_SPARSITY_KERNELS must be one of 'simd128', 'relaxed-simd', but got 'avx512'");
});

choice.run();
