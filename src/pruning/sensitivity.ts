/**
 * `analyzeSensitivity`: prune one layer at a time at several sparsities and measure how far the
 * model's outputs move from the dense model's on calibration data (SparseML's sensitivity
 * analysis, label-free). The curves feed `sensitivitySparsities`.
 */
import {dispose, Tensor} from '@tensorflow/tfjs-core';
import {LayersModel} from '@tensorflow/tfjs-layers';
import {checkChoice, checkSparsity} from '../util/validate';
import type {SensitivityCurve} from './allocation';
import {copyModel} from '../model/copy_model';
import {CalibrationData, DataLabel, forEachBatch, InputSpec} from './calibration';
import {OneShotMethod, solveLayer, SparsityPattern} from './layer_solve';
import {ActivationSource, inputSpec, LayersActivationSource, layerTargets, PruneTarget} from './layers_source';
import {checkCommonOptions, CommonOptions, OneShotProgress, selectTargets} from './one_shot_options';

/** How far pruned outputs are from the dense model's, averaged over samples. */
export type SensitivityMetric = 'kl'|'mse'|'top1';
/** The valid `SensitivityMetric` values, for runtime checks. */
export const VALID_SENSITIVITY_METRICS: readonly SensitivityMetric[] = ['kl', 'mse', 'top1'];

/** Options of `analyzeSensitivity`. */
export interface AnalyzeSensitivityOptions extends Omit<SparsityPattern, 'sparsityMByN'> {
  /** Sparsities to measure each layer at; default `[0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]`. */
  sparsities?: number[];
  /**
   * 'kl' (default): KL divergence from the dense model's output distribution (outputs that are
   * not already probabilities go through a softmax); 'mse': `‖y - y_dense‖² / ‖y_dense‖²`;
   * 'top1': the fraction of samples whose top-1 class changes.
   */
  metric?: SensitivityMetric;
  /** How each layer is pruned: 'magnitude' (default), 'wanda' or 'obc'. */
  method?: OneShotMethod;
  /** Layers to analyse (default: every prunable layer). */
  layers?: string[];
  /** Samples per forward pass; default 32. */
  batchSize?: number;
  /** 'obc' dampening; default 0.1. */
  dampening?: number;
  /** Called as layers are measured. */
  onProgress?: (event: OneShotProgress) => void;
}

/** One layer's curve (the metric at each sparsity, this layer alone pruned) and its weight's name. */
export interface LayerSensitivity extends SensitivityCurve {
  weight: string;
}

/** What `analyzeSensitivity` measured. */
export interface SensitivityResult {
  metric: SensitivityMetric;
  method: OneShotMethod;
  samples: number;
  layers: LayerSensitivity[];
}

/** The sparsities `analyzeSensitivity` measures by default (high ones too, so 90 % targets can be allocated). */
export const DEFAULT_SENSITIVITY_SPARSITIES = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98];
const OPTION_NAMES = ['sparsities', 'metric', 'method', 'layers', 'batchSize', 'dampening', 'onProgress',
  'blockSize', 'blockPoolingType'];

/**
 * Measures, for each prunable layer and each sparsity, how far the model's outputs move when
 * only that layer is pruned (with `method`, as `pruneOneShot` would prune it). The model is not
 * changed (a copy is pruned). Datasets must yield the same samples on every pass.
 * ```js
 * const result = await analyzeSensitivity(model, xs, {sparsities: [0.5, 0.8, 0.9], metric: 'kl'});
 * result.layers.forEach(l => console.log(l.layer, l.values));
 * ```
 * @param model a plain layers model with one input.
 * @param data calibration samples (see `CalibrationData`).
 * @throws Error naming the argument for bad options or data (wrong shape or dtype, fewer than 16
 *     samples), unknown layers, and layers 'wanda'/'obc' cannot score.
 */
export async function analyzeSensitivity(model: LayersModel, data: CalibrationData,
                                         options: AnalyzeSensitivityOptions = {}): Promise<SensitivityResult> {
  const op = 'analyzeSensitivity';
  const common = checkCommonOptions(model, options, OPTION_NAMES, op);
  const checked = checkSensitivityOptions(options, op);
  const work = await copyModel(model);
  try {
    const spec = inputSpec(work, op);
    const label: DataLabel = {op, arg: 'data'};
    const all = layerTargets(work, op);
    const targets = selectTargets(all, options.layers ?? all.map(t => t.name), checked.method, op, 'layers');
    const source = new LayersActivationSource(work, data, spec, common.batchSize, label);
    return await measureSensitivity({...common, ...checked, targets, source, data, spec, label,
                                     dampening: options.dampening, onProgress: options.onProgress},
                                    async () => x => predictOne(work, x));
  } finally {
    work.dispose();
  }
}

/** `metric`, `sparsities` and `method` of the sensitivity options, checked. */
export function checkSensitivityOptions(options: AnalyzeSensitivityOptions, op: string):
    {metric: SensitivityMetric; sparsities: number[]; method: OneShotMethod} {
  const metric = checkChoice(options.metric ?? 'kl', VALID_SENSITIVITY_METRICS, 'metric', op);
  const sparsities = options.sparsities ?? DEFAULT_SENSITIVITY_SPARSITIES;
  if (!Array.isArray(sparsities) || sparsities.length === 0) {
    throw new Error(`Argument 'sparsities' passed to '${op}' must be a non-empty array of numbers in [0, 1)`);
  }
  sparsities.forEach(s => checkSparsity(s, op, 'sparsities'));
  return {metric, sparsities, method: options.method ?? 'magnitude'};
}

/** What `measureSensitivity` needs, whatever the model kind. */
export interface SensitivityRun extends CommonOptions {
  targets: PruneTarget[];
  source: ActivationSource;
  data: CalibrationData;
  spec: InputSpec;
  label: DataLabel;
  metric: SensitivityMetric;
  sparsities: number[];
  method: OneShotMethod;
  dampening?: number;
  onProgress?: (event: OneShotProgress) => void;
}

/**
 * Each target's curve: prunes it alone at each sparsity, measures the outputs' divergence from the
 * dense ones, and restores it. `predictor` gives the model's forward pass as its weights are now
 * (asked again after every write: a graph model is rebuilt).
 */
export async function measureSensitivity(run: SensitivityRun, predictor: () => Promise<(x: Tensor) => Tensor>):
    Promise<SensitivityResult> {
  const {targets, data, spec, batchSize, label, metric, method, sparsities} = run;
  const reference = await outputs(await predictor(), data, spec, batchSize, label);
  if (reference.samples < MIN_CALIBRATION_SAMPLES) throw tooFewSamples(label.op, label.arg, reference.samples, method);
  const stats = method === 'magnitude' ? targets.map(() => null) :
      (await run.source.collect(targets, {gram: method === 'obc'},
                                samples => run.onProgress?.({stage: 'statistics', done: samples, total: 0}))).stats;
  const layers: LayerSensitivity[] = [];
  for (const [t, target] of targets.entries()) {
    const original = target.read().slice();
    const values: number[] = [];
    try {
      for (const sparsity of sparsities) {
        const {weight} = solveLayer({name: target.name, weight: original, shape: target.shape, stats: stats[t]},
                                    {...run.pattern, method, sparsity, dampening: run.dampening});
        target.write(weight);
        values.push(await divergence(await predictor(), data, spec, batchSize, label, reference.values, metric));
      }
    } finally {
      target.write(original);
    }
    layers.push({layer: target.name, weight: target.weightName, params: original.length, sparsities: [...sparsities],
                 values});
    run.onProgress?.({stage: 'sensitivity', done: t + 1, total: targets.length, layer: target.name});
  }
  return {metric, method, samples: reference.samples, layers};
}

/** The fewest calibration samples accepted. */
export const MIN_CALIBRATION_SAMPLES = 16;

/** The error for calibration data with fewer than `MIN_CALIBRATION_SAMPLES` samples. */
export function tooFewSamples(op: string, arg: string, samples: number, method: string): Error {
  return new Error(`Argument '${arg}' passed to '${op}' has ${samples} samples, but '${method}' needs at least ` +
      `${MIN_CALIBRATION_SAMPLES} (128-512 recommended)`);
}

/** The model's outputs on every batch, as float32 arrays (outputs are small next to activations). */
async function outputs(predict: (x: Tensor) => Tensor, data: CalibrationData, spec: InputSpec, batchSize: number,
                       label: DataLabel): Promise<{values: Float32Array[]; samples: number}> {
  const values: Float32Array[] = [];
  const samples = await forEachBatch(data, spec, batchSize, label, x => {
    const y = predict(x);
    values.push(y.dataSync() as Float32Array);
    y.dispose();
  });
  return {values, samples};
}

/** The model's first output on `x` (the others are disposed). */
export function predictOne(model: {predict(x: Tensor): Tensor|Tensor[]}, x: Tensor): Tensor {
  const y = model.predict(x);
  if (Array.isArray(y)) {
    dispose(y.slice(1));
    return y[0];
  }
  return y;
}

/** The metric between the model's current outputs and `reference`, averaged over samples. */
async function divergence(predict: (x: Tensor) => Tensor, data: CalibrationData, spec: InputSpec, batchSize: number,
                          label: DataLabel, reference: Float32Array[], metric: SensitivityMetric): Promise<number> {
  let total = 0, count = 0, batch = 0;
  await forEachBatch(data, spec, batchSize, label, x => {
    const y = predict(x);
    const values = y.dataSync() as Float32Array;
    y.dispose();
    const rows = x.shape[0];
    total += outputDivergence(reference[batch++], values, rows, metric);
    count += rows;
  });
  return total / count;
}

/**
 * The metric summed over `rows` samples of `dense` and `pruned` outputs (same layout, one row of
 * `length / rows` values per sample).
 */
export function outputDivergence(dense: Float32Array, pruned: Float32Array, rows: number,
                                 metric: SensitivityMetric): number {
  const width = dense.length / rows;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const d = dense.subarray(r * width, (r + 1) * width), p = pruned.subarray(r * width, (r + 1) * width);
    if (metric === 'top1') {
      total += argMax(d) === argMax(p) ? 0 : 1;
    } else if (metric === 'mse') {
      let num = 0, den = 0;
      for (let i = 0; i < width; i++) {
        num += (p[i] - d[i]) ** 2;
        den += d[i] ** 2;
      }
      total += den > 0 ? num / den : num;
    } else {
      const pd = probabilities(d), pp = probabilities(p);
      let kl = 0;
      for (let i = 0; i < width; i++) if (pd[i] > 0) kl += pd[i] * Math.log(pd[i] / Math.max(pp[i], 1e-12));
      total += kl;
    }
  }
  return total;
}

function argMax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** The row itself when it is already a distribution (non-negative, sums to 1), else its softmax. */
function probabilities(a: Float32Array): Float64Array {
  let sum = 0, min = Infinity, max = -Infinity;
  for (const v of a) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (min >= 0 && Math.abs(sum - 1) < 1e-3) return Float64Array.from(a);
  const e = Float64Array.from(a, v => Math.exp(v - max));
  const z = e.reduce((x, y) => x + y, 0);
  return e.map(v => v / z);
}
