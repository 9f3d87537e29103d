/**
 * Which weights of each built-in tfjs-layers class are pruned: tfmot's `prune_registry.py` as a data
 * table with one lookup. Matching is by exact class name (a subclass of `Dense` is not `Dense`);
 * custom layers declare their weights by implementing `PrunableLayer`.
 */
import type {LayerVariable, layers} from '@tensorflow/tfjs-layers';

type Layer = layers.Layer;

/**
 * A layer that says which of its weights are pruned: tfmot's `PrunableLayer`. Implement it on a
 * custom layer (or on a subclass of a built-in layer) to make it prunable.
 * ```ts
 * class MyDense extends tf.layers.Layer implements PrunableLayer {
 *   kernel!: LayerVariable;
 *   getPrunableWeights() { return [this.kernel]; }
 * }
 * ```
 */
export interface PrunableLayer {
  /** The weights to prune; read lazily, so it may be called before and after `build`. */
  getPrunableWeights(): LayerVariable[];
}

/** True for a layer that implements `PrunableLayer` (by duck typing, as tfmot also accepts). */
export function isPrunableLayer(layer: unknown): layer is Layer & PrunableLayer {
  return layer != null && typeof (layer as Partial<PrunableLayer>).getPrunableWeights === 'function';
}

/** Built-in layers whose listed weight properties are pruned (tfmot's `_LAYERS_WEIGHTS_MAP`, tfjs names). */
export const PRUNED_WEIGHTS: Readonly<Record<string, readonly string[]>> = {
  Conv1D: ['kernel'],
  Conv2D: ['kernel'],
  Conv3D: ['kernel'],
  Conv2DTranspose: ['kernel'],
  Conv3DTranspose: ['kernel'],
  SeparableConv2D: ['pointwiseKernel'],
  Dense: ['kernel'],
  Embedding: ['embeddings'],
};

/** RNN cells and their pruned weights (tfmot's `_RNN_CELLS_WEIGHTS_MAP`). */
export const RNN_CELL_WEIGHTS: Readonly<Record<string, readonly string[]>> = {
  LSTMCell: ['kernel', 'recurrentKernel'],
  GRUCell: ['kernel', 'recurrentKernel'],
  SimpleRNNCell: ['kernel', 'recurrentKernel'],
};

/** Recurrent layers whose cell(s) decide their pruned weights (tfmot's `_RNN_LAYERS`). */
export const RNN_LAYERS: readonly string[] = ['LSTM', 'GRU', 'SimpleRNN', 'RNN'];

/**
 * Built-in layers that may be wrapped but have no pruned weights (tfmot's list, restricted to the
 * classes tfjs-layers has). `DepthwiseConv2D` is here as in tfmot: allowed, never pruned.
 */
export const NOT_PRUNED: readonly string[] = [
  // activations
  'ELU', 'LeakyReLU', 'ReLU', 'Softmax', 'ThresholdedReLU', 'Activation',
  // cropping, upsampling, padding
  'Cropping2D', 'UpSampling2D', 'ZeroPadding2D',
  // convolution
  'DepthwiseConv2D',
  // core and shape
  'Dropout', 'Flatten', 'Masking', 'Permute', 'RepeatVector', 'Reshape',
  // dropout and noise
  'SpatialDropout1D', 'AlphaDropout', 'GaussianDropout', 'GaussianNoise',
  // merge
  'Add', 'Average', 'Concatenate', 'Dot', 'Maximum', 'Minimum', 'Multiply',
  // normalization
  'BatchNormalization', 'LayerNormalization',
  // pooling
  'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D', 'GlobalAveragePooling1D',
  'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'MaxPooling1D', 'MaxPooling2D',
  'MaxPooling3D',
  // preprocessing
  'Rescaling',
];

/**
 * Wrappers whose inner layer(s) are pruned. tfmot refuses both; we prune the weights of the layer
 * inside (`TimeDistributed.layer`, `Bidirectional.forwardLayer` and `backwardLayer`).
 */
export const INNER_LAYER_WRAPPERS: readonly string[] = ['TimeDistributed', 'Bidirectional'];

function className(layer: object): string {
  const ctor = layer.constructor as {className?: string, name?: string};
  return ctor.className ?? ctor.name ?? typeof layer;
}

function layerLabel(layer: Layer): string {
  return `'${layer.name}' (class ${className(layer)})`;
}

/** Why a layer cannot be pruned, or null when it can. */
function unsupportedReason(layer: Layer): string|null {
  if (isPrunableLayer(layer)) return null;
  const name = className(layer);
  if (name in PRUNED_WEIGHTS || NOT_PRUNED.includes(name)) return null;
  if (RNN_LAYERS.includes(name)) {
    for (const cell of rnnCells(layer)) {
      if (!isPrunableLayer(cell) && !(className(cell) in RNN_CELL_WEIGHTS)) {
        return `RNN layer ${layerLabel(layer)} contains a cell of class ${className(cell)}, which is ` +
            'not supported: make the cell implement PrunableLayer (a getPrunableWeights(): ' +
            `LayerVariable[] method). Supported cells: ${Object.keys(RNN_CELL_WEIGHTS).join(', ')}.`;
      }
    }
    return null;
  }
  if (INNER_LAYER_WRAPPERS.includes(name)) {
    for (const inner of innerLayers(layer)) {
      const reason = unsupportedReason(inner);
      if (reason != null) return `${className(layer)} ${layerLabel(layer)} wraps an unsupported layer: ${reason}`;
    }
    return null;
  }
  return `Layer ${layerLabel(layer)} is not supported for pruning. Supported layers are the ` +
      'built-in tfjs-layers classes listed in the registry (matched by exact class name, so a subclass ' +
      'of a built-in layer is not supported) and any layer that implements PrunableLayer: give it a ' +
      'getPrunableWeights(): LayerVariable[] method returning the weights to prune (or [] for none).';
}

function rnnCells(layer: Layer): Layer[] {
  const cell = (layer as unknown as {cell?: Layer}).cell;
  if (cell == null) return [];
  const stacked = (cell as unknown as {cells?: Layer[]}).cells;
  return className(cell) === 'StackedRNNCells' && Array.isArray(stacked) ? stacked : [cell];
}

function innerLayers(layer: Layer): Layer[] {
  const l = layer as unknown as {layer?: Layer, forwardLayer?: Layer, backwardLayer?: Layer};
  if (className(layer) === 'Bidirectional') {
    return [l.forwardLayer, l.backwardLayer].filter((x): x is Layer => x != null);
  }
  return l.layer != null ? [l.layer] : [];
}

/** True if `layer` can be wrapped by `PruneLowMagnitude` (tfmot's `PruneRegistry.supports`). */
export function supportsPruning(layer: Layer): boolean {
  return unsupportedReason(layer) == null;
}

/**
 * Throws the registry's error for a layer that cannot be pruned (naming it and what to do), and
 * does nothing for a supported one.
 */
export function checkPrunable(layer: Layer): void {
  const reason = unsupportedReason(layer);
  if (reason != null) throw new Error(reason);
}

/**
 * The weights of `layer` to prune, read now (call it after the layer is built): tfmot's
 * `make_prunable(layer).get_prunable_weights()`. `PrunableLayer`s answer for themselves; RNN layers
 * give each cell's weights in cell order; `TimeDistributed` and `Bidirectional` give their inner
 * layers' weights.
 * @throws Error naming the layer if it is not supported, or if a listed weight does not exist yet.
 */
export function getPrunableWeights(layer: Layer): LayerVariable[] {
  checkPrunable(layer);
  if (isPrunableLayer(layer)) {
    const weights = layer.getPrunableWeights();
    if (!Array.isArray(weights)) {
      throw new Error(`getPrunableWeights() of layer ${layerLabel(layer)} must return an array of ` +
          `LayerVariable, but returned ${String(weights)}`);
    }
    return weights;
  }
  const name = className(layer);
  if (RNN_LAYERS.includes(name)) {
    return rnnCells(layer).flatMap(cell =>
      isPrunableLayer(cell) ? cell.getPrunableWeights() : readWeights(cell, RNN_CELL_WEIGHTS[className(cell)]));
  }
  if (INNER_LAYER_WRAPPERS.includes(name)) return innerLayers(layer).flatMap(getPrunableWeights);
  return readWeights(layer, PRUNED_WEIGHTS[name] ?? []);
}

function readWeights(layer: Layer, properties: readonly string[]): LayerVariable[] {
  return properties.map(property => {
    const weight = (layer as unknown as Record<string, LayerVariable|null|undefined>)[property];
    if (weight == null) {
      throw new Error(`Layer ${layerLabel(layer)} has no weight '${property}' yet: build the layer ` +
          'before reading its prunable weights.');
    }
    return weight;
  });
}
