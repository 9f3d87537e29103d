/** Option checks shared by `pruneOneShot` and `analyzeSensitivity`. */
import {LayersModel} from '@tensorflow/tfjs-layers';
import {POOLING_TYPES} from '../ops/pool';
import {checkChoice, checkOptions, describeValue, positiveIntPair} from '../util/validate';
import {OneShotMethod, SparsityPattern, VALID_ONE_SHOT_METHODS} from './layer_solve';
import type {PruneTarget} from './layers_source';

/** Progress of a long one-shot run: a stage, how much of it is done, and the layer at hand. */
export interface OneShotProgress {
  /** 'statistics' (collecting activations), 'solve' (a layer pruned), 'sensitivity', 'batchNorm'. */
  stage: 'statistics'|'solve'|'sensitivity'|'batchNorm';
  done: number;
  /** 0 when unknown (a dataset's length). */
  total: number;
  layer?: string;
}

/** The checked options both entry points share. */
export interface CommonOptions {
  pattern: SparsityPattern;
  batchSize: number;
}

/**
 * Checks the model, unknown option names, `method`, `batchSize`, `dampening`, `onProgress` and the
 * sparsity pattern, with errors naming the argument and the allowed values.
 */
export function checkCommonOptions(model: LayersModel, options: object, names: readonly string[],
                                   op: string): CommonOptions {
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  return checkOneShotOptions(options, names, op);
}

/** `checkCommonOptions` without the model check (graph models are checked by their own entry point). */
export function checkOneShotOptions(options: object, names: readonly string[], op: string): CommonOptions {
  checkOptions(options, names, op, true);
  const o = options as {method?: unknown; batchSize?: unknown; dampening?: unknown; onProgress?: unknown} & SparsityPattern;
  if (o.method !== undefined) checkChoice(o.method, VALID_ONE_SHOT_METHODS, 'method', op);
  const batchSize = o.batchSize ?? 32;
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`Argument 'batchSize' passed to '${op}' must be a positive integer, but got ${String(batchSize)}`);
  }
  if (o.dampening !== undefined && !(typeof o.dampening === 'number' && o.dampening > 0 && Number.isFinite(o.dampening))) {
    throw new Error(`Argument 'dampening' passed to '${op}' must be a positive number, but got ${String(o.dampening)}`);
  }
  const sweeps = (options as {refitSweeps?: unknown}).refitSweeps;
  if (sweeps !== undefined && !(typeof sweeps === 'number' && Number.isInteger(sweeps) && sweeps >= 0)) {
    throw new Error(`Argument 'refitSweeps' passed to '${op}' must be an integer >= 0, but got ${String(sweeps)}`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new Error(`Argument 'onProgress' passed to '${op}' must be a function, but got ${typeof o.onProgress}`);
  }
  const pattern: SparsityPattern = {};
  if (o.blockSize !== undefined) pattern.blockSize = positiveIntPair(o.blockSize, 'blockSize', op);
  if (o.blockPoolingType !== undefined) pattern.blockPoolingType = checkChoice(o.blockPoolingType, POOLING_TYPES, 'blockPoolingType', op);
  if (o.sparsityMByN != null) {
    const mn = o.sparsityMByN;
    if (!Array.isArray(mn) || mn.length !== 2 || !mn.every(v => Number.isInteger(v) && v >= 1) || mn[0] >= mn[1]) {
      throw new Error(`Argument 'sparsityMByN' passed to '${op}' must be [m, n] with integers 1 <= m < n, ` +
          `but got ${JSON.stringify(mn)}`);
    }
    if (pattern.blockSize != null && (pattern.blockSize[0] !== 1 || pattern.blockSize[1] !== 1)) {
      throw new Error(`'${op}' takes either 'blockSize' or 'sparsityMByN', not both`);
    }
    pattern.sparsityMByN = [mn[0], mn[1]];
  }
  return {pattern, batchSize};
}

/** What targets are called in errors: layers of a layers model, nodes of a graph model. */
export interface TargetNoun {
  noun: string;
  /** The kinds that can be pruned, for the error when there is none. */
  kinds: string;
}

const LAYERS_NOUN: TargetNoun = {noun: 'layer', kinds: 'Dense, Conv, Embedding, ...'};

/**
 * The targets named in `names` (layer names), checked: every name exists, and every target can
 * be scored by `method` (only 'magnitude' needs no activations).
 * @throws Error naming the argument and the layer.
 */
export function selectTargets<T extends PruneTarget>(all: T[], names: string[], method: OneShotMethod, op: string,
                                                     arg: string, {noun, kinds}: TargetNoun = LAYERS_NOUN): T[] {
  const known = all.map(t => t.name);
  for (const name of names) {
    if (!known.includes(name)) {
      throw new Error(`Argument '${arg}' passed to '${op}' names ${noun} '${name}', which is not a prunable ${noun} of ` +
          `the model; prunable ${noun}s: ${known.join(', ') || '(none)'}`);
    }
  }
  const chosen = all.filter(t => names.includes(t.name));
  if (chosen.length === 0) throw new Error(`'${op}' found no prunable ${noun} in the model (${kinds})`);
  if (method !== 'magnitude') {
    for (const t of chosen) {
      if (t.unscorable != null) {
        throw new Error(`'${op}' cannot score ${noun} '${t.name}' (${t.kind}) with method '${method}': ${t.unscorable}. ` +
            `Leave it out of '${arg}' (a per-${noun} map) or use method 'magnitude'`);
      }
    }
  }
  return chosen;
}
