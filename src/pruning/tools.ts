/**
 * One-shot magnitude pruning for benchmarking (tfmot's `tools/sparsity_tooling.prune_for_benchmark`):
 * every prunable weight of a model gets the target sparsity at once, with no schedule, no wrappers
 * and no retraining.
 */
import {dispose, tidy} from '@tensorflow/tfjs-core';
import {LayersModel, layers} from '@tensorflow/tfjs-layers';
import {applyMask} from '../ops/mask';
import {pruneMask} from '../ops/prune_mask';
import {checkOptions, checkSparsity, positiveIntPair} from '../util/validate';
import {BlockPoolingType} from './pruning';
import {getPrunableWeights, supportsPruning} from './registry';

type Layer = layers.Layer;

/** Options of `pruneForBenchmark`. */
export interface PruneForBenchmarkArgs {
  /** Block shape for rank-2 (Dense-like) weights; other weights are pruned element by element. */
  blockSize?: [number, number];
  /** How a block's magnitudes are pooled: 'AVG' (default) or 'MAX'. */
  blockPoolingType?: BlockPoolingType;
}

/** A layer pruned by `pruneForBenchmark`, with what it achieved. */
export interface PrunedWeightReport {
  layer: string;
  weight: string;
  shape: number[];
  sparsity: number;
}

function* allLayers(model: LayersModel): Generator<Layer> {
  for (const layer of model.layers) {
    if (layer instanceof LayersModel) yield* allLayers(layer);
    else yield layer;
  }
}

/**
 * Prunes `model` in place to `targetSparsity` by magnitude, layer by layer, and returns what each
 * weight reached. Layers the registry does not support (and unsupported custom layers) are left
 * as they are, as tfmot's tool leaves them.
 * @param model a plain (unwrapped) LayersModel; nested models are pruned recursively.
 * @param targetSparsity in [0, 1).
 */
export function pruneForBenchmark(model: LayersModel, targetSparsity: number,
                                  options?: PruneForBenchmarkArgs): PrunedWeightReport[] {
  const op = 'pruneForBenchmark';
  const {blockSize = [1, 1], blockPoolingType = 'AVG'} = checkOptions(options, ['blockSize', 'blockPoolingType'], op);
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.LayersModel, but got ${String(model)}`);
  }
  checkSparsity(targetSparsity, op, 'targetSparsity');
  const block = positiveIntPair(blockSize, 'blockSize', op);
  const report: PrunedWeightReport[] = [];
  for (const layer of allLayers(model)) {
    if (layer.getClassName() === 'PruneLowMagnitude') {
      throw new Error(`'${op}' expects a plain model, but layer ${layer.name} is a PruneLowMagnitude wrapper: ` +
          'call stripPruning(model) first');
    }
    if (!supportsPruning(layer)) continue;
    for (const variable of getPrunableWeights(layer)) {
      const pruned = tidy(() => {
        const w = variable.read();
        const {mask, threshold} = pruneMask(w, targetSparsity, {
          blockSize: w.rank === 2 ? block : [1, 1], blockPoolingType,
        });
        threshold.dispose();
        return applyMask(w, mask);
      });
      const values = pruned.dataSync();
      let zeros = 0;
      for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
      variable.write(pruned);
      dispose(pruned);
      report.push({layer: layer.name, weight: variable.originalName, shape: variable.shape.map(d => d ?? -1),
                   sparsity: values.length ? zeros / values.length : 0});
    }
  }
  return report;
}
