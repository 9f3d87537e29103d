/**
 * Model copies, which tfjs-layers lacks (no Keras `clone_model`): `cloneModel` rebuilds a model with
 * each layer replaced by a function's choice, `deserializeLayer` makes a layer from its saved
 * `{className, config}`. Shared by pruning (wrapping, stripping), `toSparse` and `shrinkModel`.
 */
import {serialization} from '@tensorflow/tfjs-core';
import {input, LayersModel, layers, model as functionalModel, sequential, Sequential, SymbolicTensor}
  from '@tensorflow/tfjs-layers';
import {describeValue} from '../util/validate';

type Layer = layers.Layer;

/** Whether `layer` is a model's InputLayer (never replaced by `cloneModel`). */
export function isInputLayer(layer: Layer): boolean {
  return layer.getClassName() === 'InputLayer';
}

/**
 * A new model with the topology of `model` in which each layer is replaced by
 * `cloneFunction(layer)`: Keras's `clone_model(model, clone_function=...)`, which tfjs lacks. Use it
 * to prune a subset of layers. A layer used several times (shared) is passed once and its
 * replacement is shared the same way; nested models are layers like any other (clone them in
 * `cloneFunction` if needed). Layers returned unchanged are shared with `model`, with their weights.
 * ```ts
 * const pruned = cloneModel(model, layer =>
 *     layer.getClassName() === 'Dense' ? pruneLowMagnitude(layer) : layer);
 * ```
 * @param model a `Sequential` or a functional `LayersModel`.
 * @param cloneFunction called once per layer (input layers excluded); returns the layer to use.
 * @returns a `Sequential` for a `Sequential`, else a functional `LayersModel`; uncompiled.
 * @throws Error if `model` is not a LayersModel, if `cloneFunction` is not a function or returns
 *     something other than a layer or a model, or if a replacement cannot be applied to the inputs
 *     of the layer it replaces.
 */
export function cloneModel(model: LayersModel, cloneFunction: (layer: Layer) => Layer): LayersModel {
  if (!(model instanceof LayersModel)) {
    throw new Error(`cloneModel expects a tf.Sequential or functional tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  if (typeof cloneFunction !== 'function') {
    throw new Error(`cloneModel expects cloneFunction to be a function (layer) => layer, but got ${describeValue(cloneFunction, 'type')}`);
  }
  const replace = (layer: Layer): Layer => {
    const result = cloneFunction(layer);
    if (!(result instanceof layers.Layer)) {
      throw new Error(`cloneFunction must return a tf.layers.Layer or a LayersModel, but for layer ` +
          `'${layer.name}' it returned ${describeValue(result, 'type')}`);
    }
    return result;
  };
  return model instanceof Sequential ? cloneSequential(model, replace) : cloneFunctional(model, replace);
}

function cloneSequential(model: Sequential, replace: (layer: Layer) => Layer): Sequential {
  const clones = model.layers.map(layer => isInputLayer(layer) ? layer : replace(layer));
  const first = clones[0] as (Layer & {batchInputShape?: unknown})|undefined;
  const out = sequential({name: model.name});
  // The first layer carries the input shape; if its replacement lost it, keep the original input.
  const carriesInput = first != null && (isInputLayer(first) || first.batchInputShape != null ||
      (first instanceof LayersModel && first.inputs.length > 0));
  if (!carriesInput && model.inputs?.length) {
    const source = model.inputs[0];
    out.add(layers.inputLayer({batchInputShape: source.shape, dtype: source.dtype, name: source.sourceLayer.name}));
  }
  for (const layer of clones) out.add(layer);
  return out;
}

interface GraphNode {
  outboundLayer: Layer;
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

function cloneFunctional(model: LayersModel, replace: (layer: Layer) => Layer): LayersModel {
  const tensorMap = new Map<number, SymbolicTensor>();
  const newInputs = model.inputs.map(old => {
    const fresh = input({batchShape: old.shape, dtype: old.dtype, name: old.sourceLayer.name});
    tensorMap.set(old.id, fresh);
    return fresh;
  });
  const layerMap = new Map<Layer, Layer>();
  const nodesByDepth = (model as unknown as {nodesByDepth: Record<string, GraphNode[]>}).nodesByDepth;
  const depths = Object.keys(nodesByDepth).map(Number).sort((a, b) => b - a);
  for (const depth of depths) {
    for (const node of nodesByDepth[depth]) {
      const layer = node.outboundLayer;
      if (isInputLayer(layer)) continue;
      let clone = layerMap.get(layer);
      if (clone == null) {
        clone = replace(layer);
        layerMap.set(layer, clone);
      }
      const inputs = node.inputTensors.map(t => {
        const mapped = tensorMap.get(t.id);
        if (mapped == null) throw new Error(`cloneModel: input '${t.name}' of layer '${layer.name}' was not rebuilt`);
        return mapped;
      });
      const outputs = clone.apply(inputs.length === 1 ? inputs[0] : inputs, node.callArgs ?? {});
      const list = Array.isArray(outputs) ? outputs : [outputs];
      node.outputTensors.forEach((t, i) => tensorMap.set(t.id, list[i] as SymbolicTensor));
    }
  }
  const newOutputs = model.outputs.map(t => tensorMap.get(t.id) as SymbolicTensor);
  return functionalModel({inputs: newInputs, outputs: newOutputs, name: model.name});
}

/** Builds a layer from `{className, config}` through the classes registered with tfjs. */
export function deserializeLayer(spec: unknown): Layer {
  const s = spec as {className?: unknown, config?: unknown}|null;
  if (s == null || typeof s.className !== 'string' || s.config == null || typeof s.config !== 'object') {
    throw new Error(`Expected a layer config {className, config}, but got ${JSON.stringify(spec)}`);
  }
  const entry = serialization.SerializationMap.getMap().classNameMap[s.className];
  if (entry == null) {
    throw new Error(`Unknown layer: ${s.className}. Register custom layers with ` +
        'tf.serialization.registerClass before loading.');
  }
  const [cls, fromConfig] = entry;
  // fromConfig may consume its config (tfjs's wrappers delete keys): give it a copy.
  return fromConfig(cls, structuredClone(s.config) as serialization.ConfigDict) as unknown as Layer;
}
