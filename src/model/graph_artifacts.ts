/**
 * A graph model's artifacts (tfjs-converter's `GraphModel`) through public APIs only: its topology and
 * weights as `model.save` writes them (to a save handler of ours), and its current weights. Shared by
 * graph pruning (`pruneGraphWeights`) and sparsification (`sparsifyGraphModel`).
 */
import {io, Tensor} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {describeValue} from '../util/validate';

type Converter = typeof import('@tensorflow/tfjs-converter');

let converterModule: Promise<Converter>|null = null;

/**
 * tfjs-converter, imported on first use (an optional peer dependency).
 * @throws Error naming the package to install when it is missing.
 */
export async function loadConverter(): Promise<Converter> {
  converterModule ??= import('@tensorflow/tfjs-converter').catch((e: Error) => {
    converterModule = null;
    throw new Error('Graph models need the package @tensorflow/tfjs-converter (an optional peer dependency of ' +
        `tfjs-sparsity): npm install @tensorflow/tfjs-converter (${e.message})`);
  });
  return converterModule;
}

/** The model's artifacts as its save writes them (topology, signature, the weights as loaded). */
export async function capturedArtifacts(model: GraphModel): Promise<io.ModelArtifacts> {
  let captured: io.ModelArtifacts|null = null;
  await model.save(io.withSaveHandler(async artifacts => {
    captured = artifacts;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  return captured!;
}

/**
 * The artifacts of `model` with its current weights (`model.weights`), ready for any `tf.io` save
 * handler: `GraphModel.save` writes the weights the model was loaded with, so weights changed since
 * (by `pruneGraphWeights`, say) need this.
 * ```js
 * await tf.io.getSaveHandlers('file:///tmp/pruned')[0].save(await graphModelArtifacts(model));
 * ```
 */
export async function graphModelArtifacts(model: GraphModel): Promise<io.ModelArtifacts> {
  await checkGraphModel(model, 'graphModelArtifacts');
  return artifactsWithWeights(await capturedArtifacts(model), currentWeights(model));
}

/** The first tensor of each of the model's weights, by name. */
export function currentWeights(model: GraphModel): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(model.weights).map(([name, ts]) => [name, ts[0]]));
}

/** `artifacts` with its weights replaced by `tensors`, encoded (float32 and int32 as they are). */
export async function artifactsWithWeights(artifacts: io.ModelArtifacts, tensors: Record<string, Tensor>): Promise<io.ModelArtifacts> {
  const {data, specs} = await io.encodeWeights(tensors);
  return {...artifacts, weightSpecs: specs, weightData: data};
}

/**
 * tfjs-converter, once `model` is known to be one of its graph models.
 * @throws Error naming `op` when `model` is not a GraphModel, or when tfjs-converter is missing.
 */
export async function checkGraphModel(model: GraphModel, op: string): Promise<Converter> {
  const c = await loadConverter();
  if (!(model instanceof c.GraphModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.GraphModel (from loadGraphModel), but got ` +
        describeValue(model, 'type'));
  }
  return c;
}

/** Whether `value` is a tfjs-converter GraphModel (false when tfjs-converter is not installed). */
export async function isGraphModel(value: unknown): Promise<boolean> {
  try {
    return value instanceof (await loadConverter()).GraphModel;
  } catch {
    return false;
  }
}
