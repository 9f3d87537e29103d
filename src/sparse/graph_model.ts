/**
 * Graph models (tfjs-converter's `GraphModel`, what the converter makes of SavedModels and what most
 * pretrained tfjs models are): `sparsifyGraphModel` rewrites a loaded model's graph so that its
 * sparse Conv2D / MatMul nodes run on our kernels, and moves runs of 1x1 convolutions, 3x3
 * depthwise convolutions and elementwise nodes to channel-major layout between one transpose in and
 * one out, as `toSparse` does for layers models (`channel_major.ts`). Only public APIs are used: the
 * model's artifacts through `model.save` with a save handler, its weights through `model.weights`,
 * ops of our own through `registerOp`, and a new model through `loadGraphModel`. The given model is
 * left as it was, so the change is undone by keeping (or going back to) it.
 *
 * The result is an ordinary graph model: saved with `model.save`, its sparse kernels are stored in
 * our compact format (`storage.ts`) with CRC-32C checksums, and `loadSparseGraphModel` loads it
 * again, checking them.
 *
 * tfjs-converter is an optional peer dependency: it is imported only when one of these functions
 * runs.
 */
import {dispose, io, Tensor, tensor1d, transpose, zeros} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {DEFAULT_MIN_SPARSITY, pixelKernelPays} from '../kernels/dispatch';
import {bytesOf, crc32c} from '../util/crc32c';
import {checkChoice, checkOptions, checkSparsity} from '../util/validate';
import {constNode, encodeAttrString, GraphDef, intListAttr, NodeDef, parseInput, stringAttr, stringListAttr,
  topologicalOrder} from '../model/graph_def';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {keepPayingRuns} from './channel_major';
import {chooseKernelBlockWidth} from './convert';
import {explicitPadding} from './depthwise_nchw';
import {INT8_MAX_K} from './format';
import {CONFIG_ATTR, configAttr, DEPTHWISE_NCHW_OP, DepthwiseNodeConfig, GRAPH_OPS, checkStoredNode, registerGraphOps,
  releaseDecodedWeights, SPARSE_CONV_NCHW_OP, SPARSE_CONV_OP, SPARSE_MATMUL_OP, SparseNodeConfig} from './graph_ops';
import {chooseBlockSize, encodeWeight, int8ToWords, StorageError, storedBytes, StoredDtype, StoredWeight,
  VALID_STORED_DTYPES} from './storage';

type Converter = typeof import('@tensorflow/tfjs-converter');

let converterModule: Promise<Converter>|null = null;

/**
 * tfjs-converter, imported on first use, with our ops registered.
 * @throws Error naming the package to install when it is missing.
 */
export async function graphConverter(): Promise<Converter> {
  converterModule ??= import('@tensorflow/tfjs-converter').then(c => {
    registerGraphOps(c.registerOp as Parameters<typeof registerGraphOps>[0]);
    return c;
  }, (e: Error) => {
    converterModule = null;
    throw new Error('Graph models need the package @tensorflow/tfjs-converter (an optional peer dependency of ' +
        `tfjs-sparsity): npm install @tensorflow/tfjs-converter (${e.message})`);
  });
  return converterModule;
}

/** Options of `sparsifyGraphModel`. */
export interface SparsifyGraphModelOptions {
  /** Stored and computed value type: 'float32' (default) or 'int8' (per-output-channel scales). */
  dtype?: StoredDtype;
  /** Kernels with a smaller fraction of zeros stay dense; default 0.3. */
  minSparsity?: number;
  /**
   * 'auto' (default): move runs of sparse 1x1 convolutions (with the 3x3 depthwise convolutions and
   * elementwise nodes between them) to channel-major layout. 'channelsLast': keep every node's layout.
   */
  layout?: 'auto'|'channelsLast';
}

const OPTION_NAMES = ['dtype', 'minSparsity', 'layout'];
const VALID_GRAPH_LAYOUTS = ['auto', 'channelsLast'] as const;

/** What `sparsifyGraphModel` did with one node. */
export interface GraphNodeReport {
  name: string;
  op: string;
  /**
   * 'pixelConv' (channel-major 1x1 convolution on the pixel kernel), 'depthwise' (channel-major 3x3
   * depthwise convolution), 'elementwise' (moved into a channel-major run as it is), 'sparse' (a
   * channels-last sparse convolution or matmul, dispatched per call), 'dense' (left as it was).
   */
  kind: 'pixelConv'|'depthwise'|'elementwise'|'sparse'|'dense';
  layout: 'channelsLast'|'channelsFirst';
  /** Why the node runs as it does. */
  reason: string;
  /** Fraction of exact zeros in the node's weight (null without one). */
  sparsity: number|null;
  /** Bytes of the node's weight before and after (4 per float32 entry; the compact form after). */
  bytesBefore: number;
  bytesAfter: number;
}

/** Result of `sparsifyGraphModel`. */
export interface SparsifyGraphModelResult {
  model: GraphModel;
  /** One entry per node with a weight, and per node moved into a channel-major run. */
  report: GraphNodeReport[];
  /** Transposes inserted where channel-major runs are entered and left. */
  transposes: number;
  /** Why no channel-major run or no sparse node was possible at all (control flow, dynamic shapes), if so. */
  notes: string[];
}

/** Ops whose presence keeps the whole graph dense: its shapes cannot be probed with `execute`. */
const CONTROL_FLOW_OPS = new Set(['Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'LoopCond', 'If', 'StatelessIf',
  'While', 'StatelessWhile']);

/** Ops that act on each value alone, so they run unchanged on channel-major tensors. */
const UNARY_OPS = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Softplus', 'Softsign', 'Identity', 'Neg',
  'Abs', 'Square', 'Sqrt', 'Rsqrt', 'Exp', 'Log', 'Floor', 'Ceil', 'Round', 'Sign', 'LeakyRelu']);
/** Binary ops that are elementwise when both operands have one shape (or one is a single value). */
const BINARY_OPS = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference']);

const CONV_OPS = new Set(['Conv2D', '_FusedConv2D']);
const MATMUL_OPS = new Set(['MatMul', '_FusedMatMul']);
const DEPTHWISE_OPS = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);

/** The activations after BiasAdd that our ops fuse, by TensorFlow name. */
const FUSED: Record<string, FusedActivation> = {'': 'linear', Relu: 'relu', Relu6: 'relu6'};

/** A node of the graph being planned. */
interface PlanNode {
  def: NodeDef;
  /** Data producers (not Const). */
  inputs: PlanNode[];
}

/** A conv or matmul node whose kernel is stored sparse. */
interface SparsePlan {
  stored: StoredWeight;
  config: SparseNodeConfig;
  /** Nonzero entries of the kernel. */
  nonzeros: number;
}

interface Planning {
  model: GraphModel;
  byName: Map<string, PlanNode>;
  weights: Record<string, Tensor[]>;
  /** Output shapes (output 0) of the nodes the probe reached. */
  shapes: Map<string, number[]>;
  dtype: StoredDtype;
  minSparsity: number;
  report: Map<string, GraphNodeReport>;
  sparse: Map<PlanNode, SparsePlan>;
  depthwise: Map<PlanNode, DepthwiseNodeConfig>;
}

function sparsifyOptions(options: SparsifyGraphModelOptions): Required<SparsifyGraphModelOptions> {
  const op = 'sparsifyGraphModel';
  checkOptions(options, OPTION_NAMES, op);
  const dtype = checkChoice(options.dtype ?? 'float32', VALID_STORED_DTYPES, 'dtype', op);
  const minSparsity = options.minSparsity ?? DEFAULT_MIN_SPARSITY;
  checkSparsity(minSparsity, op, 'minSparsity', true);
  const layout = checkChoice(options.layout ?? 'auto', VALID_GRAPH_LAYOUTS, 'layout', op);
  return {dtype, minSparsity, layout};
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

export async function checkGraphModel(model: GraphModel, op: string): Promise<Converter> {
  const c = await graphConverter();
  if (!(model instanceof c.GraphModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.GraphModel (from loadGraphModel), but got ` +
        `${model === null ? 'null' : (model as object)?.constructor?.name ?? typeof model}`);
  }
  return c;
}

/** The weight (a Const node's tensor) at input `i` of `def`, or null. */
function constInput(def: NodeDef, i: number, byName: Map<string, PlanNode>, weights: Record<string, Tensor[]>): Tensor|null {
  const ref = def.input?.[i];
  if (ref === undefined) return null;
  const {node, control} = parseInput(ref);
  if (control || byName.get(node)?.def.op !== 'Const') return null;
  return weights[node]?.[0] ?? null;
}

/** The activation of a fused node's `fused_ops`, or why it is not one we fuse. */
function fusedActivation(def: NodeDef): FusedActivation|string {
  const ops = stringListAttr(def, 'fused_ops');
  if (ops.length === 0) return 'linear';
  if (ops[0] !== 'BiasAdd' || ops.length > 2 || FUSED[ops[1] ?? ''] === undefined) return `fused ops ${ops.join('+')} are not handled`;
  return FUSED[ops[1] ?? ''];
}

function isFused(a: string): a is FusedActivation {
  return VALID_FUSED_ACTIVATIONS.includes(a as FusedActivation);
}

function hasBias(def: NodeDef): boolean {
  return stringListAttr(def, 'fused_ops')[0] === 'BiasAdd';
}

/** Why a convolution-like node's attributes are not ones we run, or null. */
function unsupportedAttrs(def: NodeDef): string|null {
  const format = stringAttr(def, 'data_format') ?? 'NHWC';
  if (format !== 'NHWC') return `data_format ${format} is not handled (NHWC only)`;
  const dilations = intListAttr(def, 'dilations') ?? [1, 1, 1, 1];
  if (dilations.some(d => d !== 1)) return `dilations ${dilations} are not handled (1 only)`;
  const strides = intListAttr(def, 'strides') ?? [1, 1, 1, 1];
  if (strides.length !== 4 || strides[0] !== 1 || strides[3] !== 1) return `strides ${strides} are not handled`;
  return null;
}

function zerosOf(values: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}

/** `w` `[N, K]` as `[K, N]`. */
function transposed(w: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[j * n + i] = w[i * k + j];
  return out;
}

function dense(p: Planning, def: NodeDef, reason: string, sparsity: number|null, bytes: number): void {
  p.report.set(def.name, {name: def.name, op: def.op, kind: 'dense', layout: 'channelsLast', reason, sparsity,
    bytesBefore: bytes, bytesAfter: bytes});
}

/** Plans one Conv2D or MatMul node: its stored kernel, or a dense report entry with the reason. */
async function planMatrixNode(p: Planning, node: PlanNode): Promise<void> {
  const def = node.def;
  const conv = CONV_OPS.has(def.op);
  const w = constInput(def, 1, p.byName, p.weights);
  if (!w || w.dtype !== 'float32' || w.rank !== (conv ? 4 : 2)) {
    dense(p, def, `its weight is not a float32 constant of rank ${conv ? 4 : 2}`, null, w ? 4 * w.size : 0);
    return;
  }
  const bytes = 4 * w.size;
  const values = await w.data() as Float32Array;
  const sparsity = zerosOf(values) / values.length;
  const activation = fusedActivation(def);
  let why: string|null = isFused(activation) ? null : activation;
  let matrix = values;
  let shape: [number, number];
  let geometry: Pick<SparseNodeConfig, 'kernelSize'|'strides'|'padding'> = {};
  if (conv) {
    why ??= unsupportedAttrs(def);
    const padding = stringAttr(def, 'padding');
    if (padding !== 'SAME' && padding !== 'VALID') why ??= `padding ${padding} is not handled (SAME or VALID only)`;
    const [kh, kw, cin, cout] = w.shape;
    const strides = intListAttr(def, 'strides') ?? [1, 1, 1, 1];
    shape = [kh * kw * cin, cout];
    geometry = {kernelSize: [kh, kw], strides: [strides[1], strides[2]], padding: padding === 'SAME' ? 'same' : 'valid'};
  } else {
    if (def.attr?.transpose_a?.b) why ??= 'transpose_a is not handled';
    const transposeB = def.attr?.transpose_b?.b === true;
    const [rows, cols] = w.shape as [number, number];
    shape = transposeB ? [cols, rows] : [rows, cols];
    if (transposeB) matrix = transposed(values, rows, cols);
  }
  if (why) return dense(p, def, `${why}: left dense`, sparsity, bytes);
  if (sparsity < p.minSparsity) {
    return dense(p, def, `weight sparsity ${sparsity.toFixed(4)} is below minSparsity ${p.minSparsity}: left dense`, sparsity, bytes);
  }
  if (p.dtype === 'int8' && shape[0] > INT8_MAX_K) {
    return dense(p, def, `int8 needs at most ${INT8_MAX_K} inputs, the kernel has ${shape[0]}: left dense`, sparsity, bytes);
  }
  let stored: StoredWeight;
  try {
    stored = encodeWeight(matrix, shape, chooseBlockSize(matrix, shape, p.dtype), p.dtype);
  } catch (e) {
    if (e instanceof StorageError) return dense(p, def, `${e.what}: left dense`, sparsity, bytes);
    throw e;
  }
  if (storedBytes(stored) >= bytes) {
    return dense(p, def, `the compact kernel (${storedBytes(stored)} B) is not smaller than the dense one: left dense`, sparsity, bytes);
  }
  const out = p.shapes.get(def.name);
  const rows = conv && out ? out[1] * out[2] : 1;
  const config: SparseNodeConfig = {
    layout: {shape, blockSize: stored.blockSize, dtype: stored.dtype, coding: stored.coding, riceParameter: stored.riceParameter,
      nonzeroBlocks: stored.nonzeroBlocks, storedValues: stored.storedValues, positionWords: stored.positionWords},
    checksums: {positions: 0, values: 0}, kernelBlockSize: [1, chooseKernelBlockWidth(matrix, shape, p.dtype, rows)],
    activation: activation as FusedActivation, hasBias: hasBias(def), ...geometry,
  };
  p.sparse.set(node, {stored, config, nonzeros: values.length - zerosOf(values)});
  p.report.set(def.name, {name: def.name, op: def.op, kind: 'sparse', layout: 'channelsLast',
    reason: `weight sparsity ${sparsity.toFixed(4)} >= minSparsity ${p.minSparsity}: block-sparse kernels, dispatched per call`,
    sparsity, bytesBefore: bytes, bytesAfter: storedBytes(stored)});
}

/** Plans a depthwise node: its channel-major config when it could join a run, else a dense entry. */
function planDepthwise(p: Planning, node: PlanNode): void {
  const def = node.def;
  const f = constInput(def, 1, p.byName, p.weights);
  const bytes = f ? 4 * f.size : 0;
  const activation = fusedActivation(def);
  const x = p.shapes.get(parseInput(def.input![0]).node);
  const strides = intListAttr(def, 'strides') ?? [1, 1, 1, 1];
  const padding = stringAttr(def, 'padding');
  const explicit = intListAttr(def, 'explicit_paddings') ?? [];
  let why = isFused(activation) ? unsupportedAttrs(def) : activation;
  if (!f || f.dtype !== 'float32' || f.rank !== 4 || f.shape[0] !== 3 || f.shape[1] !== 3 || f.shape[3] !== 1) {
    why ??= 'only 3x3 float32 constant filters with channel multiplier 1 run channel-major';
  }
  if (strides[1] !== strides[2] || (strides[1] !== 1 && strides[1] !== 2)) why ??= `strides ${strides} are not handled`;
  if (!x || x.length !== 4) why ??= 'its input shape is unknown';
  if (padding === 'EXPLICIT' && (explicit.length !== 8 || explicit.some(v => v > 2))) why ??= 'explicit padding above 2 is not handled';
  else if (padding !== 'SAME' && padding !== 'VALID' && padding !== 'EXPLICIT') why ??= `padding ${padding} is not handled`;
  if (why) return dense(p, def, `${why}: left dense`, null, bytes);
  const pads: [[number, number], [number, number]] = padding === 'EXPLICIT' ? [[explicit[2], explicit[3]], [explicit[4], explicit[5]]] :
      explicitPadding(padding === 'SAME' ? 'same' : 'valid', x![1], x![2], strides[1]);
  p.depthwise.set(node, {strides: strides[1] as 1|2, padding: pads, activation: activation as FusedActivation, hasBias: hasBias(def)});
  dense(p, def, 'not in a channel-major run (no sparse 1x1 convolution next to it): left dense', null, bytes);
}

function sameShape(a: number[]|undefined, b: number[]|undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The role of a node in a channel-major run, given the roles of the nodes before it. */
function roleOf(p: Planning, node: PlanNode, roles: Map<PlanNode, string>): string|null {
  const def = node.def;
  const sparse = p.sparse.get(node);
  const out = p.shapes.get(def.name);
  if (sparse && CONV_OPS.has(def.op) && sparse.config.kernelSize![0] === 1 && sparse.config.kernelSize![1] === 1 && out) {
    const pixels = out[0] * out[1] * out[2];
    return pixelKernelPays(pixels, sparse.nonzeros, sparse.config.layout.shape[0] * sparse.config.layout.shape[1]) ? 'pixelConv' : null;
  }
  if (p.depthwise.has(node)) return 'depthwise';
  if (out?.length !== 4) return null;
  const refs = (def.input ?? []).filter(r => !r.startsWith('^')).map(parseInput);
  const producers = refs.map(r => p.byName.get(r.node)!);
  const inRun = (n: PlanNode|undefined, r: {output: number}) => n !== undefined && r.output === 0 && roles.has(n) && sameShape(p.shapes.get(n.def.name), out);
  if (UNARY_OPS.has(def.op)) return refs.length === 1 && inRun(producers[0], refs[0]) ? 'elementwise' : null;
  if (BINARY_OPS.has(def.op) || def.op === 'AddN') {
    // Operands from outside the run are transposed in: worth it when the run goes on (a residual Add).
    if (!producers.some((n, i) => inRun(n, refs[i]))) return null;
    const ok = producers.every((n, i) => n !== undefined && (n.def.op === 'Const' ? (p.weights[n.def.name]?.[0]?.size ?? 0) === 1 :
        refs[i].output === 0 && sameShape(p.shapes.get(n.def.name), out)));
    return ok ? 'elementwise' : null;
  }
  return null;
}

/** Output shapes of `names` for a zero input, or why they cannot be had. */
function probeShapes(model: GraphModel, names: string[]): Map<string, number[]>|string {
  const feeds: Record<string, Tensor> = {};
  const shapes = new Map<string, number[]>();
  try {
    for (const info of model.inputs) {
      const shape = info.shape;
      if (!shape || shape.slice(1).some(d => d == null || d < 0)) return `input '${info.name}' has a dynamic shape [${shape ?? '?'}]`;
      feeds[info.name] = zeros(shape.map(d => (d < 0 ? 1 : d)), info.dtype === 'int32' ? 'int32' : 'float32');
    }
    const outs = [model.execute(feeds, names)].flat();
    names.forEach((n, i) => shapes.set(n, outs[i].shape));
    dispose(outs);
    return shapes;
  } catch (e) {
    return `its shapes could not be found by running it (${(e as Error).message.split('\n')[0]})`;
  } finally {
    dispose(Object.values(feeds));
  }
}

/**
 * Makes a loaded graph model run its sparse Conv2D, _FusedConv2D, MatMul and _FusedMatMul nodes on
 * our kernels: each such node whose constant weight has at least `minSparsity` zeros (and whose
 * compact form is smaller) gets its kernel stored compactly and runs on the block-sparse matmul
 * (dispatched per call, so never slower than tfjs by more than noise). With `layout: 'auto'`, runs of
 * sparse 1x1 convolutions on the pixel kernel, 3x3 depthwise convolutions
 * (`DepthwiseConv2dNative`, `FusedDepthwiseConv2dNative`) on our channel-major kernel, and the
 * elementwise nodes between them (Add, Mul, Relu, ...) move to channel-major layout between one
 * transpose in and one out. Every other node is left as it was; the report names each node with a
 * weight and why it runs as it does. Graphs with control flow, and inputs with dynamic spatial
 * sizes, stay dense (see `notes`).
 *
 * The result is a new model; `model` is not changed. It computes what `model` computes up to float
 * rounding (float32: summation order; int8: the quantization of `toSparse`). Its weights are those
 * of `model` now: to change them later, sparsify again. Replacing a tensor in the new model's
 * `weights` map is safe: the decoded kernels are cached against the stored tensors themselves.
 * ```js
 * const {model: fast, report, transposes} = await sparsifyGraphModel(await tf.loadGraphModel(url));
 * console.table(report);
 * const y = fast.execute(x);
 * await fast.save('file:///tmp/sparse');          // compact
 * const again = await loadSparseGraphModel('file:///tmp/sparse/model.json');
 * ```
 * @param model a tf.GraphModel.
 * @param options dtype, minSparsity, layout.
 * @throws Error for a model that is not a GraphModel, an unknown option, a bad option value, or when
 *   @tensorflow/tfjs-converter is not installed.
 */
export async function sparsifyGraphModel(model: GraphModel, options: SparsifyGraphModelOptions = {}): Promise<SparsifyGraphModelResult> {
  const converter = await checkGraphModel(model, 'sparsifyGraphModel');
  const {dtype, minSparsity, layout} = sparsifyOptions(options);
  const artifacts = await capturedArtifacts(model);
  const graph = structuredClone(artifacts.modelTopology) as GraphDef;
  const weights = model.weights as Record<string, Tensor[]>;
  const notes: string[] = [];
  const byName = new Map<string, PlanNode>();
  for (const def of graph.node) byName.set(def.name, {def, inputs: []});
  for (const node of byName.values()) {
    for (const ref of node.def.input ?? []) {
      const {node: name, control} = parseInput(ref);
      const producer = byName.get(name);
      if (!control && producer && producer.def.op !== 'Const' && !node.inputs.includes(producer)) node.inputs.push(producer);
    }
  }
  const order = topologicalOrder(graph.node).map(d => byName.get(d.name)!);
  const controlFlow = [...new Set(graph.node.filter(d => CONTROL_FLOW_OPS.has(d.op)).map(d => d.op))];
  let shapes: Map<string, number[]>|string = new Map();
  if (controlFlow.length > 0 || (graph.library?.function?.length ?? 0) > 0) {
    shapes = `the graph has control flow (${controlFlow.join(', ') || 'functions'})`;
  } else {
    const probed = order.filter(n => n.def.op !== 'Const' && n.def.op !== 'Placeholder' && !GRAPH_OPS.includes(n.def.op)).map(n => n.def.name);
    shapes = probeShapes(model, probed);
  }
  const p: Planning = {model, byName, weights, shapes: typeof shapes === 'string' ? new Map() : shapes, dtype, minSparsity,
    report: new Map(), sparse: new Map(), depthwise: new Map()};
  for (const node of order) {
    const def = node.def;
    const weighted = CONV_OPS.has(def.op) || MATMUL_OPS.has(def.op) || DEPTHWISE_OPS.has(def.op);
    if (typeof shapes === 'string') {
      const w = constInput(def, 1, byName, weights);
      if (weighted) dense(p, def, `${shapes}: left dense`, null, w ? 4 * w.size : 0);
      continue;
    }
    if (CONV_OPS.has(def.op) || MATMUL_OPS.has(def.op)) await planMatrixNode(p, node);
    else if (DEPTHWISE_OPS.has(def.op)) planDepthwise(p, node);
    else if (GRAPH_OPS.includes(def.op)) throw new Error(`sparsifyGraphModel: node '${def.name}' is already a ${def.op} node (the model was sparsified)`);
    else if (def.input?.some(r => byName.get(parseInput(r).node)?.def.op === 'Const' && (weights[parseInput(r).node]?.[0]?.size ?? 0) > 1)) {
      const w = constInput(def, 1, byName, weights) ?? constInput(def, 0, byName, weights);
      if (w && w.dtype === 'float32' && w.rank >= 2) dense(p, def, `${def.op} nodes are not handled: left dense`, null, 4 * w.size);
    }
  }
  if (typeof shapes === 'string') notes.push(`${shapes}: every node stays dense`);
  const roles = new Map<PlanNode, string>();
  if (layout === 'auto' && typeof shapes !== 'string') {
    for (const node of order) {
      const role = roleOf(p, node, roles);
      if (role) roles.set(node, role);
    }
    keepPayingRuns(roles, n => n.inputs, 'pixelConv');
  }
  const {graph: rewritten, tensors, transposes} = rewrite(p, graph, roles, model.outputNodes);
  try {
    const sparseModel = await converter.loadGraphModel(io.fromMemory(
        await artifactsWithWeights({...artifacts, modelTopology: rewritten}, tensors)));
    tieDecodedWeights(sparseModel);
    return {model: sparseModel, report: [...p.report.values()], transposes, notes};
  } finally {
    dispose(Object.entries(tensors).filter(([name]) => weights[name]?.[0] !== tensors[name]).map(([, t]) => t));
  }
}

/** The nodes' new names and Const nodes, as the rewrite makes them. */
const NCHW_SUFFIX = '/channels_first';

/**
 * The graph with `p`'s sparse nodes and `roles`' runs rewritten, and the weights of its Const nodes
 * (the model's own tensors, plus new ones the caller disposes).
 */
function rewrite(p: Planning, graph: GraphDef, roles: Map<PlanNode, string>, outputNodes: string[]):
    {graph: GraphDef; tensors: Record<string, Tensor>; transposes: number} {
  const tensors: Record<string, Tensor> = {};
  for (const [name, ts] of Object.entries(p.weights)) tensors[name] = ts[0];
  const taken = new Set(graph.node.map(d => d.name));
  const unique = (name: string) => {
    let n = name;
    for (let i = 1; taken.has(n); i++) n = `${name}_${i}`;
    taken.add(n);
    return n;
  };
  const added: NodeDef[] = [];
  const addConst = (name: string, t: Tensor) => {
    const n = unique(name);
    added.push(constNode(n, t.dtype as 'float32'|'int32', t.shape));
    tensors[n] = t;
    return n;
  };
  const replacedConsts = new Set<string>();
  const inRun = (name: string) => {
    const n = p.byName.get(name);
    return n !== undefined && roles.has(n);
  };
  let perm: [string, string]|null = null;
  const perms = () => perm ??= [addConst('sparsity/perm_to_channels_first', tensor1d([0, 3, 1, 2], 'int32')),
    addConst('sparsity/perm_to_channels_last', tensor1d([0, 2, 3, 1], 'int32'))];
  const transposeNode = (name: string, input: string, toFirst: boolean): NodeDef =>
    ({name, op: 'Transpose', input: [input, perms()[toFirst ? 0 : 1]], attr: {T: {type: 'DT_FLOAT'}, Tperm: {type: 'DT_INT32'}}});
  const toFirst = new Map<string, string>();
  let transposes = 0;
  /** An input reference as seen from a node in a run. */
  const runInput = (ref: string) => {
    const r = parseInput(ref);
    if (r.control) return inRun(r.node) ? `^${r.node}${NCHW_SUFFIX}` : ref;
    if (inRun(r.node)) return `${r.node}${NCHW_SUFFIX}`;
    if (p.byName.get(r.node)?.def.op === 'Const') return ref;
    let t = toFirst.get(ref);
    if (!t) {
      t = unique(`${ref.replace(/:/g, '_')}${NCHW_SUFFIX}`);
      added.push(transposeNode(t, ref, true));
      transposes++;
      toFirst.set(ref, t);
    }
    return t;
  };
  /** The stored kernel's inputs of a sparse node. */
  const storedInputs = (def: NodeDef, plan: SparsePlan) => {
    const {stored} = plan;
    const positions = tensor1d(stored.positions, 'int32');
    const values = stored.scales ? tensor1d(int8ToWords(stored.values as Int8Array), 'int32') : tensor1d(stored.values as Float32Array);
    plan.config.checksums = {positions: crc32c(bytesOf(stored.positions)), values: crc32c(bytesOf(values.dataSync()))};
    const names = [addConst(`${def.name}/sparse_positions`, positions), addConst(`${def.name}/sparse_values`, values)];
    if (stored.scales) {
      names.push(addConst(`${def.name}/sparse_scales`, tensor1d(stored.scales)));
      plan.config.checksums.scales = crc32c(bytesOf(stored.scales));
    }
    replacedConsts.add(parseInput(def.input![1]).node);
    return names;
  };
  const needsNhwc = new Set(outputNodes.map(o => parseInput(o).node).filter(inRun));
  for (const node of p.byName.values()) {
    if (roles.has(node)) continue;
    for (const ref of node.def.input ?? []) {
      const r = parseInput(ref);
      if (!r.control && inRun(r.node)) needsNhwc.add(r.node);
    }
  }
  const out: NodeDef[] = [];
  for (const def of graph.node) {
    const node = p.byName.get(def.name)!;
    const role = roles.get(node);
    const plan = p.sparse.get(node);
    const entry = p.report.get(def.name);
    const config = (c: SparseNodeConfig|DepthwiseNodeConfig) => ({[CONFIG_ATTR]: {s: encodeAttrString(configAttr(c))}, T: {type: 'DT_FLOAT'}});
    if (!role) {
      const inputs = (def.input ?? []).map(ref => {
        const r = parseInput(ref);
        return r.control && inRun(r.node) ? `^${r.node}${NCHW_SUFFIX}` : ref;
      });
      if (plan) {
        const [x, , bias] = inputs;
        const op = CONV_OPS.has(def.op) ? SPARSE_CONV_OP : SPARSE_MATMUL_OP;
        const stored = storedInputs(def, plan);
        out.push({name: def.name, op, input: [x, ...stored, ...(plan.config.hasBias ? [bias] : []),
          ...inputs.filter(r => r.startsWith('^'))], attr: config(plan.config)});
      } else {
        out.push({...def, input: inputs});
      }
      continue;
    }
    const name = `${def.name}${NCHW_SUFFIX}`;
    const inputs = (def.input ?? []).map(runInput);
    if (role === 'pixelConv') {
      const stored = storedInputs(def, plan!);
      out.push({name, op: SPARSE_CONV_NCHW_OP, input: [inputs[0], ...stored, ...(plan!.config.hasBias ? [inputs[2]] : [])],
        attr: config(plan!.config)});
      Object.assign(entry!, {kind: 'pixelConv', layout: 'channelsFirst', reason: `${entry!.reason.split(':')[0]}: channel-major run, pixel-vectorized kernel`});
    } else if (role === 'depthwise') {
      const filterName = parseInput(def.input![1]).node;
      const filter = addConst(`${filterName}${NCHW_SUFFIX}`, transpose(p.weights[filterName][0], [2, 3, 0, 1]));
      replacedConsts.add(filterName);
      const dw = p.depthwise.get(node)!;
      out.push({name, op: DEPTHWISE_NCHW_OP, input: [inputs[0], filter, ...(dw.hasBias ? [inputs[2]] : [])], attr: config(dw)});
      Object.assign(entry!, {kind: 'depthwise', layout: 'channelsFirst', reason: 'channel-major run: our 3x3 depthwise kernel'});
    } else {
      out.push({...def, name, input: inputs});
      p.report.set(def.name, {name: def.name, op: def.op, kind: 'elementwise', layout: 'channelsFirst',
        reason: 'channel-major run: runs unchanged on channel-major tensors', sparsity: null, bytesBefore: 0, bytesAfter: 0});
    }
    if (needsNhwc.has(def.name)) {
      out.push(transposeNode(def.name, name, false));
      transposes++;
    }
  }
  const used = new Set([...out, ...added].flatMap(d => (d.input ?? []).map(r => parseInput(r).node)));
  const kept = out.filter(d => !(d.op === 'Const' && replacedConsts.has(d.name) && !used.has(d.name)));
  for (const name of replacedConsts) if (!used.has(name)) delete tensors[name];
  return {graph: {...graph, node: [...added.filter(d => d.op === 'Const'), ...kept, ...added.filter(d => d.op !== 'Const')]},
    tensors, transposes};
}

/** Frees the model's decoded kernels with it. */
function tieDecodedWeights(model: GraphModel): void {
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    releaseDecodedWeights(Object.values(model.weights).flat());
    dispose();
  };
}

/**
 * Loads a graph model saved from `sparsifyGraphModel`'s result (or any graph model), checking each
 * sparse node's stored kernel: its CRC-32C against the one recorded in the node, and its structure.
 * `tf.loadGraphModel` also loads it once tfjs-sparsity's ops are registered (this function, or
 * `sparsifyGraphModel`, registers them), but checks nothing and does not free the decoded kernels
 * with the model until another sparse model is first run.
 * @param source a URL or path for `tf.loadGraphModel` (`file://` in Node), or an IOHandler.
 * @throws Error naming the node and weight that fail a check (the model is disposed first).
 */
export async function loadSparseGraphModel(source: string|io.IOHandler): Promise<GraphModel> {
  const converter = await graphConverter();
  const model = await converter.loadGraphModel(source);
  try {
    const graph = (await capturedArtifacts(model)).modelTopology as GraphDef;
    const byName = new Map(graph.node.map(d => [d.name, d]));
    for (const def of graph.node) {
      if (def.op !== SPARSE_CONV_OP && def.op !== SPARSE_MATMUL_OP && def.op !== SPARSE_CONV_NCHW_OP) continue;
      const inputs = (def.input ?? []).slice(1, 4).map(r => {
        const name = parseInput(r).node;
        return byName.get(name)?.op === 'Const' ? model.weights[name]?.[0] ?? null : null;
      });
      checkStoredNode(def.op, stringAttr(def, CONFIG_ATTR), inputs, def.name);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  tieDecodedWeights(model);
  return model;
}
