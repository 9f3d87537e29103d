/** `graphWeightSparsity`: how sparse the weights of a graph model are, stored sparse kernels included. */
import {Tensor} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {capturedArtifacts, checkGraphModel} from '../model/graph_artifacts';
import {GraphDef, parseInput, stringAttr} from '../model/graph_def';
import {CONFIG_ATTR, decodeNodeKernel, DEPTHWISE_NCHW_OP, GRAPH_OPS, readNodeConfig, SparseNodeConfig} from './graph_ops';
import {dequantize} from './quantize';

/** One weight of a graph model and its sparsity (`graphWeightSparsity`). */
export interface GraphWeightSparsity {
  /** The node reading the weight. */
  node: string;
  op: string;
  /** The weight's Const node (for a sparse node: its stored values, and their dtype). */
  weight: string;
  /** The weight's shape (for a sparse node: its kernel as `[K, N]`). */
  shape: number[];
  params: number;
  nonzeros: number;
  /** Fraction of exact zeros. */
  sparsity: number;
}

function nonzerosOf(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

/**
 * The sparsity of a graph model's weights: one row per Conv2D, MatMul and depthwise node with a
 * constant float32 weight, and per sparse node (`sparsifyGraphModel`), whose kernel is decoded from
 * its compact form; the graph-model counterpart of what `tfjs-sparsity inspect` prints for layers
 * models.
 * ```js
 * console.table(await graphWeightSparsity(await loadSparseGraphModel('file:///tmp/sparse/model.json')));
 * ```
 * @throws Error when `model` is not a GraphModel, or a sparse node's stored kernel does not decode.
 */
export async function graphWeightSparsity(model: GraphModel): Promise<GraphWeightSparsity[]> {
  await checkGraphModel(model, 'graphWeightSparsity');
  const graph = (await capturedArtifacts(model)).modelTopology as GraphDef;
  const consts = new Set(graph.node.filter(d => d.op === 'Const').map(d => d.name));
  const weight = (ref?: string): Tensor|null => {
    const name = ref === undefined ? '' : parseInput(ref).node;
    return consts.has(name) ? model.weights[name]?.[0] ?? null : null;
  };
  const rows: GraphWeightSparsity[] = [];
  for (const def of graph.node) {
    if (GRAPH_OPS.includes(def.op) && def.op !== DEPTHWISE_NCHW_OP) {
      const config = readNodeConfig<SparseNodeConfig>(stringAttr(def, CONFIG_ATTR), def.op);
      const [positions, values, scales] = (def.input ?? []).slice(1, 4).map(weight);
      const dense = dequantize(decodeNodeKernel(def.op, config.layout, positions!, values!, scales ?? null));
      rows.push({node: def.name, op: def.op, weight: `${parseInput(def.input![2]).node} (stored ${config.layout.dtype})`,
        shape: config.layout.shape, params: dense.length, nonzeros: nonzerosOf(dense), sparsity: 1 - nonzerosOf(dense) / dense.length});
      continue;
    }
    if (!/Conv2D|MatMul|Depthwise/.test(def.op)) continue;
    const w = weight(def.input?.[1]);
    if (!w || w.dtype !== 'float32') continue;
    const values = await w.data();
    const nonzeros = nonzerosOf(values);
    rows.push({node: def.name, op: def.op, weight: parseInput(def.input![1]).node, shape: w.shape, params: w.size, nonzeros,
      sparsity: 1 - nonzeros / w.size});
  }
  return rows;
}
