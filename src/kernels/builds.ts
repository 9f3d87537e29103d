/**
 * The two builds of the kernel module and the choice between them. Both come from the same source:
 * baseline SIMD128 and relaxed SIMD (`f32x4.relaxed_madd` in every f32 multiply-add,
 * `assembly/madd.ts`). The relaxed build is chosen at load where the runtime validates it, it passes
 * a numeric self-test and a short probe finds it faster (`dispatch.ts`, "The kernel build"); a
 * runtime that computes wrong results falls back to the baseline build and says so once. Each build
 * also has a shared-memory variant (the same code with its memory import declared shared) for
 * threads (`thread_pool.ts`).
 */
import {MIN_RELAXED_SPEEDUP} from './dispatch';
import type {KernelExports} from './exports';
import {checkChoice} from '../util/validate';
import {WASM_BASE64, WASM_RELAXED_BASE64} from './wasm-bytes';

/** The kernel builds: baseline SIMD128, or relaxed SIMD (fused multiply-add). */
export type KernelBuild = 'simd128'|'relaxed-simd';
export const VALID_KERNEL_BUILDS: KernelBuild[] = ['simd128', 'relaxed-simd'];

/** The build in use and why it was chosen. */
export interface KernelBuildChoice {
  build: KernelBuild;
  reason: string;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(base64, 'base64'));
  const s = atob(base64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** The module's bytes for `build`, with its memory import declared shared when `shared`. */
export function wasmBytes(build: KernelBuild, shared = false): Uint8Array<ArrayBuffer> {
  const bytes = decode(build === 'simd128' ? WASM_BASE64 : WASM_RELAXED_BASE64);
  return shared ? withSharedMemoryImport(bytes) : bytes;
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/**
 * `bytes` with its `env.memory` import declared shared with a maximum of 4 GiB: a module can import
 * a shared memory (tfjs-wasm's threaded heap, our thread pool's memory) only if it declares one,
 * and a declared maximum at least the memory's own. The code is untouched: the kernels use no
 * atomics, threads only ever write disjoint ranges.
 */
export function withSharedMemoryImport(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const readU32 = (at: {pos: number}) => {
    let result = 0, shift = 0, byte;
    do {
      byte = bytes[at.pos++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return result >>> 0;
  };
  const out: number[] = [...bytes.subarray(0, 8)];
  const at = {pos: 8};
  while (at.pos < bytes.length) {
    const id = bytes[at.pos++];
    const size = readU32(at);
    const start = at.pos, end = at.pos + size;
    if (id !== 2) {
      out.push(id, ...leb(size), ...bytes.subarray(start, end));
      at.pos = end;
      continue;
    }
    // Import section: copy each entry, rewriting the limits of a memory import.
    const body: number[] = [];
    const count = readU32(at);
    body.push(...leb(count));
    for (let i = 0; i < count; i++) {
      const entryStart = at.pos;
      const modLen = readU32(at);
      at.pos += modLen;
      const nameLen = readU32(at);
      at.pos += nameLen;
      const kind = bytes[at.pos++];
      body.push(...bytes.subarray(entryStart, at.pos));
      if (kind === 2) {
        const flags = bytes[at.pos++];
        const min = readU32(at);
        if (flags & 1) readU32(at);
        body.push(0x03, ...leb(min), ...leb(65536));
      } else {
        const kindStart = at.pos;
        if (kind === 0) readU32(at);
        else if (kind === 1) { at.pos++; const f = bytes[at.pos++]; readU32(at); if (f & 1) readU32(at); }
        else if (kind === 3) at.pos += 2;
        body.push(...bytes.subarray(kindStart, at.pos));
      }
    }
    at.pos = end;
    out.push(id, ...leb(body.length), ...body);
  }
  return new Uint8Array(out);
}

/**
 * A numeric self-test of a compiled build: the pixel kernel and the 2-row strip kernel (both run
 * their multiply-adds through `f32x4_madd`) on small integers, whose products and sums are exact in
 * f32 whether fused or not, so any difference from the plain loop is a wrong runtime. Returns the
 * first mismatch, or null. `memory` (one page at least) must be shared for a shared-memory variant.
 */
export function selfTest(module: WebAssembly.Module, memory = new WebAssembly.Memory({initial: 1})): string|null {
  const k = new WebAssembly.Instance(module, {env: {memory}}).exports as unknown as KernelExports;
  const f32 = new Float32Array(memory.buffer), i32 = new Int32Array(memory.buffer);
  // Pixel kernel: 3 outputs by 4 inputs (a few zeros), 20 pixels (a 16-pixel tile and a 4-pixel tail).
  const K = 4, N = 3, P = 20;
  const w = [[1, 0, -2], [3, 1, 0], [0, -1, 2], [-3, 2, 1]];  // [K][N]
  const X = 0, RP = 512, IC = 1024, V = 1536, B = 2048, Y = 4096;
  for (let i = 0; i < K * P; i++) f32[X / 4 + i] = (i * 7) % 11 - 5;
  let j = 0;
  for (let n = 0; n < N; n++) {
    i32[RP / 4 + n] = j;
    for (let kk = 0; kk < K; kk++) if (w[kk][n] !== 0) { i32[IC / 4 + j] = kk; f32[V / 4 + j++] = w[kk][n]; }
    f32[B / 4 + n] = n - 1;
  }
  i32[RP / 4 + N] = j;
  k.f32_spmm_nchw_16x1__simd128(X, 4 * P, P, RP, IC, V, 0, N, B, -Infinity, Infinity, Y, 4 * P, K, 0);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      let want = n - 1;
      for (let kk = 0; kk < K; kk++) want += w[kk][n] * f32[X / 4 + kk * P + p];
      const got = f32[Y / 4 + n * P + p];
      if (got !== want) return `f32_spmm_nchw_16x1__simd128 gave ${got} for ${want} (output ${n}, pixel ${p})`;
    }
  }
  // Strip kernel, 1x16 blocks: 2 rows of K = 4 times a dense [4, 16] weight (4 strips in one block).
  const CP = 512, RO = 1024;
  i32[CP / 4] = 0;
  i32[CP / 4 + 1] = K;
  for (let kk = 0; kk < K; kk++) {
    i32[RO / 4 + kk] = kk * 4;
    for (let c = 0; c < 16; c++) f32[V / 4 + kk * 16 + c] = ((kk + 2 * c) % 7) - 3;
  }
  for (let i = 0; i < 2 * K; i++) f32[X / 4 + i] = i - 3;
  k.f32_spmm_2x16__simd128(X, 2, K, CP, RO, V, 16, 0, 0, Y, 8192);
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 16; c++) {
      let want = 0;
      for (let kk = 0; kk < K; kk++) want += f32[X / 4 + r * K + kk] * f32[V / 4 + kk * 16 + c];
      const got = f32[Y / 4 + r * 16 + c];
      if (got !== want) return `f32_spmm_2x16__simd128 gave ${got} for ${want} (row ${r}, column ${c})`;
    }
  }
  return null;
}

const FORCE_ENV = 'TFJS_SPARSITY_KERNELS';

/**
 * The build forced by the environment variable (Node) or a global of that name (a page, set before
 * the first op), if any.
 */
export function forcedBuild(): KernelBuild|undefined {
  const g = globalThis as {process?: {env?: Record<string, string|undefined>}} & Record<string, unknown>;
  const v = g.process?.env?.[FORCE_ENV] ?? g[FORCE_ENV] as string|undefined;
  if (v === undefined || v === '') return undefined;
  return checkChoice(v, VALID_KERNEL_BUILDS, FORCE_ENV);
}

let warnedSelfTest = false;

/**
 * How much faster `relaxed` runs than `baseline` here: the pixel kernel (16x1 tile) and the one-row
 * 1x16 strip kernel on small problems in cache, both builds warmed up (V8 compiles hot wasm
 * functions again with its optimizing tier), then timed in alternating batches, the fastest batch
 * of each kept (other processes only ever add time). About 40 ms in all, once per program run.
 */
export function relaxedSpeedup(relaxed: WebAssembly.Module, baseline: WebAssembly.Module): number {
  const K = 64, N = 64, P = 256;
  let seed = 1;
  const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const runs = [relaxed, baseline].map(module => {
    const memory = new WebAssembly.Memory({initial: 4});
    const k = new WebAssembly.Instance(module, {env: {memory}}).exports as unknown as KernelExports;
    const f32 = new Float32Array(memory.buffer), i32 = new Int32Array(memory.buffer);
    // Pixel problem: x [K, P] at 0, rowptr at 65536, ics at 66560, vals at 86016, y at 106496, pack at 172032.
    const X = 0, RP = 65536, IC = 66560, V = 86016, Y = 106496, PACK = 172032;
    seed = 1;
    for (let i = 0; i < K * P; i++) f32[X / 4 + i] = rand() - 0.5;
    let j = 0;
    for (let n = 0; n < N; n++) {
      i32[RP / 4 + n] = j;
      for (let kk = 0; kk < K; kk++) if (rand() < 0.2) { i32[IC / 4 + j] = kk; f32[V / 4 + j++] = rand() - 0.5; }
    }
    i32[RP / 4 + N] = j;
    // Strip problem (1x16, K strips of each of the N/16 column blocks, 20 % kept): reuses x, own arrays.
    const CP = 180224, RO = 180480, SV = 196608, SY = 245760, TMP = 246016;
    let s = 0;
    for (let cb = 0; cb < N / 16; cb++) {
      i32[CP / 4 + cb] = s;
      for (let kk = 0; kk < K; kk++) if (rand() < 0.2) i32[RO / 4 + s++] = kk * 4;
    }
    i32[CP / 4 + N / 16] = s;
    for (let i = 0; i < s * 16; i++) f32[SV / 4 + i] = rand() - 0.5;
    return () => {
      k.f32_spmm_nchw_16x1__simd128(X, 4 * P, P, RP, IC, V, 0, N, 0, -Infinity, Infinity, Y, 4 * P, K, PACK);
      for (let r = 0; r < 8; r++) k.f32_spmm_1x16__simd128(X + 256 * r, CP, RO, SV, N, 0, 0, SY, TMP);
    };
  });
  const batch = (f: () => void, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    return (performance.now() - t0) / n;
  };
  for (const f of runs) for (const t0 = performance.now(); performance.now() - t0 < 10;) f();
  const reps = Math.max(1, Math.round(2 / Math.max(batch(runs[1], 1), 1e-3)));
  const best = [Infinity, Infinity];
  for (let round = 0; round < 5; round++) runs.forEach((f, i) => { best[i] = Math.min(best[i], batch(f, reps)); });
  return best[1] / best[0];
}

/** What decides the build, each fact measured or tested by `chooseBuild`. */
export interface BuildFacts {
  forced: KernelBuild|undefined;
  validates: boolean;
  /** The self-test's first mismatch (null: passed), or why it could not run. */
  selfTest: () => string|null;
  speedup: () => number;
}

/** The build for `facts` (pure apart from the facts' own measurements). */
export function decideBuild(facts: BuildFacts): KernelBuildChoice & {warning?: string} {
  if (facts.forced === 'simd128') return {build: 'simd128', reason: `${FORCE_ENV}=simd128`};
  if (!facts.validates) {
    return {build: 'simd128', reason: 'this runtime does not validate relaxed SIMD' +
        (facts.forced ? ` (${FORCE_ENV}=relaxed-simd ignored)` : '')};
  }
  const problem = facts.selfTest();
  if (problem) {
    return {build: 'simd128', reason: `relaxed SIMD failed the self-test: ${problem}`,
      warning: `tfjs-sparsity: this runtime's relaxed SIMD failed our self-test (${problem}); using the baseline SIMD128 kernels.`};
  }
  if (facts.forced === 'relaxed-simd') {
    return {build: 'relaxed-simd', reason: `relaxed SIMD validated and passed the self-test (${FORCE_ENV}=relaxed-simd)`};
  }
  const speedup = facts.speedup();
  if (!(speedup >= MIN_RELAXED_SPEEDUP)) {
    return {build: 'simd128', reason: `relaxed SIMD validated and passed the self-test, but ran ${speedup.toFixed(2)}x ` +
        `the baseline here (chosen from ${MIN_RELAXED_SPEEDUP}x)`};
  }
  return {build: 'relaxed-simd', reason: `relaxed SIMD validated, passed the self-test and ran ${speedup.toFixed(2)}x the baseline`};
}

/**
 * Picks a build, given a way to compile the relaxed one and the baseline (sync or already compiled),
 * and warns once where the relaxed build failed its self-test.
 */
export function chooseBuild(relaxed: () => WebAssembly.Module|null, baseline: () => WebAssembly.Module): KernelBuildChoice {
  let module: WebAssembly.Module|null = null;
  const {warning, ...result} = decideBuild({
    forced: forcedBuild(),
    validates: WebAssembly.validate(wasmBytes('relaxed-simd')),
    selfTest: () => (module = relaxed()) ? selfTest(module) : 'it did not compile',
    speedup: () => relaxedSpeedup(module!, baseline()),
  });
  if (warning && !warnedSelfTest) {
    warnedSelfTest = true;
    console.warn(warning);
  }
  return result;
}
