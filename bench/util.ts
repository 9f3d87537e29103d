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
