/**
 * `recalibrateBatchNorm`: re-estimate the moving statistics of every BatchNormalization layer from
 * calibration data after the weights before it changed (pruning shifts the activations' mean and
 * variance; the stored statistics describe the dense model).
 */
import {dispose, reshape, square, sum, tensor, tidy} from '@tensorflow/tfjs-core';
import {LayersModel, layers, LayerVariable, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {CalibrationData, forEachBatch} from './calibration';
import {describeValue} from '../util/validate';
import {inputSpec, probeModel, runProbe} from './layers_source';
import {MIN_CALIBRATION_SAMPLES, tooFewSamples} from './sensitivity';
import type {OneShotProgress} from './one_shot_options';

/** Options of `recalibrateBatchNorm`. */
export interface RecalibrateBatchNormOptions {
  /** Samples per forward pass; default 32. */
  batchSize?: number;
  /** Called after each BatchNormalization layer. */
  onProgress?: (event: OneShotProgress) => void;
}

interface BatchNormLayer {
  layer: layers.Layer;
  input: SymbolicTensor;
  mean: LayerVariable;
  variance: LayerVariable;
}

function batchNormLayers(model: LayersModel, op: string): BatchNormLayer[] {
  return model.layers.filter(l => l.getClassName() === 'BatchNormalization').map(layer => {
    const nodes = (layer as unknown as {inboundNodes: Array<{inputTensors: SymbolicTensor[]}>}).inboundNodes;
    const {axis} = layer.getConfig() as {axis: number};
    const input = nodes.length === 1 ? nodes[0].inputTensors[0] : null;
    if (input == null || (axis !== -1 && axis !== input.shape.length - 1)) {
      throw new Error(`'${op}' cannot recalibrate BatchNormalization layer '${layer.name}': it must be called once ` +
          'and normalise the last axis');
    }
    const find = (suffix: string) => layer.weights.find(w => (w.originalName ?? w.name).endsWith(suffix));
    const mean = find('moving_mean'), variance = find('moving_variance');
    if (mean == null || variance == null) {
      throw new Error(`'${op}': BatchNormalization layer '${layer.name}' has no moving_mean/moving_variance weights`);
    }
    return {layer, input, mean, variance};
  });
}

/**
 * Re-estimates, in place and in topological order, the moving mean and variance of every
 * BatchNormalization layer of `model` (top level) from `data`: each layer's statistics come from
 * the inputs it receives once the layers before it are recalibrated (one pass over `data` per
 * layer). The variance is the unbiased estimate Keras keeps. On failure the model is restored.
 * ```js
 * await recalibrateBatchNorm(prunedModel, calibrationImages);
 * ```
 * @returns the names of the layers recalibrated.
 * @throws Error naming the argument for bad data (shape, dtype, fewer than 16 samples) and naming a
 *     BatchNormalization layer that is shared or normalises another axis.
 */
export async function recalibrateBatchNorm(model: LayersModel, data: CalibrationData,
                                           options: RecalibrateBatchNormOptions = {}): Promise<string[]> {
  const op = 'recalibrateBatchNorm';
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`Argument 'batchSize' passed to '${op}' must be a positive integer, but got ${String(batchSize)}`);
  }
  const spec = inputSpec(model, op);
  const bns = batchNormLayers(model, op);
  const saved = bns.map(b => [b.mean.read().clone(), b.variance.read().clone()]);
  try {
    for (const [i, bn] of bns.entries()) {
      const channels = bn.input.shape[bn.input.shape.length - 1] as number;
      const sums = new Float64Array(channels), squares = new Float64Array(channels);
      let count = 0;
      const probe = probeModel(model, [bn.input]);
      const samples = await forEachBatch(data, spec, batchSize, {op, arg: 'data'}, x => {
        const [y] = runProbe(probe, x);
        const [s, q] = tidy(() => {
          const rows = reshape(y, [-1, channels]);
          return [sum(rows, 0), sum(square(rows), 0)];
        });
        const sv = s.dataSync(), qv = q.dataSync();
        count += y.size / channels;
        dispose([y, s, q]);
        for (let c = 0; c < channels; c++) {
          if (!Number.isFinite(sv[c]) || !Number.isFinite(qv[c])) {
            throw new Error(`'${op}': the activations feeding layer '${bn.layer.name}' are not finite (NaN or ` +
                "Infinity) with argument 'data'");
          }
          sums[c] += sv[c];
          squares[c] += qv[c];
        }
      });
      if (samples < MIN_CALIBRATION_SAMPLES) throw tooFewSamples(op, 'data', samples, 'recalibrateBatchNorm');
      const mean = Float32Array.from(sums, s => s / count);
      const variance = Float32Array.from(squares, (q, c) =>
        Math.max(q / count - (sums[c] / count) ** 2, 0) * (count / Math.max(count - 1, 1)));
      writeVariable(bn.mean, mean);
      writeVariable(bn.variance, variance);
      options.onProgress?.({stage: 'batchNorm', done: i + 1, total: bns.length, layer: bn.layer.name});
    }
  } catch (e) {
    bns.forEach((b, i) => {
      b.mean.write(saved[i][0]);
      b.variance.write(saved[i][1]);
    });
    throw e;
  } finally {
    dispose(saved.flat());
  }
  return bns.map(b => b.layer.name);
}

function writeVariable(variable: LayerVariable, values: Float32Array): void {
  const t = tensor(values, variable.shape as number[], 'float32');
  variable.write(t);
  t.dispose();
}
