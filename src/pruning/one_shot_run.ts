/**
 * The model-agnostic half of one-shot pruning, shared by layers models (`pruneOneShot`) and graph
 * models (`pruneGraphOneShot`): the `sparsity` option's checks, the per-target sparsities
 * (allocation), and the loop that collects each target's statistics from an `ActivationSource`
 * and solves it. Only `PruneTarget`s and typed arrays pass through here.
 */
import {util} from '@tensorflow/tfjs-core';
import {checkSparsity} from '../util/validate';
import {Allocation, erkSparsities, sensitivitySparsities} from './allocation';
import {LayerStatistics, OneShotMethod, solveLayer, SparsityPattern} from './layer_solve';
import type {CalibrationData} from './calibration';
import type {ActivationSource, PruneTarget} from './layers_source';
import type {OneShotProgress} from './one_shot_options';
import type {SensitivityResult} from './sensitivity';

/** The options `pruneOneShot` takes for layers and graph models alike. */
export interface OneShotOptions extends SparsityPattern {
  /**
   * The target fraction of zeros: one number for every prunable layer (spread by `allocation`), or
   * a map `{layerName: sparsity}` (layers not listed stay dense). Omit it with `sparsityMByN`.
   */
  sparsity?: number|Record<string, number>;
  /**
   * 'magnitude' (smallest |w|, no data needed), 'wanda' (|w| · input norm, per output), or 'obc'
   * (SparseGPT: a layer-wise reconstruction that also updates the kept weights; it removes the
   * weights of input features that are zero on every calibration sample, and refits a layer even at
   * sparsity 0). Default: 'obc' with `calibration`, else 'magnitude'.
   */
  method?: OneShotMethod;
  /** Calibration samples (128-512 suffice): needed by 'wanda', 'obc', 'sensitivity' and BatchNorm recalibration. */
  calibration?: CalibrationData;
  /** How a numeric `sparsity` is spread over layers: 'uniform' (default), 'erk', 'sensitivity'. */
  allocation?: Allocation;
  /** Curves from `analyzeSensitivity` for `allocation: 'sensitivity'`; measured here (same method) if omitted. */
  sensitivity?: SensitivityResult;
  /**
   * Collect each layer's inputs from the model pruned so far (true, the default, as SparseGPT),
   * one pass per layer, or all from the dense model in one pass (false: faster, less accurate).
   */
  sequential?: boolean;
  /** 'obc': relative dampening of the Gram matrix's diagonal (the ridge of the refit); default 0.1. */
  dampening?: number;
  /** 'obc': Gauss–Seidel sweeps of the least-squares refit of the kept weights; default 20, 0 for plain SparseGPT. */
  refitSweeps?: number;
  /** Samples per forward pass; default 32. */
  batchSize?: number;
  /** Called as the run advances (statistics batches, layers solved, BatchNorm layers). */
  onProgress?: (event: OneShotProgress) => void;
}

/** What happened to one weight. */
export interface OneShotLayerReport {
  /** The layer's name (a graph model's node name). */
  layer: string;
  weight: string;
  kind: string;
  shape: number[];
  /** The sparsity asked for this layer (after allocation). */
  targetSparsity: number;
  /** The fraction of zeros reached. */
  sparsity: number;
  /** `‖X(W - Ŵ)‖² / ‖XW‖²` on the calibration inputs of the layer, when its Gram matrix was collected. */
  relativeError: number|null;
}

/** What a one-shot run did, whatever the model kind. */
export interface OneShotReport {
  method: OneShotMethod;
  allocation: Allocation;
  layers: OneShotLayerReport[];
  /** The fraction of zeros over all pruned weights. */
  sparsity: number;
}

/**
 * Checks `sparsity` against the pattern and the allocation: a number in [0, 1), or a per-target
 * map (only with 'uniform'); omitted (or a map) with `sparsityMByN`.
 */
export function checkSparsityOption(sparsity: unknown, pattern: SparsityPattern, allocation: Allocation, op: string,
                                    noun = 'layer'): void {
  if (pattern.sparsityMByN != null) {
    if (typeof sparsity === 'number') {
      throw new Error(`Argument 'sparsity' passed to '${op}' must be omitted with 'sparsityMByN' (which sets it to ` +
          `m/n), or be a map naming the ${noun}s to prune`);
    }
    if (allocation !== 'uniform') {
      throw new Error(`Argument 'allocation' passed to '${op}' must be 'uniform' with 'sparsityMByN', but got '${allocation}'`);
    }
  } else if (typeof sparsity === 'number') {
    checkSparsity(sparsity, op);
  } else if (sparsity == null || typeof sparsity !== 'object' || Array.isArray(sparsity)) {
    throw new Error(`Argument 'sparsity' passed to '${op}' must be a number in [0, 1) or a map {${noun}Name: ` +
        `sparsity}, but got ${JSON.stringify(sparsity) ?? String(sparsity)}`);
  }
  if (sparsity != null && typeof sparsity === 'object') {
    for (const [name, s] of Object.entries(sparsity as Record<string, unknown>)) {
      if (pattern.sparsityMByN == null) checkSparsity(s as number, op, `sparsity.${name}`);
    }
    if (allocation !== 'uniform') {
      throw new Error(`Argument 'allocation' passed to '${op}' must be 'uniform' with a per-${noun} 'sparsity' map ` +
          `(allocation spreads one global sparsity), but got '${allocation}'`);
    }
  }
}

/** Checks the `sensitivity` option: what `analyzeSensitivity` returned, given only with allocation 'sensitivity'. */
export function checkSensitivityCurves(sensitivity: unknown, allocation: Allocation, op: string): void {
  if (sensitivity !== undefined &&
      (allocation !== 'sensitivity' || !Array.isArray((sensitivity as Partial<SensitivityResult>)?.layers))) {
    throw new Error(`Argument 'sensitivity' passed to '${op}' must be what analyzeSensitivity returned, and is used ` +
        "only with allocation 'sensitivity'");
  }
}

/**
 * Each target's sparsity: from the map, M:N's m/n, uniform, ERK, or the sensitivity curves
 * `measure` returns (called only for 'sensitivity', which callers without curves refuse first).
 * @throws Error naming 'sensitivity' when the curves miss a target.
 */
export async function allocateSparsities(targets: PruneTarget[], sparsity: number|Record<string, number>|undefined,
                                         pattern: SparsityPattern, allocation: Allocation, op: string,
                                         measure?: () => Promise<SensitivityResult>):
    Promise<Map<PruneTarget, number>> {
  const result = new Map<PruneTarget, number>();
  const {sparsityMByN} = pattern;
  if (sparsityMByN != null) {
    targets.forEach(t => result.set(t, sparsityMByN[0] / sparsityMByN[1]));
    return result;
  }
  if (typeof sparsity === 'object') {
    targets.forEach(t => result.set(t, sparsity[t.name]));
    return result;
  }
  const target = sparsity as number;
  let byName: Record<string, number>;
  if (allocation === 'uniform') {
    byName = Object.fromEntries(targets.map(t => [t.name, target]));
  } else if (allocation === 'erk') {
    byName = erkSparsities(targets.map(t => ({name: t.name, shape: t.shape})), target);
  } else {
    const curves = await measure!();
    const missing = targets.filter(t => !curves.layers.some(l => l.layer === t.name));
    if (missing.length > 0) {
      throw new Error(`Argument 'sensitivity' passed to '${op}' has no curve for '${missing[0].name}'`);
    }
    byName = sensitivitySparsities(curves.layers.filter(l => targets.some(t => t.name === l.layer)), target);
  }
  targets.forEach(t => result.set(t, byName[t.name]));
  return result;
}

/** What `solveTargets` needs. */
export interface SolveRun extends SparsityPattern {
  targets: PruneTarget[];
  sparsities: Map<PruneTarget, number>;
  method: OneShotMethod;
  /** Where the targets' inputs come from (null for 'magnitude'); it must see weights written so far. */
  source: ActivationSource|null;
  /** One collection pass per target from the model pruned so far (true), or one pass from the dense model. */
  sequential: boolean;
  /** The dense model handed to the source as `dense` in sequential 'obc' (null: aim at the pruned inputs). */
  reference: unknown;
  dampening?: number;
  refitSweeps?: number;
  onProgress?: (event: OneShotProgress) => void;
}

/**
 * Prunes the targets in order, each with its statistics (collected per target when sequential,
 * else all at once before any is written), and writes the solved weights back.
 * @returns one report per target.
 */
export async function solveTargets(run: SolveRun): Promise<OneShotLayerReport[]> {
  const {targets, method, source, sequential, onProgress: progress} = run;
  const pattern: SparsityPattern = {blockSize: run.blockSize, blockPoolingType: run.blockPoolingType,
                                    sparsityMByN: run.sparsityMByN};
  const statistics = (layer?: string) => (samples: number) => progress?.({stage: 'statistics', done: samples, total: 0, layer});
  const dense: Array<LayerStatistics|null> = method === 'magnitude' || sequential ? targets.map(() => null) :
      (await source!.collect(targets, {gram: method === 'obc'}, statistics())).stats;
  const reports: OneShotLayerReport[] = [];
  for (const [i, target] of targets.entries()) {
    const stats = method === 'magnitude' ? null : sequential ?
        (await source!.collect([target], {gram: method === 'obc', dense: method === 'obc' ? run.reference : null},
                               statistics(target.name))).stats[0] :
        dense[i];
    const targetSparsity = run.sparsities.get(target) ?? 0;
    const result = solveLayer({name: target.name, weight: target.read(), shape: target.shape, stats},
                              {...pattern, method, sparsity: targetSparsity, dampening: run.dampening,
                               refitSweeps: run.refitSweeps});
    target.write(result.weight);
    reports.push({layer: target.name, weight: target.weightName, kind: target.kind, shape: target.shape, targetSparsity,
                  sparsity: result.sparsity, relativeError: result.relativeError});
    progress?.({stage: 'solve', done: i + 1, total: targets.length, layer: target.name});
  }
  return reports;
}

/** The fraction of zeros over all the reported weights. */
export function overallSparsity(reports: OneShotLayerReport[]): number {
  const total = reports.reduce((a, r) => a + util.sizeFromShape(r.shape), 0);
  const zeros = reports.reduce((a, r) => a + r.sparsity * util.sizeFromShape(r.shape), 0);
  return total ? zeros / total : 0;
}
