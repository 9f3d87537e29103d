/** `tfjs-sparsity inspect`: per-layer sparsity of a saved model. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {getPrunableWeights, PruneLowMagnitude, SparseConv2D, SparseDense, supportsPruning} from '../index';
import {initCliBackend} from './backend';
import {loadModel} from './model_files';
import {existingModelPath} from './usage';

/**
 * What a weight is to the sparsity totals: 'pruned', a weight the registry prunes (kernels; the
 * decoded kernel of a sparse layer); 'other' (biases, normalisation, ...); 'pruning state', a
 * wrapper's mask, threshold or step, which are not model parameters and count in no total.
 */
export type WeightRole = 'pruned'|'other'|'pruning state';

/** One weight of one layer. */
export interface WeightSparsity {
  layer: string;
  className: string;
  weight: string;
  role: WeightRole;
  shape: number[];
  params: number;
  nonzeros: number;
  sparsity: number;
}

/** Parameters, nonzeros and sparsity over a set of weights. */
export interface SparsityTotal {
  params: number;
  nonzeros: number;
  sparsity: number;
}

/** What `inspect --json` prints. */
export interface InspectReport {
  weights: WeightSparsity[];
  /** Over the 'pruned' weights: the model's sparsity as pruning reports it. */
  pruned: SparsityTotal;
  /** Over the 'pruned' and 'other' weights. */
  all: SparsityTotal;
}

function row(layer: tfl.layers.Layer, weight: string, role: WeightRole, shape: number[],
             values: tf.TypedArray): WeightSparsity {
  let nonzeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzeros++;
  return {layer: layer.name, className: layer.getClassName(), weight, role, shape, params: values.length, nonzeros,
          sparsity: values.length ? 1 - nonzeros / values.length : 0};
}

function variableRow(layer: tfl.layers.Layer, v: tfl.LayerVariable, role: WeightRole): WeightSparsity {
  return row(layer, v.originalName, role, v.shape.map(d => d ?? -1), v.read().dataSync());
}

/**
 * True for a `SparseDense` or `SparseConv2D`, also one made by another copy of this library in the
 * process (the class registered for deserialization is the last copy loaded).
 */
function isSparseLayer(layer: tfl.layers.Layer): layer is SparseDense {
  return [SparseDense.className, SparseConv2D.className].includes(layer.getClassName());
}

/** True for a `PruneLowMagnitude`, also one made by another copy of this library (as `isSparseLayer`). */
function isPruneLowMagnitude(layer: tfl.layers.Layer): layer is PruneLowMagnitude {
  return layer.getClassName() === PruneLowMagnitude.className;
}

/** The logical kernel of a sparse layer, decoded from its stored positions and values. */
function sparseKernelRow(layer: SparseDense): WeightSparsity {
  const shape = layer.getClassName() === SparseConv2D.className ?
      [...(layer as SparseConv2D).kernelSize, (layer as SparseConv2D).inputChannels, layer.units] : [layer.inputDim, layer.units];
  return row(layer, `${layer.name}/kernel`, 'pruned', shape, layer.decodedKernel());
}

function layerRows(layer: tfl.layers.Layer): WeightSparsity[] {
  if (layer instanceof tfl.LayersModel) return layer.layers.flatMap(layerRows);
  if (isSparseLayer(layer)) {
    const bias = layer.weights.find(w => w.originalName.endsWith('/bias'));
    return [sparseKernelRow(layer), ...(bias ? [variableRow(layer, bias, 'other')] : [])];
  }
  if (isPruneLowMagnitude(layer)) {
    const own = new Set(layer.layer.weights);
    return [...layerRows(layer.layer),
            ...layer.weights.filter(w => !own.has(w)).map(w => variableRow(layer, w, 'pruning state'))];
  }
  const pruned = new Set(supportsPruning(layer) ? getPrunableWeights(layer) : []);
  return layer.weights.map(w => variableRow(layer, w, pruned.has(w) ? 'pruned' : 'other'));
}

function total(rows: WeightSparsity[]): SparsityTotal {
  const params = rows.reduce((a, r) => a + r.params, 0);
  const nonzeros = rows.reduce((a, r) => a + r.nonzeros, 0);
  return {params, nonzeros, sparsity: params ? 1 - nonzeros / params : 0};
}

/**
 * Counts zeros in every weight of every layer (nested models and wrapped layers included). Sparse
 * layers (`SparseDense`, `SparseConv2D`, float32 or int8) report their kernel decoded from its
 * stored form; the masks, thresholds and steps of `PruneLowMagnitude` wrappers are listed as
 * 'pruning state' and left out of both totals.
 */
export function inspectModel(model: tfl.LayersModel): InspectReport {
  const weights = model.layers.flatMap(layerRows);
  return {weights, pruned: total(weights.filter(r => r.role === 'pruned')),
          all: total(weights.filter(r => r.role !== 'pruning state'))};
}

const percent = (s: number) => `${(100 * s).toFixed(2)}%`;

export async function runInspect(path: string, opts: {json?: boolean}): Promise<void> {
  const modelPath = existingModelPath(path);
  await initCliBackend();
  const model = await loadModel(modelPath);
  let report: InspectReport;
  try {
    report = inspectModel(model);
  } finally {
    model.dispose();
  }
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log('| layer | class | weight | role | shape | params | nonzeros | sparsity |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of report.weights) {
    console.log(`| ${r.layer} | ${r.className} | ${r.weight} | ${r.role} | [${r.shape}] | ${r.params} | ${r.nonzeros} | ` +
        `${percent(r.sparsity)} |`);
  }
  const {pruned, all} = report;
  console.log('');
  if (pruned.params > 0) {
    console.log(`prunable weights: ${pruned.params} parameters, ${pruned.nonzeros} nonzero, ${percent(pruned.sparsity)} sparse`);
  }
  const note = report.weights.some(r => r.role === 'pruning state') ? ' (pruning masks, thresholds and steps not counted)' : '';
  console.log(`all weights: ${all.params} parameters, ${all.nonzeros} nonzero, ${percent(all.sparsity)} sparse${note}`);
}
