/**
 * Pruning policies: which layers of a model `pruneLowMagnitude` wraps, and whether the model as a
 * whole suits the policy (tfmot's `pruning_policy.py`).
 */
import {LayersModel, layers} from '@tensorflow/tfjs-layers';

type Layer = layers.Layer;

/**
 * Decides which layers of a model are pruned. `pruneLowMagnitude(model, {pruningPolicy})` first
 * calls `ensureModelSupportsPruning(model)`, then wraps only the layers `allowPruning` accepts (the
 * others stay as they are). Subclass it for hardware- or kernel-specific rules.
 */
export abstract class PruningPolicy {
  /** Whether `layer` is wrapped for pruning. */
  abstract allowPruning(layer: Layer): boolean;

  /**
   * Throws if `model` cannot be pruned under this policy.
   * @throws Error naming what is wrong.
   */
  abstract ensureModelSupportsPruning(model: LayersModel): void;
}

function kernelSize(layer: Layer): number[] {
  const k = (layer as unknown as {kernelSize?: number|number[]}).kernelSize;
  return Array.isArray(k) ? k : [k ?? 0, k ?? 0];
}

/**
 * Wraps only the layers whose pruned form this library's block-sparse kernels run faster: `Dense`,
 * and `Conv2D` with a 1x1 kernel, stride 1, dilation 1 (a matrix product per pixel). Every other
 * layer stays dense, as `PruneForLatencyOnXNNPack` does for XNNPACK's sparse 1x1 convolutions.
 */
export class PruneForSparseKernels extends PruningPolicy {
  allowPruning(layer: Layer): boolean {
    const name = layer.getClassName();
    if (name === 'Dense') return true;
    if (name !== 'Conv2D') return false;
    const conv = layer as unknown as {strides?: number[], dilationRate?: number|number[]};
    const ones = (v: number|number[]|undefined) => (Array.isArray(v) ? v : [v ?? 1]).every(x => x === 1);
    return kernelSize(layer).every(k => k === 1) && ones(conv.strides) && ones(conv.dilationRate);
  }

  /**
   * @throws Error `'Unbuilt models are not supported currently.'` (tfmot's message) for a model without
   *     inputs (an empty Sequential), or one naming the type of a non-model.
   */
  ensureModelSupportsPruning(model: LayersModel): void {
    if (!(model instanceof LayersModel)) {
      throw new Error(`PruneForSparseKernels expects a tf.LayersModel, but got ${typeof model}`);
    }
    if (model.inputs == null || model.inputs.length === 0) {
      throw new Error('Unbuilt models are not supported currently.');
    }
  }
}
