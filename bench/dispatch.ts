// The dispatch constants of src/kernels/kernel_tuning.ts that had no measurement on record, each timed
// across its crossing as the two paths it chooses between, raw kernel calls on a private memory,
// alternating batches, fastest of many (bench/util.ts `timeAlternating`):
// - NT_DOT_MAX_ROWS: `A · Bᵀ` by dot products (f32_gemm_nt_dot_1x4) against a transpose of B and the
//   4x8 GEMM, for m = 1..64 rows of A;
// - SELECT_DIRECT_MAX_N: the exact k-th largest magnitude by the read-only radix selection alone
//   against the sampled band, for n around the limit.
// Run: node --import tsx bench/dispatch.ts [--nt] [--select]   (both without a flag)
import {KernelContext} from '../src/kernels/bridge';
import {bandSelect, HIST_BYTES, MAX_KEY} from '../src/kernels/kth_largest_magnitude';
import {kernelsOn} from '../src/kernels/module';
import {mulberry32} from '../src/util/random';
import {CaseResult, markdownTable, timeAlternating} from './util';

const args = new Set(process.argv.slice(2));
const all = !args.has('--nt') && !args.has('--select');

/**
 * A kernel context on a private memory: `fill` places random floats, `scratch` allocates after them
 * and is released by `release()` (each timed call starts from the same place).
 */
function arena(bytes: number): KernelContext & {fill(n: number): number; release(): void} {
  const memory = new WebAssembly.Memory({initial: Math.ceil(bytes / 65536) + 1});
  const random = mulberry32(7);
  let top = 64, mark = 64;
  const bump = (n: number) => {
    const p = top;
    top += (n + 63) & ~63;
    return p;
  };
  const kernels = kernelsOn(memory);
  return {
    kernels,
    input: () => { throw new Error('no tensors here'); },
    weight: () => { throw new Error('no tensors here'); },
    output: () => { throw new Error('no tensors here'); },
    threads: 1,
    parallel: (parts) => {
      for (const part of parts) for (const [name, ...a] of part) (kernels[name] as (...args: number[]) => void)(...a);
    },
    scratch: bump,
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
    fill(n) {
      const p = bump(n * 4);
      new Float32Array(memory.buffer, p, n).set(Float32Array.from({length: n}, () => random() * 2 - 1));
      mark = top;
      return p;
    },
    release() {
      top = mark;
    },
  };
}

/** `a · bᵀ` for a [m, k] and b [n, k]: the dot-product kernel against transpose + GEMM. */
function ntRows(): CaseResult[] {
  const results: CaseResult[] = [];
  for (const [k, n] of [[1024, 1024], [256, 1024]]) {
    for (const m of [1, 2, 3, 4, 5, 6, 8, 16, 32, 64]) {
      const ctx = arena(4 * (2 * m * k + 2 * k * n + m * n) + (1 << 20));
      const a = ctx.fill(m * k), b = ctx.fill(n * k), c = ctx.scratch(m * n * 4);
      const bt = ctx.scratch(k * n * 4), tmp = ctx.scratch(64 + k * 32);
      const K = ctx.kernels;
      const dot = () => K.f32_gemm_nt_dot_1x4__simd128(a, m, k, b, n, c);
      const gemm = () => {
        K.x32_transpose__simd128(b, n, k, bt);
        K.f32_gemm_4x8__simd128(a, m, k, bt, n, 0, 0, c, tmp);
      };
      results.push(timeAlternating(`m=${m} k=${k} n=${n}`, gemm, dot, {rounds: 20}));
    }
  }
  return results;
}

/** The exact threshold's two paths at each n: the band method against the radix selection alone. */
function selectPaths(): CaseResult[] {
  const results: CaseResult[] = [];
  for (const n of [2048, 4096, 8192, 16384, 32768, 65536]) {
    const ctx = arena(4 * 4 * n + (1 << 22));
    const src = ctx.fill(n);
    for (const k of [n >> 1, Math.round(n / 10)]) {
      const radix = () => {
        ctx.kernels.f32_kth_largest_magnitude_in_range__radix(src, n, k, 0, MAX_KEY, ctx.scratch(HIST_BYTES));
        ctx.release();
      };
      const band = () => {
        bandSelect(ctx, src, n, k, ctx.scratch(HIST_BYTES));
        ctx.release();
      };
      results.push(timeAlternating(`n=${n} k=${k}`, radix, band, {rounds: 20}));
    }
  }
  return results;
}

if (all || args.has('--nt')) {
  const r = ntRows();
  console.log('\n### NT_DOT_MAX_ROWS: A·Bᵀ, dot products (ours) vs transpose + 4x8 GEMM (ratio > 1: dot products faster)\n');
  console.log(markdownTable(r, 'transpose+GEMM'));
}
if (all || args.has('--select')) {
  const r = selectPaths();
  console.log('\n### SELECT_DIRECT_MAX_N: band method (ours) vs radix selection alone (ratio > 1: band faster)\n');
  console.log(markdownTable(r, 'radix alone'));
}
