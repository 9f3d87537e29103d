/**
 * The plan of `sparsifyGraphModel` (`graph_model.ts`) for a graph model: which Conv2D / MatMul nodes
 * store their kernels compactly and run on our kernels, which depthwise and elementwise nodes join a
 * channel-major run, and why every other weighted node stays as it was.
 */
import {dispose, Tensor, zeros} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {pixelKernelPays} from '../kernels/dispatch';
import {GraphDef, intListAttr, NodeDef, parseInput, stringAttr, stringListAttr, topologicalOrder} from '../model/graph_def';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {keepPayingRuns} from './channel_major';
import {chooseKernelBlockWidth} from './layer_conversion';
import {explicitPadding} from './depthwise_nchw';
import {DepthwiseNodeConfig, GRAPH_OPS, SparseNodeConfig} from './graph_ops';
import {INT8_MAX_K, StoredDtype} from './quantize';
import {chooseBlockSize, encodeWeight, StorageError, storedBytes, StoredWeight} from './storage';

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

/** Ops whose presence keeps the whole graph dense: its shapes cannot be probed with `execute`. */
const CONTROL_FLOW_OPS = new Set(['Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'LoopCond', 'If', 'StatelessIf',
  'While', 'StatelessWhile']);

/** Ops that act on each value alone, so they run unchanged on channel-major tensors. */
const UNARY_OPS = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Softplus', 'Softsign', 'Identity', 'Neg',
  'Abs', 'Square', 'Sqrt', 'Rsqrt', 'Exp', 'Log', 'Floor', 'Ceil', 'Round', 'Sign', 'LeakyRelu']);
/** Binary ops that are elementwise when both operands have one shape (or one is a single value). */
const BINARY_OPS = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference']);

export const CONV_OPS = new Set(['Conv2D', '_FusedConv2D']);
const MATMUL_OPS = new Set(['MatMul', '_FusedMatMul']);
const DEPTHWISE_OPS = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);

/** The activations after BiasAdd that our ops fuse, by TensorFlow name. */
const FUSED: Record<string, FusedActivation> = {'': 'linear', Relu: 'relu', Relu6: 'relu6'};

/** A node of the graph being planned. */
export interface PlanNode {
  def: NodeDef;
  /** Data producers (not Const). */
  inputs: PlanNode[];
}

/** A conv or matmul node whose kernel is stored sparse. */
export interface SparsePlan {
  stored: StoredWeight;
  config: SparseNodeConfig;
  /** Nonzero entries of the kernel. */
  nonzeros: number;
}

export interface Planning {
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

/** What `planGraph` decided: the plan, the nodes moved to channel-major runs with their roles, and notes. */
export interface GraphPlan {
  plan: Planning;
  roles: Map<PlanNode, string>;
  notes: string[];
}

/** Plans `graph` (the topology of `model`, whose weights are `weights`) for `sparsifyGraphModel`. */
export async function planGraph(model: GraphModel, graph: GraphDef, weights: Record<string, Tensor[]>,
                                {dtype, minSparsity, layout}: {dtype: StoredDtype; minSparsity: number; layout: string}):
    Promise<GraphPlan> {
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
  return {plan: p, roles, notes};
}
