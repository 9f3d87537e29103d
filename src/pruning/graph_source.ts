/**
 * The graph-model half of one-shot pruning: a `PruneTarget` per Conv2D / MatMul weight of a
 * tfjs-converter `GraphModel`, and an `ActivationSource` that reads each target node's input with
 * `model.execute(inputs, [inputNodeNames])` batch by batch. A loaded graph model's weights cannot be
 * changed through public APIs, so written weights are kept as arrays and a model is rebuilt from
 * the artifacts when a pass must see them (sequential mode) and once at the end.
 */
import {dispose, io, reshape, Tensor, tensor, Tensor4D} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {extractPatches} from '../ops/patches';
import {artifactsWithWeights, capturedArtifacts, currentWeights, loadConverter} from '../model/graph_artifacts';
import {GraphDef, intListAttr, NodeDef, parseInput, stringAttr} from '../model/graph_def';
import {CalibrationData, DataLabel, forEachBatch, InputSpec} from './calibration';
import {CONV_OPS, GraphNodeSet, PrunableGraphNode, prunableGraphNodes} from './graph_prune';
import {LayerStatistics} from './layer_solve';
import {accumulateBatch, ActivationSource, CollectOptions, PruneTarget, StatisticsAccumulator} from './layers_source';
import {MIN_CALIBRATION_SAMPLES, tooFewSamples} from './sensitivity';

/** The weights of a graph model being pruned: its own, the values written since, and models built from both. */
export class GraphWeights {
  private readonly written = new Map<string, Float32Array>();
  private built: GraphModel|null = null;

  /**
   * @param model the caller's model: read, never changed or disposed.
   * @param artifacts its artifacts (`capturedArtifacts`); `original` its current weights by name.
   */
  constructor(readonly model: GraphModel, private readonly artifacts: io.ModelArtifacts,
              private readonly original: Record<string, Tensor>) {}

  /** The weight's current values (a copy the caller may keep). */
  read(name: string): Float32Array {
    return (this.written.get(name) ?? this.original[name].dataSync() as Float32Array).slice();
  }

  write(name: string, values: Float32Array): void {
    this.written.set(name, values);
    this.built?.dispose();
    this.built = null;
  }

  /** A model with the weights written so far: the caller's model until one is written, then a rebuilt one this object owns. */
  async current(): Promise<GraphModel> {
    if (this.written.size === 0) return this.model;
    this.built ??= await this.build();
    return this.built;
  }

  /** A new model with the weights written so far (owned by the caller). */
  async build(): Promise<GraphModel> {
    const converter = await loadConverter();
    const changed = Object.fromEntries([...this.written].map(([name, v]) => [name, tensor(v, this.original[name].shape, 'float32')]));
    try {
      return await converter.loadGraphModel(io.fromMemory(await artifactsWithWeights(this.artifacts, {...this.original, ...changed})));
    } finally {
      dispose(Object.values(changed));
    }
  }

  /** Disposes the rebuilt model it owns (not the caller's). */
  dispose(): void {
    this.built?.dispose();
    this.built = null;
  }
}

/** Why a convolution's or matmul's inputs cannot be turned into rows of its weight's K features, or null. */
function whyUnscorable(def: NodeDef, weight: string, readers: number): string|null {
  if (readers > 1) return `its weight '${weight}' is read by ${readers} nodes, whose inputs differ`;
  if (!CONV_OPS.includes(def.op)) {
    return def.attr?.transpose_a?.b === true ? 'its input is transposed (transpose_a)' : null;
  }
  const format = stringAttr(def, 'data_format') ?? 'NHWC';
  if (format !== 'NHWC') return `its data_format is ${format} (only NHWC is read)`;
  const padding = stringAttr(def, 'padding') ?? 'VALID';
  if (padding !== 'SAME' && padding !== 'VALID') return `its padding is ${padding} (only SAME and VALID are read)`;
  if ((intListAttr(def, 'dilations') ?? [1, 1, 1, 1]).some(d => d !== 1)) return 'its dilations are not 1';
  const strides = intListAttr(def, 'strides') ?? [1, 1, 1, 1];
  if (strides[0] !== 1 || strides[3] !== 1) return `its strides [${strides}] step over the batch or the channels`;
  return null;
}

/** A Conv2D kernel `[kh, kw, in, out]` (read as `[kh·kw·in, out]`) or a MatMul weight `[K, N]` (stored `[N, K]` with transpose_b). */
export class GraphTarget implements PruneTarget {
  readonly name: string;
  readonly weightName: string;
  readonly shape: number[];
  readonly kind: string;
  readonly unscorable: string|null;
  /** The node's data input, as `model.execute` names it (`node` or `node:1`). */
  readonly input: string;
  private readonly transposeB: boolean;
  private readonly def: NodeDef;

  constructor(node: PrunableGraphNode, private readonly weights: GraphWeights) {
    const {def, weight, value} = node;
    this.def = def;
    this.name = def.name;
    this.weightName = weight;
    this.kind = def.op;
    this.transposeB = !CONV_OPS.includes(def.op) && def.attr?.transpose_b?.b === true;
    this.shape = this.transposeB ? value.shape.slice().reverse() : value.shape.slice();
    const {node: from, output} = parseInput(def.input![0]);
    this.input = output === 0 ? from : `${from}:${output}`;
    this.unscorable = whyUnscorable(def, weight, node.readers);
  }

  read(): Float32Array {
    const values = this.weights.read(this.weightName);
    return this.transposeB ? transposed(values, this.shape[1], this.shape[0]) : values;
  }

  write(values: Float32Array): void {
    this.weights.write(this.weightName, this.transposeB ? transposed(values, this.shape[0], this.shape[1]) : values);
  }

  /**
   * The node's input `x` as rows of K features: a matmul's rows as they are, a convolution's
   * patches (its strides and padding).
   * @throws Error naming the node when `x` does not fit the weight (a grouped convolution, say).
   */
  toRows(x: Tensor): Tensor {
    const k = this.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (!CONV_OPS.includes(this.kind)) {
      if (x.rank !== 2 || x.shape[1] !== k) throw this.misfit(x, `[rows, ${k}]`);
      return x.clone();
    }
    const [kh, kw, channels] = this.shape;
    if (x.rank !== 4 || x.shape[3] !== channels) throw this.misfit(x, `[batch, height, width, ${channels}]`);
    const strides = intListAttr(this.def, 'strides') ?? [1, 1, 1, 1];
    const padding = stringAttr(this.def, 'padding') === 'SAME' ? 'same' : 'valid';
    const patches = extractPatches(x as Tensor4D, {kernelSize: [kh, kw], strides: [strides[1], strides[2]], padding});
    return reshape(patches, [-1, k]);
  }

  private misfit(x: Tensor, want: string): Error {
    return new Error(`the input of node '${this.name}' (${this.kind}) has shape [${x.shape}], but its weight ` +
        `'${this.weightName}' takes ${want} (a grouped convolution cannot be scored): leave it out or use method 'magnitude'`);
  }

}

/** `values` `[rows, cols]` transposed to `[cols, rows]`. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/** Collects the inputs of graph targets by executing the model (as pruned so far) up to them. */
export class GraphActivationSource implements ActivationSource {
  constructor(private readonly weights: GraphWeights, private readonly inputName: string,
              private readonly data: CalibrationData, private readonly spec: InputSpec,
              private readonly batchSize: number, private readonly label: DataLabel) {}

  /** `options.dense`, when given, is the dense GraphModel (the caller's). */
  async collect(targets: PruneTarget[], options: CollectOptions, onBatch?: (samples: number) => void):
      Promise<{stats: LayerStatistics[]; samples: number}> {
    const nodes = targets.map(t => {
      if (!(t instanceof GraphTarget) || t.unscorable != null) {
        throw new Error(`the inputs of node '${t.name}' cannot be collected: ${t.unscorable ?? 'not a graph target'}`);
      }
      return t;
    });
    const accumulators = nodes.map(t =>
      new StatisticsAccumulator(t.shape.slice(0, -1).reduce((a, b) => a * b, 1), options, `node '${t.name}'`, this.label));
    // An input may feed several targets: fetch each distinct one once.
    const distinct = [...new Set(nodes.map(t => t.input))];
    const model = await this.weights.current();
    const dense = options.gram && options.dense != null ? options.dense as GraphModel : null;
    const samples = await forEachBatch(this.data, this.spec, this.batchSize, this.label, (x, first) => {
      const outputs = this.run(model, x, distinct);
      const denseOutputs = dense == null ? [] : this.run(dense, x, distinct);
      try {
        accumulateBatch(nodes, accumulators, distinct, outputs, dense == null ? null : denseOutputs);
      } finally {
        dispose([...outputs, ...denseOutputs].filter(t => t !== x));
      }
      onBatch?.(first + x.shape[0]);
    });
    return {stats: accumulators, samples};
  }

  /** The tensors `names` for input batch `x`: the model's input itself, or node outputs the caller disposes. */
  private run(model: GraphModel, x: Tensor, names: string[]): Tensor[] {
    const nodes = names.filter(n => parseInput(n).node !== this.inputName);
    const out = nodes.length === 0 ? [] : [model.execute({[this.inputName]: x}, nodes)].flat();
    return names.map(n => (parseInput(n).node === this.inputName ? x : out[nodes.indexOf(n)]));
  }
}

/** A graph model opened for one-shot work: its weights, its prunable targets, and how it takes data. */
export interface OpenedGraph {
  weights: GraphWeights;
  /** Every prunable node of the node set, in graph order. */
  targets: GraphTarget[];
  spec: InputSpec;
  /** The input node's name. */
  inputName: string;
  /** The batch a graph built for a fixed batch size takes (MoveNet's [1, 192, 192, 3]), or null. */
  fixedBatch: number|null;
}

/**
 * Opens `model` (its artifacts and weights are captured; the caller disposes `weights`).
 * @throws Error naming `op` for a model with several inputs.
 */
export async function openGraph(model: GraphModel, op: string, nodes: GraphNodeSet): Promise<OpenedGraph> {
  if (model.inputs.length !== 1) throw new Error(`'${op}' supports graph models with one input, but the model has ${model.inputs.length}`);
  const input = model.inputs[0];
  const shape = input.shape ?? [];
  const artifacts = await capturedArtifacts(model);
  const original = currentWeights(model);
  const weights = new GraphWeights(model, artifacts, original);
  return {
    weights, targets: prunableGraphNodes(artifacts.modelTopology as GraphDef, original, nodes).map(n => new GraphTarget(n, weights)),
    spec: {shape: shape.map((d, i) => (i === 0 || d < 0 ? null : d)), dtype: input.dtype},
    inputName: parseInput(input.name).node, fixedBatch: shape[0] > 0 ? shape[0] : null,
  };
}

/**
 * Counts the samples of `data` (validating every batch).
 * @throws Error naming `label.arg` for fewer than 16 samples, or a count a fixed batch does not divide.
 */
export async function checkGraphSamples(data: CalibrationData, graph: OpenedGraph, batchSize: number, label: DataLabel,
                                        method: string): Promise<void> {
  const samples = await forEachBatch(data, graph.spec, batchSize, label, () => undefined);
  if (samples < MIN_CALIBRATION_SAMPLES) throw tooFewSamples(label.op, label.arg, samples, method);
  if (graph.fixedBatch != null && samples % graph.fixedBatch !== 0) {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}' has ${samples} samples, but the graph takes batches ` +
        `of exactly ${graph.fixedBatch}: give a multiple of ${graph.fixedBatch}`);
  }
}
