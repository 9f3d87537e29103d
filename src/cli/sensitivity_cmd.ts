/** `tfjs-sparsity sensitivity`: per-layer sensitivity curves of a saved layers-model, with an HTML report. */
import '../index';
import * as tf from '@tensorflow/tfjs-core';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {AnalyzeSensitivityOptions, analyzeSensitivity, SensitivityResult, VALID_ONE_SHOT_METHODS, VALID_SENSITIVITY_METRICS} from '../index';
import {flagChoice} from './flags';
import {loadModel} from './model_files';
import {oneShotProgressBar} from './progress';
import {ChartSpec, ReportSection, writeReport} from './report';
import {loadSamples} from './samples';
import {existingModelPath} from './usage';

/** Flags of `tfjs-sparsity sensitivity`. */
export interface SensitivityOptions {
  data: string;
  samples: number;
  sparsities?: number[];
  metric: string;
  method: string;
  out: string;
  json?: boolean;
  quiet?: boolean;
}

/**
 * The per-layer curves as a Chart.js line chart, metric against sparsity on a log scale (the
 * metric spans decades between 50 % and 98 %; points at 0 cannot be drawn there and are left out).
 */
export function sensitivityChart(result: SensitivityResult): ChartSpec {
  return {
    title: `Sensitivity: ${result.metric} vs sparsity, one layer pruned at a time (${result.method})`,
    type: 'scatter', xLabel: 'sparsity of the layer', yLabel: `${result.metric} (log scale)`, logY: true,
    datasets: result.layers.map(l => ({
      label: l.layer, showLine: true,
      data: l.sparsities.map((x, i) => ({x, y: l.values[i]})).filter(p => p.y > 0),
    })),
  };
}

/** The curves as a table section. */
export function sensitivitySection(result: SensitivityResult): ReportSection {
  const sparsities = result.layers[0]?.sparsities ?? [];
  return {
    heading: 'Per-layer sensitivity',
    note: `Each layer pruned alone (${result.method}) on ${result.samples} calibration samples; ${result.metric} ` +
        'against the dense model\'s outputs (0 = unchanged).',
    table: {
      columns: ['layer', 'weights', ...sparsities.map(s => `${(100 * s).toFixed(0)} %`)],
      rows: result.layers.map(l => [l.layer, l.params, ...l.values.map(v => v.toPrecision(3))]),
    },
    charts: [sensitivityChart(result)],
  };
}

export async function runSensitivity(path: string, opts: SensitivityOptions): Promise<void> {
  await measureAndWrite(path, opts, async () => {
    // The wasm backend initialises asynchronously; tensors made before that fail.
    await tf.ready();
    return loadModel(existingModelPath(path));
  }, m => loadSamples(opts.data, m.inputs[0].shape.slice(1), opts.samples, '--data'), analyzeSensitivity);
}

/**
 * The `sensitivity` command for a model of either kind: the flags checked, the model opened by
 * `open`, the samples loaded by `load`, the curves measured by `analyze` under a progress bar and
 * written; the samples and the model freed whatever happens.
 */
export async function measureAndWrite<M extends {dispose(): void}>(path: string, opts: SensitivityOptions,
    open: () => Promise<M>, load: (model: M) => tf.Tensor,
    analyze: (model: M, data: tf.Tensor, options: AnalyzeSensitivityOptions) => Promise<SensitivityResult>): Promise<void> {
  const method = flagChoice(opts.method, VALID_ONE_SHOT_METHODS, '--method');
  const metric = flagChoice(opts.metric, VALID_SENSITIVITY_METRICS, '--metric');
  const model = await open();
  const bars = oneShotProgressBar(!opts.quiet && !opts.json);
  let data: tf.Tensor|null = null;
  try {
    data = load(model);
    const result = await analyze(model, data, {method, metric, sparsities: opts.sparsities, onProgress: bars.onProgress});
    bars.stop();
    writeSensitivity(result, path, opts);
  } finally {
    bars.stop();
    data?.dispose();
    model.dispose();
  }
}

/** Writes sensitivity.json and report.html into `opts.out` and prints the curves (a table, or JSON with --json). */
function writeSensitivity(result: SensitivityResult, path: string, opts: SensitivityOptions): void {
  const out = resolve(opts.out);
  const section = sensitivitySection(result);
  mkdirSync(out, {recursive: true});
  writeFileSync(join(out, 'sensitivity.json'), JSON.stringify(result, null, 1));
  writeReport(join(out, 'report.html'), `tfjs-sparsity sensitivity: ${path}`, [section]);
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`| ${section.table!.columns.join(' | ')} |`);
  console.log(`|${section.table!.columns.map(() => '---').join('|')}|`);
  for (const row of section.table!.rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`\nsensitivity.json and report.html written to ${out}`);
}
