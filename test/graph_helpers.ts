// Small tfjs graph models built node by node, as tfjs-converter writes them (GraphDef JSON, weights
// as Const nodes), for the graph-model tests: no converted model file is needed.
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import {encodeAttrString, NodeDef} from '../src/model/graph_def';
import {normal, rng} from './helpers';

const s = (text: string) => ({s: encodeAttrString(text)});
const ints = (values: number[]) => ({list: {i: values.map(String)}});
const strings = (values: string[]) => ({list: {s: values.map(encodeAttrString)}});
const F32 = {type: 'DT_FLOAT'};

/** Options of a convolution-like node. */
export interface ConvOptions {
  strides?: number;
  padding?: 'SAME'|'VALID';
  bias?: boolean;
  /** Fused after BiasAdd: 'Relu', 'Relu6' or 'Prelu' (a per-channel alpha). */
  activation?: 'Relu'|'Relu6'|'Prelu';
  /** Fraction of the kernel's entries set to zero (random positions). */
  sparsity?: number;
}

/** Builds a graph model's artifacts node by node; weights are seeded normals. */
export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly weights: Record<string, tf.Tensor> = {};
  private seed: number;

  constructor(seed = 1) {
    this.seed = seed;
  }

  input(name: string, shape: number[], dtype: 'float32'|'int32' = 'float32'): string {
    this.nodes.push({name, op: 'Placeholder', attr: {dtype: {type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT'},
      shape: {shape: {dim: shape.map(d => ({size: String(d)}))}}}});
    return name;
  }

  constant(name: string, t: tf.Tensor): string {
    this.nodes.push({name, op: 'Const', attr: {dtype: {type: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT'},
      value: {tensor: {dtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: {dim: t.shape.map(d => ({size: String(d)}))}}}}});
    this.weights[name] = t;
    return name;
  }

  /** A random weight with a fraction `sparsity` of exact zeros. */
  weight(name: string, shape: number[], sparsity = 0, scale = 0.3): string {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = normal(size, this.seed++, scale);
    const r = rng(this.seed++);
    for (let i = 0; i < size; i++) if (r() < sparsity) values[i] = 0;
    return this.constant(name, tf.tensor(values, shape));
  }

  private fusedArgs(name: string, channels: number, o: ConvOptions): {inputs: string[]; fused: string[]} {
    const inputs: string[] = [];
    const fused: string[] = [];
    if (o.bias ?? true) {
      inputs.push(this.weight(`${name}/bias`, [channels], 0, 0.1));
      fused.push('BiasAdd');
    }
    if (o.activation) fused.push(o.activation);
    if (o.activation === 'Prelu') inputs.push(this.weight(`${name}/alpha`, [channels], 0, 0.1));
    return {inputs, fused};
  }

  conv(name: string, x: string, kernel: [number, number, number, number], o: ConvOptions = {}): string {
    const w = this.weight(`${name}/weights`, kernel, o.sparsity ?? 0);
    const {inputs, fused} = this.fusedArgs(name, kernel[3], o);
    const st = o.strides ?? 1;
    this.nodes.push({name, op: fused.length ? '_FusedConv2D' : 'Conv2D', input: [x, w, ...inputs], attr: {
      T: F32, strides: ints([1, st, st, 1]), padding: s(o.padding ?? 'SAME'), data_format: s('NHWC'),
      dilations: ints([1, 1, 1, 1]), ...(fused.length ? {fused_ops: strings(fused), num_args: {i: String(inputs.length)}} : {}),
    }});
    return name;
  }

  depthwise(name: string, x: string, kernel: [number, number, number, 1], o: ConvOptions = {}): string {
    const w = this.weight(`${name}/filter`, kernel);
    const {inputs, fused} = this.fusedArgs(name, kernel[2], o);
    const st = o.strides ?? 1;
    this.nodes.push({name, op: fused.length ? 'FusedDepthwiseConv2dNative' : 'DepthwiseConv2dNative', input: [x, w, ...inputs],
      attr: {T: F32, strides: ints([1, st, st, 1]), padding: s(o.padding ?? 'SAME'), data_format: s('NHWC'),
        dilations: ints([1, 1, 1, 1]), ...(fused.length ? {fused_ops: strings(fused), num_args: {i: String(inputs.length)}} : {})}});
    return name;
  }

  /** x `[M, K]` times a `[K, N]` weight (stored `[N, K]` with `transposeB`). */
  matMul(name: string, x: string, [k, n]: [number, number], o: ConvOptions & {transposeB?: boolean} = {}): string {
    const w = this.weight(`${name}/weights`, o.transposeB ? [n, k] : [k, n], o.sparsity ?? 0);
    const {inputs, fused} = this.fusedArgs(name, n, o);
    this.nodes.push({name, op: fused.length ? '_FusedMatMul' : 'MatMul', input: [x, w, ...inputs], attr: {
      T: F32, transpose_a: {b: false}, transpose_b: {b: o.transposeB === true},
      ...(fused.length ? {fused_ops: strings(fused), num_args: {i: String(inputs.length)}} : {}),
    }});
    return name;
  }

  /** Any other node, e.g. `op('add', 'AddV2', [a, b])`. */
  op(name: string, op: string, inputs: string[], attr: NodeDef['attr'] = {}): string {
    this.nodes.push({name, op, input: inputs, attr: {T: F32, ...attr}});
    return name;
  }

  /** Mean over H and W, then a reshape to `[1, C]`. */
  pool(name: string, x: string, channels: number): string {
    const axes = this.constant(`${name}/axes`, tf.tensor1d([1, 2], 'int32'));
    const mean = this.op(`${name}/mean`, 'Mean', [x, axes], {keep_dims: {b: false}, Tidx: {type: 'DT_INT32'}});
    const shape = this.constant(`${name}/shape`, tf.tensor1d([-1, channels], 'int32'));
    return this.op(name, 'Reshape', [mean, shape], {Tshape: {type: 'DT_INT32'}});
  }

  async artifacts(): Promise<tf.io.ModelArtifacts> {
    const {data, specs} = await tf.io.encodeWeights(this.weights);
    return {modelTopology: {node: structuredClone(this.nodes), library: {}, versions: {}}, format: 'graph-model',
      generatedBy: 'test', convertedBy: 'test', weightSpecs: specs, weightData: data};
  }

  /** The model; the builder's weight tensors are disposed. */
  async model(): Promise<tfc.GraphModel> {
    const artifacts = await this.artifacts();
    tf.dispose(Object.values(this.weights));
    return tfc.loadGraphModel(tf.io.fromMemory(artifacts));
  }
}

/**
 * A MobileNetV2-like graph: 3x3 stem, an inverted residual block (1x1 expand, 3x3 depthwise, 1x1
 * project, Add with the block input), a strided depthwise, a 1x1, mean pooling and a MatMul head.
 * The 1x1 kernels and the head are `sparsity` sparse.
 */
export async function tinyGraph(seed: number, {sparsity = 0.85, transposeB = false, size = 12} = {}): Promise<tfc.GraphModel> {
  const g = new GraphBuilder(seed);
  let x = g.input('image', [1, size, size, 3]);
  x = g.conv('stem', x, [3, 3, 3, 8], {activation: 'Relu6'});
  let y = g.conv('expand', x, [1, 1, 8, 24], {activation: 'Relu6', sparsity});
  y = g.depthwise('dw1', y, [3, 3, 24, 1], {activation: 'Relu6'});
  y = g.conv('project', y, [1, 1, 24, 8], {sparsity});
  x = g.op('add', 'AddV2', [x, y]);
  x = g.op('relu', 'Relu', [x]);
  x = g.depthwise('dw2', x, [3, 3, 8, 1], {strides: 2, bias: false});
  x = g.conv('last', x, [1, 1, 8, 32], {activation: 'Relu', sparsity});
  x = g.pool('pool', x, 32);
  g.matMul('logits', x, [32, 5], {sparsity, transposeB});
  return g.model();
}

/** max |a - b| / max |a| over every output. */
export function outputError(want: tf.Tensor|tf.Tensor[], got: tf.Tensor|tf.Tensor[]): number {
  const a = [want].flat(), b = [got].flat();
  let err = 0, top = 0;
  for (let i = 0; i < a.length; i++) {
    const av = a[i].dataSync(), bv = b[i].dataSync();
    for (let j = 0; j < av.length; j++) {
      err = Math.max(err, Math.abs(av[j] - bv[j]));
      top = Math.max(top, Math.abs(av[j]));
    }
  }
  return err / top;
}
