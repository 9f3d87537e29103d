/**
 * Channel pruning from the command line: `prune --structure channels` (shrinkModel, one-shot or on
 * a model trained with channel pruning) and `inspect --channels` (per-layer channel counts before
 * and after).
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {shrinkModel, VALID_CHANNEL_ALLOCATIONS, VALID_CHANNEL_SCORES} from '../index';
import type {ShrinkReport} from '../index';
import {initCliBackend} from './backend';
import {flagChoice} from './flags';
import {loadModel, modelBytes, saveModel} from './model_files';
import {existingModelPath, outputDir, UsageError} from './usage';

/** The report `prune --structure channels` writes beside the model it writes. */
const SHRINK_REPORT_FILE = 'shrink-report.json';

/** Options of `prune` that concern channel pruning. */
export interface PruneChannelsOptions {
  sparsity: number;
  score: string;
  allocation: string;
  block?: [number, number];
  out: string;
}

/** The per-layer table of a shrink report, with the stops and totals. */
function printChannelTable(report: ShrinkReport): void {
  console.log('| layer | class | input channels | output channels | params |');
  console.log('|---|---|---|---|---|');
  for (const l of report.layers) {
    console.log(`| ${l.name} | ${l.className} | ${l.inputChannels.join(' -> ')} | ${l.outputChannels.join(' -> ')} | ` +
        `${l.paramsBefore} -> ${l.paramsAfter} |`);
  }
  console.log(`\n${report.removedChannels} of ${report.removableChannels} removable channels removed; ` +
      `${report.paramsBefore} -> ${report.paramsAfter} parameters ` +
      `(${(report.paramsBefore / Math.max(report.paramsAfter, 1)).toFixed(2)}x fewer)`);
  for (const s of report.stops) console.log(`kept ${s.channels} channel(s) at ${s.layer} (${s.className}): ${s.reason}`);
}

/**
 * `prune <model.json> --structure channels --sparsity s --out dir`: removes the channels that are
 * already zero and, with s > 0, that fraction of the removable ones by score; writes the smaller
 * plain model and `shrink-report.json` to `out`.
 */
export async function runPruneChannels(path: string, opts: PruneChannelsOptions): Promise<void> {
  if (opts.block != null) throw new UsageError('--block applies to --structure weights only (channels are removed whole)');
  const channelScore = flagChoice(opts.score, VALID_CHANNEL_SCORES, '--score');
  const allocation = flagChoice(opts.allocation, VALID_CHANNEL_ALLOCATIONS, '--allocation');
  const modelPath = existingModelPath(path);
  const out = outputDir(opts.out);
  await initCliBackend();
  const model = await loadModel(modelPath);
  const {model: small, report} = await shrinkModel(model, {sparsity: opts.sparsity, channelScore, allocation});
  model.dispose();
  await saveModel(small, out);
  small.dispose();
  writeFileSync(join(out, SHRINK_REPORT_FILE), JSON.stringify(report, null, 2));
  printChannelTable(report);
  console.log(`shrunk model written to ${opts.out} (${modelBytes(out).bytes} bytes with its report)`);
}

/**
 * `inspect <model.json> --channels`: the channel counts before and after. For a model written by
 * `prune --structure channels`, from its report; for any other model, what `shrinkModel` would
 * remove (its channels that are already zero).
 */
export async function runInspectChannels(path: string, opts: {json?: boolean}): Promise<void> {
  const file = existingModelPath(path);
  await initCliBackend();
  const saved = join(dirname(file), SHRINK_REPORT_FILE);
  let report: ShrinkReport;
  let source: string;
  if (existsSync(saved)) {
    report = JSON.parse(readFileSync(saved, 'utf8')) as ShrinkReport;
    source = `before -> after the shrink that wrote this model (${SHRINK_REPORT_FILE})`;
  } else {
    const model = await loadModel(file);
    const result = await shrinkModel(model);
    result.model.dispose();
    model.dispose();
    report = result.report;
    source = 'this model -> after removing its zero channels (shrinkModel)';
  }
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`channels: ${source}\n`);
  printChannelTable(report);
}
