// The relaxed-SIMD build against the baseline build, kernel by kernel, in one process: both
// modules instantiated side by side on private memories, the same operands, timed alternately
// (fastest of many short batches). Runs in headless Chromium (relaxed SIMD on by default) and in
// the Node running this script (Node 22, or Node 20 with --experimental-wasm-relaxed-simd).
//
//   node --import tsx bench/relaxed.ts                                    Chromium
//   npx -y node@22.23.3 --import tsx bench/relaxed.ts --node              Node 22 from the npm registry
//   node --experimental-wasm-relaxed-simd --import tsx bench/relaxed.ts --node
//   node --import tsx bench/relaxed.ts --dot       the instructions alone, in Chromium: relaxed int8
//                                                  dot (i8 x i7, 16 products an instruction) against
//                                                  the baseline i16 dot of our int8 kernels (8), and
//                                                  f32x4.relaxed_madd against f32x4.mul + f32x4.add,
//                                                  on registers and fed from memory as our tiles are
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {chromium} from 'playwright-core';
import {packBlockSparse, PixelSparseMatrix} from '../src/index';
import {WASM_BASE64, WASM_RELAXED_BASE64} from '../src/kernels/wasm-bytes';

const args = process.argv.slice(2);

/** One kernel call's operands: named byte arrays laid out in memory, and the call's arguments. */
interface KernelCase {
  name: string;
  fn: string;
  /** Arrays copied to memory; `args` refers to them as '@name' (their address). */
  arrays: Record<string, {bytes: number[]|string; kind: 'f32'|'i32'|'i8'|'zero'; length: number}>;
  args: Array<number|string>;
  macs: number;
  /** int8 strips: quantize [rows, K] of x into the tables at xq before timing. */
  quantize?: [number, number];
}

function lcg(seed: number) {
  let s = seed;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

function unstructured(K: number, N: number, s: number, seed: number): Float32Array {
  const r = lcg(seed);
  return new Float32Array(K * N).map(() => r() < s ? 0 : r() - 0.5);
}

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const arr = (a: Float32Array|Int32Array|Int8Array, kind: 'f32'|'i32'|'i8') => ({bytes: b64(a), kind, length: a.length});
const zero = (bytes: number) => ({bytes: '', kind: 'zero' as const, length: bytes});

function pixelCase(P: number, K: number, N: number, s: number, dtype: 'float32'|'int8', tile = 16): KernelCase {
  const m = PixelSparseMatrix.fromDense(unstructured(K, N, s, K + N), [K, N], dtype);
  const {rowPtr, ics, values, scales} = m.tensors;
  const x = tf.randomNormal([K, P]).dataSync() as Float32Array;
  const arrays: KernelCase['arrays'] = {x: arr(x, 'f32'), rowptr: arr(rowPtr.dataSync() as Int32Array, 'i32'),
    ics: arr(ics.dataSync() as Int32Array, 'i32'), y: zero(4 * N * P), pack: zero(4 * tile * K)};
  const name = `pixel ${tile}x1 ${dtype} P ${P}, ${K}->${N}, ${s * 100} %`;
  let c: KernelCase;
  if (dtype === 'int8') {
    arrays.vals = {bytes: b64(values.dataSync() as Int32Array), kind: 'i8', length: m.nnz};
    arrays.scales = arr(scales!.dataSync() as Float32Array, 'f32');
    arrays.wq = zero(4 * m.nnz);
    c = {name, fn: 'i8_spmm_nchw_16x1__simd128', arrays, macs: m.nnz * P,
      args: ['@x', 4 * P, P, '@rowptr', '@ics', '@vals', '@scales', 0, N, 0, 0, 6, '@y', 4 * P, K, '@pack', '@wq']};
  } else {
    arrays.vals = arr(values.dataSync() as Float32Array, 'f32');
    c = {name, fn: `f32_spmm_nchw_${tile}x1__simd128`, arrays, macs: m.nnz * P,
      args: ['@x', 4 * P, P, '@rowptr', '@ics', '@vals', 0, N, 0, 0, 6, '@y', 4 * P, K, '@pack']};
  }
  m.dispose();
  return c;
}

function stripCase(M: number, K: number, N: number, s: number, dtype: 'float32'|'int8'): KernelCase {
  // 1x16 blocks, each zero with probability s.
  const keep = unstructured(K, N / 16, s, 5);
  const dense = unstructured(K, N, 0, 6).map((v, i) => keep[Math.floor(i / 16)] === 0 ? 0 : v);
  const w = tf.tensor2d(dense, [K, N]);
  const p = packBlockSparse(w, {blockSize: [1, 16], dtype});
  w.dispose();
  const {colPtr, rowOffsets, values, scales} = p.tensors;
  const x = tf.randomNormal([M, K]).dataSync() as Float32Array;
  const arrays: KernelCase['arrays'] = {x: arr(x, 'f32'), colptr: arr(colPtr.dataSync() as Int32Array, 'i32'),
    rowoff: arr(rowOffsets.dataSync() as Int32Array, 'i32'), y: zero(4 * M * N), tmp: zero(64)};
  const name = `strips 1x16 ${dtype} ${M}x${K}x${N}, ${s * 100} %`;
  const macs = p.nonzeros * M;
  let c: KernelCase;
  if (dtype === 'int8') {
    arrays.vals = {bytes: b64(values.dataSync() as Int32Array), kind: 'i8', length: 4 * values.size};
    arrays.scales = arr(scales!.dataSync() as Float32Array, 'f32');
    arrays.xq = zero(M * K * 8 + M * 4);
    // The activations are quantized once outside the timing; the kernel reads the tables.
    c = {name, fn: M === 1 ? 'i8_spmm_1x16__simd128' : 'i8_spmm_2x16__simd128', arrays, macs, quantize: [M, K],
      args: M === 1 ? ['@xq', `@xq+${M * K * 8}`, K, '@colptr', '@rowoff', '@vals', '@scales', N, 0, 0, '@y', '@tmp'] :
        ['@xq', `@xq+${M * K * 8}`, M, K, '@colptr', '@rowoff', '@vals', '@scales', N, 0, 0, '@y', '@tmp']};
  } else {
    arrays.vals = arr(values.dataSync() as Float32Array, 'f32');
    c = {name, fn: M === 1 ? 'f32_spmm_1x16__simd128' : 'f32_spmm_2x16__simd128', arrays, macs,
      args: M === 1 ? ['@x', '@colptr', '@rowoff', '@vals', N, 0, 0, '@y', '@tmp'] :
        ['@x', M, K, '@colptr', '@rowoff', '@vals', N, 0, 0, '@y', '@tmp']};
  }
  p.dispose();
  return c;
}

function depthwiseCase(H: number, C: number): KernelCase {
  const x = tf.randomNormal([C, H, H]).dataSync() as Float32Array;
  const w = tf.randomNormal([C, 9]).dataSync() as Float32Array;
  return {name: `depthwise 3x3 ${H}x${H}x${C}`, fn: 'f32_dwconv2d_nchw_3x3s1__simd128', macs: 9 * C * H * H,
    arrays: {x: arr(x, 'f32'), w: arr(w, 'f32'), y: zero(4 * C * H * H), scratch: zero(4 * (H + 8) * (H + 8) * 16 + 4096)},
    args: ['@x', 1, C, 0, C, H, H, H, H, 1, 1, '@w', 0, 0, 6, '@y', '@scratch']};
}

function gemmCase(M: number, K: number, N: number): KernelCase {
  const x = tf.randomNormal([M, K]).dataSync() as Float32Array;
  const w = tf.randomNormal([K, N]).dataSync() as Float32Array;
  return {name: `dense GEMM 4x8 ${M}x${K}x${N}`, fn: 'f32_gemm_4x8__simd128', macs: M * K * N,
    arrays: {x: arr(x, 'f32'), w: arr(w, 'f32'), y: zero(4 * M * N), tmp: zero(64 + K * 32)},
    args: ['@x', M, K, '@w', N, 0, 0, '@y', '@tmp']};
}

// Plain JavaScript, run in the page or in Node: instantiate both builds, lay the operands out,
// quantize int8 activations, check both builds agree to within the FMA bound, time them alternately.
const HARNESS = `async ({baseline, relaxed, cases}) => {
  const decode = (s) => typeof atob === 'function' ? Uint8Array.from(atob(s), c => c.charCodeAt(0)) : new Uint8Array(Buffer.from(s, 'base64'));
  const builds = await Promise.all([baseline, relaxed].map(b => WebAssembly.compile(decode(b))));
  const out = [];
  for (const c of cases) {
    const runs = builds.map(module => {
      const memory = new WebAssembly.Memory({initial: 1});
      const k = new WebAssembly.Instance(module, {env: {memory}}).exports;
      let top = 1024;
      const addr = {};
      for (const [name, a] of Object.entries(c.arrays)) {
        const bytes = a.kind === 'zero' ? a.length : decode(a.bytes).length;
        addr[name] = top;
        top = Math.ceil((top + bytes + 64) / 64) * 64;
      }
      if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
      for (const [name, a] of Object.entries(c.arrays)) if (a.kind !== 'zero') new Uint8Array(memory.buffer, addr[name]).set(decode(a.bytes));
      if (c.quantize) {
        const [rows, K] = c.quantize;
        k.i8_quantize_rows__simd128(addr.x, rows, K, addr.xq, addr.xq + rows * K * 8);
      }
      const args = c.args.map(a => typeof a === 'string' ? (a.includes('+') ? addr[a.slice(1, a.indexOf('+'))] + Number(a.slice(a.indexOf('+') + 1)) : addr[a.slice(1)]) : a);
      const call = () => k[c.fn](...args);
      return {call, y: () => new Float32Array(memory.buffer, addr.y, c.arrays.y.length / 4).slice()};
    });
    runs.forEach(r => r.call());
    const ya = runs[0].y(), yb = runs[1].y();
    let maxRel = 0, top = 0;
    for (let i = 0; i < ya.length; i++) { maxRel = Math.max(maxRel, Math.abs(ya[i] - yb[i])); top = Math.max(top, Math.abs(ya[i])); }
    const per = (f, n) => { const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t0) / n; };
    for (const r of runs) { const t0 = performance.now(); while (performance.now() - t0 < 100) r.call(); }
    const once = per(runs[0].call, 1);
    // Batches of about 20 ms: a page that is not cross-origin isolated reads a coarse clock.
    const reps = Math.max(1, Math.round(20 / Math.max(once, 1e-3)));
    let best = [Infinity, Infinity];
    for (let round = 0; round < 15; round++) runs.forEach((r, i) => { best[i] = Math.min(best[i], per(r.call, reps)); });
    out.push({name: c.name, baselineMs: best[0], relaxedMs: best[1], gmacs: c.macs / best[1] / 1e6, maxRel: maxRel / top});
  }
  return out;
}`;

function cases(): KernelCase[] {
  return [
    pixelCase(784, 256, 256, 0.8, 'float32'),
    pixelCase(3136, 128, 128, 0.9, 'float32'),
    pixelCase(196, 512, 512, 0.9, 'float32'),
    ...(args.includes('--tiles') ? [8, 32].flatMap(t => [pixelCase(784, 256, 256, 0.8, 'float32', t),
      pixelCase(3136, 128, 128, 0.9, 'float32', t)]) : []),
    pixelCase(784, 256, 256, 0.8, 'int8'),
    pixelCase(3136, 128, 128, 0.9, 'int8'),
    stripCase(32, 1024, 1024, 0.9, 'float32'),
    stripCase(1, 1024, 1024, 0.9, 'float32'),
    stripCase(32, 1024, 1024, 0.9, 'int8'),
    stripCase(1, 1024, 1024, 0.9, 'int8'),
    depthwiseCase(56, 144),
    gemmCase(64, 256, 256),
  ];
}

type Row = {name: string; baselineMs: number; relaxedMs: number; gmacs: number; maxRel: number};

function table(rows: Row[], where: string): void {
  console.log(`\n### Relaxed SIMD against baseline SIMD128, ${where}\n`);
  console.log('| kernel | baseline ms | relaxed ms | speedup | relaxed GMAC/s | max |diff| / max |y| |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.baselineMs.toFixed(4)} | ${r.relaxedMs.toFixed(4)} | **${(r.baselineMs / r.relaxedMs).toFixed(2)}x** | ` +
        `${r.gmacs.toFixed(1)} | ${r.maxRel.toExponential(1)} |`);
  }
}

// The instructions alone, each loop a checksum-returning function of an iteration count.
// int8: 4 independent accumulators over the same 64 bytes (in registers after the first pass),
// relaxed `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 products an instruction) against the baseline
// sequence of our int8 kernels, `i32x4.dot_i16x8_s` + add (8).
// f32: 8 independent accumulators (more than latency x issue width on current cores), fused
// `f32x4.relaxed_madd` against `f32x4.mul` + `f32x4.add`: on registers ("regs"), and fed from
// memory as our pixel tile is (a broadcast weight and 4 loads of 4 pixels per 4 multiply-adds,
// two weights an iteration: "tile").
const I8_ACCS = '(local $a v128) (local $b v128) (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)';
const I8_SUM = '(i32x4.extract_lane 0 (i32x4.add (i32x4.add (local.get $c0) (local.get $c1)) (i32x4.add (local.get $c2) (local.get $c3))))';
const F32_ACCS = Array.from({length: 8}, (_, i) => `(local $c${i} v128)`).join(' ');
const F32_SUM = `(f32x4.extract_lane 0 ${Array.from({length: 7}, () => '(f32x4.add').join(' ')} (local.get $c0) ${
  Array.from({length: 7}, (_, i) => `(local.get $c${i + 1}))`).join(' ')})`;
/** `c += a * b` fused or not. */
const madd = (fused: boolean, c: string, a: string, b: string) => fused ?
  `(local.set ${c} (f32x4.relaxed_madd ${a} ${b} (local.get ${c})))` :
  `(local.set ${c} (f32x4.add (local.get ${c}) (f32x4.mul ${a} ${b})))`;
const regsLoop = (fused: boolean) => Array.from({length: 8}, (_, i) =>
  madd(fused, `$c${i}`, i % 2 ? '(local.get $a)' : '(local.get $b)', i % 2 ? '(local.get $b)' : '(local.get $a)')).join('\n      ');
// Two nonzeros an iteration, as the relaxed build's tile (two chains of 4 accumulators): weight k
// broadcast from 0x100 + 4k, 16 pixels of its input row from 0x200 + 64k (the same 128 bytes every
// iteration: in L1, as a tile's packed rows are).
const tileLoop = (fused: boolean) => [0, 1].map(k => Array.from({length: 4}, (_, j) =>
  madd(fused, `$c${4 * k + j}`, `(v128.load32_splat (i32.const ${0x100 + 4 * k}))`, `(v128.load (i32.const ${0x200 + 64 * k + 16 * j}))`))
  .join('\n      ')).join('\n      ');
// One nonzero an iteration over 32 pixels (8 accumulators, one chain each): half the broadcasts.
const wideLoop = (fused: boolean) => Array.from({length: 8}, (_, j) =>
  madd(fused, `$c${j}`, '(local.get $a)', `(v128.load (i32.const ${0x200 + 16 * j}))`)).join('\n      ');
const f32Func = (name: string, body: string) => `(func (export "${name}") (param $n i32) (result f32)
    (local $a v128) (local $b v128) ${F32_ACCS}
    (local.set $a (v128.load (i32.const 0))) (local.set $b (v128.load (i32.const 16)))
    (loop $l
      ${body}
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    ${F32_SUM})`;
const DOT_WAT = `(module
  (memory (export "memory") 1)
  (func (export "relaxed") (param $n i32) (result i32)
    ${I8_ACCS}
    (local.set $a (v128.load (i32.const 0))) (local.set $b (v128.load (i32.const 16)))
    (loop $l
      (local.set $c0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $a) (local.get $b) (local.get $c0)))
      (local.set $c1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $b) (local.get $a) (local.get $c1)))
      (local.set $c2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $a) (local.get $a) (local.get $c2)))
      (local.set $c3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $b) (local.get $b) (local.get $c3)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    ${I8_SUM})
  (func (export "baseline") (param $n i32) (result i32)
    ${I8_ACCS}
    (local.set $a (v128.load8x8_s (i32.const 0))) (local.set $b (v128.load8x8_s (i32.const 16)))
    (loop $l
      (local.set $c0 (i32x4.add (local.get $c0) (i32x4.dot_i16x8_s (local.get $a) (local.get $b))))
      (local.set $c1 (i32x4.add (local.get $c1) (i32x4.dot_i16x8_s (local.get $b) (local.get $a))))
      (local.set $c2 (i32x4.add (local.get $c2) (i32x4.dot_i16x8_s (local.get $a) (local.get $a))))
      (local.set $c3 (i32x4.add (local.get $c3) (i32x4.dot_i16x8_s (local.get $b) (local.get $b))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    ${I8_SUM})
  ${f32Func('fmaRegs', regsLoop(true))}
  ${f32Func('mulAddRegs', regsLoop(false))}
  ${f32Func('fmaTile', tileLoop(true))}
  ${f32Func('mulAddTile', tileLoop(false))}
  ${f32Func('fmaWide', `(local.set $a (v128.load32_splat (i32.const 0x100)))\n      ${wideLoop(true)}`)}
  ${f32Func('mulAddWide', `(local.set $a (v128.load32_splat (i32.const 0x100)))\n      ${wideLoop(false)}`)})`;

const DOT_HARNESS = `async (bytes) => {
  const m = await WebAssembly.compile(Uint8Array.from(atob(bytes), c => c.charCodeAt(0)));
  const k = new WebAssembly.Instance(m).exports;
  new Int8Array(k.memory.buffer, 0, 32).set(Array.from({length: 32}, (_, i) => (i * 37) % 100));
  // Small floats that stay finite through 2^22 iterations of accumulation.
  new Float32Array(k.memory.buffer, 0x100, 2).set([1e-7, 2e-7]);
  new Float32Array(k.memory.buffer, 0x200, 32).set(Array.from({length: 32}, (_, i) => i / 32));
  const n = 1 << 22;
  const per = (f) => { const t0 = performance.now(); f(n); return (performance.now() - t0) / 1e3; };
  const best = (fs) => { const b = fs.map(() => Infinity); for (let i = 0; i < 15; i++) fs.forEach((f, j) => { b[j] = Math.min(b[j], per(f)); }); return b; };
  const [r, b] = best([k.relaxed, k.baseline]);
  const [fr, mr, ft, mt, fw, mw] = best([k.fmaRegs, k.mulAddRegs, k.fmaTile, k.mulAddTile, k.fmaWide, k.mulAddWide]);
  // Per iteration: 4 dot instructions of 16 (relaxed) or 8 (baseline) products; 8 f32x4 multiply-adds (32 lanes).
  return {relaxedGmacs: 4 * 16 * n / r / 1e9, baselineGmacs: 4 * 8 * n / b / 1e9,
    fmaRegs: 32 * n / fr / 1e9, mulAddRegs: 32 * n / mr / 1e9, fmaTile: 32 * n / ft / 1e9, mulAddTile: 32 * n / mt / 1e9,
    fmaWide: 32 * n / fw / 1e9, mulAddWide: 32 * n / mw / 1e9};
}`;

async function dot(): Promise<void> {
  const binaryen = (await import('binaryen')).default;
  const module = binaryen.parseText(DOT_WAT);
  module.setFeatures(binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
  if (!module.validate()) throw new Error('invalid dot module');
  const bytes = Buffer.from(module.emitBinary()).toString('base64');
  module.dispose();
  const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']});
  const page = await browser.newPage();
  const r = await page.evaluate(`(${DOT_HARNESS})(${JSON.stringify(bytes)})`) as Record<string, number>;
  console.log(`\nThe instructions alone, headless Chromium ${browser.version()}:`);
  console.log(`- int8 dot: relaxed i8 x i7 ${r.relaxedGmacs.toFixed(1)} G products/s, baseline i16 dot ` +
      `${r.baselineGmacs.toFixed(1)} G products/s, ${(r.relaxedGmacs / r.baselineGmacs).toFixed(2)}x`);
  console.log(`- f32 on registers: relaxed_madd ${r.fmaRegs.toFixed(1)} G multiply-adds/s, mul + add ` +
      `${r.mulAddRegs.toFixed(1)}, ${(r.fmaRegs / r.mulAddRegs).toFixed(2)}x`);
  console.log(`- f32 fed as our pixel tile: relaxed_madd ${r.fmaTile.toFixed(1)} G multiply-adds/s, mul + add ` +
      `${r.mulAddTile.toFixed(1)}, ${(r.fmaTile / r.mulAddTile).toFixed(2)}x`);
  console.log(`- f32 fed as a 32-pixel tile (one broadcast per 8 multiply-adds): relaxed_madd ${r.fmaWide.toFixed(1)} G ` +
      `multiply-adds/s, mul + add ${r.mulAddWide.toFixed(1)}, ${(r.fmaWide / r.mulAddWide).toFixed(2)}x`);
  await browser.close();
}

if (args.includes('--dot')) {
  await dot();
  process.exit(0);
}

await tf.setBackend('cpu');
const list = cases();
const input = {baseline: WASM_BASE64, relaxed: WASM_RELAXED_BASE64, cases: list};
if (args.includes('--node')) {
  const harness = new Function(`return ${HARNESS}`)() as (i: typeof input) => Promise<Row[]>;
  table(await harness(input), `Node ${process.version}`);
} else {
  const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']});
  const page = await browser.newPage();
  const rows = await page.evaluate(`(${HARNESS})(${JSON.stringify(input)})`) as Row[];
  table(rows, `headless Chromium ${browser.version()}`);
  await browser.close();
}
