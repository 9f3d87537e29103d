/**
 * The layers-model half of one-shot pruning: which weights are pruned (`PruneTarget`s) and how the
 * inputs of their layers are collected (`ActivationSource`), by probe models that end at each
 * layer's input and share the model's layers. A graph-model source implements the same two
 * interfaces; the scoring and solving (`layer_solve.ts`) see only typed arrays.
 */
import {dispose, matMul, reshape, slice, square, sum, Tensor, tensor, Tensor4D, tidy, transpose} from '@tensorflow/tfjs-core';
import {LayersModel, layers, LayerVariable, model as functionalModel, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {extractPatches, PatchPadding} from '../ops/patches';
import {getPrunableWeights, supportsPruning} from './registry';
import {CalibrationData, DataLabel, forEachBatch, InputSpec} from './calibration';
import {LayerStatistics} from './layer_solve';

type Layer = layers.Layer;

/** One prunable weight, whatever the model kind. */
export interface PruneTarget {
  /** The layer (or node) name: the key of per-layer options and reports. */
  readonly name: string;
  /** The weight's own name, e.g. `'hidden/kernel'`. */
  readonly weightName: string;
  /** The weight's shape; its row-major order is `[K, N]` (K input features, N outputs). */
  readonly shape: number[];
  /** The layer's class, for reports and errors. */
  readonly kind: string;
  /** Why its inputs cannot be collected (so only 'magnitude' applies), or null. */
  readonly unscorable: string|null;
  read(): Float32Array;
  write(values: Float32Array): void;
}

/** Streams the inputs of targets, as rows of K features, over the calibration data. */
export interface ActivationSource {
  /**
   * One pass over the calibration data accumulating the statistics of `targets`; `onBatch` is
   * told the samples done so far.
   * @returns the statistics, in the order of `targets`, and the number of samples.
   */
  collect(targets: PruneTarget[], options: CollectOptions, onBatch?: (samples: number) => void):
      Promise<{stats: LayerStatistics[]; samples: number}>;
}

/** What `collect` accumulates besides the feature norms. */
export interface CollectOptions {
  /** Gram matrices `XᵀX` (for 'obc'). */
  gram: boolean;
  /**
   * Also collect each target's inputs in the dense model `X_dense` and accumulate `XᵀX_dense`, so
   * the solve can aim at the dense outputs. For a layers source, the dense model is a layers
   * model with the same layer names.
   */
  dense?: unknown;
}

/** Accumulates `LayerStatistics` from batches of input rows `[rows, K]`. */
export class StatisticsAccumulator implements LayerStatistics {
  count = 0;
  readonly sumSquares: Float64Array;
  readonly gram: Float64Array|null;
  readonly cross: Float64Array|null;
  readonly denseGram: Float64Array|null;

  constructor(private readonly k: number, options: CollectOptions, private readonly label: string,
              private readonly data: DataLabel) {
    this.sumSquares = new Float64Array(k);
    this.gram = options.gram ? new Float64Array(k * k) : null;
    this.cross = options.gram && options.dense != null ? new Float64Array(k * k) : null;
    this.denseGram = this.cross != null ? new Float64Array(k * k) : null;
  }

  /**
   * Adds the rows of `x` `[rows, K]` and, for the cross term, the same rows `dense` in the dense
   * model (neither is disposed).
   * @throws Error naming the target when the rows hold NaN or Infinity.
   */
  add(x: Tensor, dense?: Tensor): void {
    const rows = x.shape[0];
    // Chunks bound the temporary transposes and keep each float32 sum short.
    const chunk = Math.max(1, Math.floor(2 ** 22 / Math.max(this.k, 1)));
    for (let start = 0; start < rows; start += chunk) {
      const n = Math.min(chunk, rows - start);
      const part = (t: Tensor) => (n === rows ? t : slice(t, [start, 0], [n, this.k]));
      const results = tidy(() => {
        const xt = transpose(part(x));
        const out: Record<string, Tensor> = {s: sum(square(part(x)), 0)};
        if (this.gram != null) out.g = matMul(xt, part(x));
        if (this.cross != null && dense != null) {
          out.c = matMul(xt, part(dense));
          out.d = matMul(transpose(part(dense)), part(dense));
        }
        return out;
      });
      const [s, g, c, d] = [results.s, results.g, results.c, results.d].map(t => t?.dataSync());
      dispose(results);
      for (let i = 0; i < this.k; i++) {
        if (!Number.isFinite(s![i])) {
          throw new Error(`'${this.data.op}': the activations feeding ${this.label} are not finite (NaN or ` +
              `Infinity) with argument '${this.data.arg}'`);
        }
        this.sumSquares[i] += s![i];
      }
      if (g != null && this.gram != null) for (let i = 0; i < g.length; i++) this.gram[i] += g[i];
      if (c != null && this.cross != null) for (let i = 0; i < c.length; i++) this.cross[i] += c[i];
      if (d != null && this.denseGram != null) for (let i = 0; i < d.length; i++) this.denseGram[i] += d[i];
      this.count += n;
    }
  }
}

/** A prunable weight of a layers model. */
class LayerTarget implements PruneTarget {
  readonly name: string;
  readonly weightName: string;
  readonly shape: number[];
  readonly kind: string;
  readonly unscorable: string|null;
  /** The layer's input in the model's graph, when it has exactly one. */
  readonly input: SymbolicTensor|null;

  constructor(readonly layer: Layer, readonly variable: LayerVariable, count: number,
              private readonly nestedIn: string|null) {
    this.name = layer.name;
    this.weightName = variable.originalName ?? variable.name;
    this.shape = variable.shape.map(d => d ?? -1);
    this.kind = layer.getClassName();
    const nodes = (layer as unknown as {inboundNodes: Array<{inputTensors: SymbolicTensor[]}>}).inboundNodes;
    this.input = nodes.length === 1 && nodes[0].inputTensors.length === 1 ? nodes[0].inputTensors[0] : null;
    this.unscorable = this.whyUnscorable(nodes.length, count);
  }

  private whyUnscorable(nodes: number, weights: number): string|null {
    const config = this.layer.getConfig() as {dilationRate?: unknown; dataFormat?: string; padding?: string};
    if (this.nestedIn != null) return `it sits inside the nested model '${this.nestedIn}'`;
    if (weights !== 1) return `${this.kind} has ${weights} pruned weights whose inputs differ`;
    if (nodes !== 1 || this.input == null) return `it is called ${nodes} times or with several inputs`;
    if (this.kind === 'Dense') return null;
    if (this.kind !== 'Conv2D') return `only Dense and Conv2D inputs can be collected, and it is a ${this.kind}`;
    const dilation = [config.dilationRate ?? 1].flat() as number[];
    if (dilation.some(d => d !== 1)) return 'its dilation rate is not 1';
    if (config.dataFormat === 'channelsFirst') return 'its data format is channelsFirst';
    if (config.padding !== 'valid' && config.padding !== 'same') return `its padding is '${config.padding}'`;
    return null;
  }

  read(): Float32Array {
    return this.variable.read().dataSync() as Float32Array;
  }

  write(values: Float32Array): void {
    const value = tensor(values, this.shape, 'float32');
    this.variable.write(value);
    value.dispose();
  }

  /** The layer's inputs `x` as rows of K features: Dense flattens leading axes, Conv2D extracts patches. */
  toRows(x: Tensor): Tensor {
    const k = this.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (this.kind === 'Dense') return reshape(x, [-1, k]);
    const config = this.layer.getConfig() as {strides: number[]|number; padding: PatchPadding};
    const strides = [config.strides].flat() as number[];
    const patches = extractPatches(x as Tensor4D, {
      kernelSize: [this.shape[0], this.shape[1]], strides: [strides[0], strides[1] ?? strides[0]],
      padding: config.padding,
    });
    return reshape(patches, [-1, k]);
  }
}

/**
 * The prunable weights of `model` in topological order (nested models' layers included), one
 * target per weight; layers the registry does not prune are skipped.
 * @throws Error naming a layer that is a `PruneLowMagnitude` wrapper.
 */
export function layerTargets(model: LayersModel, op: string): LayerTarget[] {
  const targets: LayerTarget[] = [];
  const visit = (m: LayersModel, nestedIn: string|null) => {
    for (const layer of m.layers) {
      if (layer instanceof LayersModel) {
        visit(layer, nestedIn ?? layer.name);
        continue;
      }
      if (layer.getClassName() === 'PruneLowMagnitude') {
        throw new Error(`'${op}' expects a plain model, but layer '${layer.name}' is a PruneLowMagnitude wrapper: ` +
            'call stripPruning(model) first');
      }
      if (!supportsPruning(layer)) continue;
      const weights = getPrunableWeights(layer);
      weights.forEach(v => targets.push(new LayerTarget(layer, v, weights.length, nestedIn)));
    }
  };
  visit(model, null);
  return targets;
}

/** The model's single input, as a spec for `forEachBatch`. */
export function inputSpec(model: LayersModel, op: string): InputSpec {
  if (model.inputs.length !== 1) {
    throw new Error(`'${op}' supports models with one input, but the model has ${model.inputs.length}`);
  }
  return {shape: model.inputs[0].shape, dtype: model.inputs[0].dtype};
}

/**
 * A probe model from the model's input to `outputs` (symbolic tensors of its graph). It shares
 * the model's layers, so it sees weights written later; it owns no weights and is never disposed.
 */
export function probeModel(model: LayersModel, outputs: SymbolicTensor[]): LayersModel {
  return functionalModel({inputs: model.inputs, outputs});
}

/** Runs `probe` on `x` and returns its outputs as a list (owned by the caller). */
export function runProbe(probe: LayersModel, x: Tensor): Tensor[] {
  const y = probe.predict(x);
  return Array.isArray(y) ? y : [y];
}

/** A target as `accumulateBatch` sees it: which input it reads, and how that input becomes `[rows, K]`. */
export interface RowsOfInput<I> {
  readonly input: I;
  toRows(x: Tensor): Tensor;
}

/**
 * Adds one batch to each target's statistics, both model kinds' collection loop: `outputs[k]` (and
 * `denseOutputs[k]`, from the dense model) is the tensor of `distinct[k]`, the input some targets
 * read. The caller owns those tensors.
 */
export function accumulateBatch<I>(targets: ReadonlyArray<RowsOfInput<I>>, accumulators: StatisticsAccumulator[],
                                   distinct: I[], outputs: Tensor[], denseOutputs: Tensor[]|null): void {
  targets.forEach((t, i) => {
    const which = distinct.indexOf(t.input);
    const rows = tidy(() => t.toRows(outputs[which]));
    const denseRows = denseOutputs == null ? undefined : tidy(() => t.toRows(denseOutputs[which]));
    try {
      accumulators[i].add(rows, denseRows);
    } finally {
      dispose([rows, denseRows ?? []]);
    }
  });
}

/** Collects layer inputs of a layers model by probe models over the calibration data. */
export class LayersActivationSource implements ActivationSource {
  constructor(private readonly model: LayersModel, private readonly data: CalibrationData,
              private readonly spec: InputSpec, private readonly batchSize: number,
              private readonly label: DataLabel) {}

  async collect(targets: PruneTarget[], options: CollectOptions, onBatch?: (samples: number) => void):
      Promise<{stats: LayerStatistics[]; samples: number}> {
    const layerTargets = targets.map(t => {
      if (!(t instanceof LayerTarget) || t.input == null || t.unscorable != null) {
        throw new Error(`the inputs of layer '${t.name}' cannot be collected: ${t.unscorable ?? 'not a layer target'}`);
      }
      return t;
    });
    const accumulators = layerTargets.map(t =>
      new StatisticsAccumulator(t.shape.slice(0, -1).reduce((a, b) => a * b, 1), options, `layer '${t.name}'`, this.label));
    // A layer's input may feed several targets: probe each distinct symbolic tensor once.
    const distinct = [...new Set(layerTargets.map(t => t.input as SymbolicTensor))];
    const probe = probeModel(this.model, distinct);
    const dense = options.gram && options.dense instanceof LayersModel ? options.dense : null;
    const denseProbe = dense == null ? null : probeModel(dense, distinct.map(input => {
      const modelInput = this.model.inputs.indexOf(input);
      if (modelInput >= 0) return dense.inputs[modelInput];
      const out = dense.getLayer(input.sourceLayer.name).getOutputAt(input.nodeIndex);
      return Array.isArray(out) ? out[input.outputTensorIndex ?? 0] : out;
    }));
    const samples = await forEachBatch(this.data, this.spec, this.batchSize, this.label, (x, first) => {
      const outputs = runProbe(probe, x);
      const denseOutputs = denseProbe == null ? [] : runProbe(denseProbe, x);
      try {
        accumulateBatch(layerTargets, accumulators, distinct, outputs, denseProbe == null ? null : denseOutputs);
      } finally {
        dispose([...outputs, ...denseOutputs]);
      }
      onBatch?.(first + x.shape[0]);
    });
    return {stats: accumulators, samples};
  }
}
