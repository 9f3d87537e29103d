/**
 * One-shot magnitude pruning of a graph model's weights (unstructured, in blocks, or M:N), in place
 * through the model's weight map, with the library's own mask ops. Small on purpose: calibration-aware
 * one-shot pruning can call it for the magnitude case.
 */
import {dispose, io, reshape, Tensor, tidy, transpose} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {applyMask} from '../ops/mask';
import {mByNArg, mByNMask} from '../ops/m_by_n';
import {PoolingType} from '../ops/pool';
import {pruneMask} from '../ops/prune_mask';
import {checkChoice, checkOptions, checkSparsity, positiveIntPair} from '../util/validate';
import {GraphDef, NodeDef, parseInput} from '../model/graph_def';
import {artifactsWithWeights, capturedArtifacts, checkGraphModel, currentWeights} from '../model/graph_artifacts';

/** Options of `pruneGraphWeights`. */
export interface PruneGraphWeightsOptions {
  /** Fraction of each weight to zero, in [0, 1). */
  targetSparsity: number;
  /** `[bh, bw]` blocks of the `[K, N]` kernel (a conv kernel `[kh, kw, in, out]` as `[kh·kw·in, out]`); default `[1, 1]`. */
  blockSize?: [number, number];
  /** How block magnitudes are pooled: 'AVG' (default) or 'MAX'. */
  blockPoolingType?: PoolingType;
  /** `[m, n]`: m zeros in every n consecutive weights along the input channels (tfmot's `sparsity_m_by_n`); replaces `targetSparsity`'s rule. */
  sparsityMByN?: [number, number];
  /**
   * 'pointwise' (default): 1x1 convolutions and matmuls, the weights the sparse kernels speed up
   * (the first convolution and depthwise filters stay dense, as in Fast Sparse ConvNets). 'all': every
   * Conv2D and MatMul kernel.
   */
  nodes?: 'pointwise'|'all';
}

const OPTION_NAMES = ['targetSparsity', 'blockSize', 'blockPoolingType', 'sparsityMByN', 'nodes'];
/** The valid `GraphNodeSet` values, for runtime checks. */
export const VALID_NODE_SETS = ['pointwise', 'all'] as const;

/** One weight pruned by `pruneGraphWeights`. */
export interface PrunedGraphWeight {
  /** The (first) node reading it. */
  node: string;
  op: string;
  weight: string;
  shape: number[];
  /** Fraction of zeros reached. */
  sparsity: number;
}

/** Graph ops whose second input is a prunable weight: convolutions `[kh, kw, in, out]` and matmuls. */
export const CONV_OPS = ['Conv2D', '_FusedConv2D'];
export const MATMUL_OPS = ['MatMul', '_FusedMatMul'];

/** Which graph nodes are pruned: 'pointwise' (1x1 convolutions and matmuls) or 'all' (every Conv2D and MatMul). */
export type GraphNodeSet = typeof VALID_NODE_SETS[number];

/** A node whose weight is pruned: the first Conv2D / MatMul reading a constant float32 weight. */
export interface PrunableGraphNode {
  def: NodeDef;
  /** The Const node (and weight) name. */
  weight: string;
  value: Tensor;
  /** How many nodes read the weight. */
  readers: number;
}

/**
 * The prunable nodes of `graph` in its order, one per weight (its first reader), among `nodes`:
 * Conv2D / MatMul with a constant float32 weight of rank 4 / 2 in `weights`.
 */
export function prunableGraphNodes(graph: GraphDef, weights: Record<string, Tensor>, nodes: GraphNodeSet): PrunableGraphNode[] {
  const consts = new Set(graph.node.filter(d => d.op === 'Const').map(d => d.name));
  const readers = new Map<string, number>();
  for (const def of graph.node) {
    for (const ref of def.input ?? []) {
      const {node, control} = parseInput(ref);
      if (!control && consts.has(node)) readers.set(node, (readers.get(node) ?? 0) + 1);
    }
  }
  const found: PrunableGraphNode[] = [];
  const seen = new Set<string>();
  for (const def of graph.node) {
    const conv = CONV_OPS.includes(def.op);
    if (!conv && !MATMUL_OPS.includes(def.op)) continue;
    const name = def.input?.[1] === undefined ? undefined : parseInput(def.input[1]).node;
    const w = name !== undefined && consts.has(name) ? weights[name] : undefined;
    if (!w || seen.has(name!) || w.dtype !== 'float32' || w.rank !== (conv ? 4 : 2)) continue;
    if (nodes === 'pointwise' && conv && (w.shape[0] !== 1 || w.shape[1] !== 1)) continue;
    seen.add(name!);
    found.push({def, weight: name!, value: w, readers: readers.get(name!) ?? 1});
  }
  return found;
}

/** The mask of one weight by the options' rule. */
function maskOf(w: Tensor, op: string, transposeB: boolean, o: Required<Omit<PruneGraphWeightsOptions, 'sparsityMByN'>> &
    {sparsityMByN?: [number, number]}): Tensor {
  return tidy(() => {
    if (o.sparsityMByN) {
      // Groups run along the input channels: rank 4 [h, w, in, out] and [in, out] as they are.
      return transposeB ? transpose(mByNMask(transpose(w), o.sparsityMByN)) : mByNMask(w, o.sparsityMByN);
    }
    const n = w.shape[w.rank - 1];
    const w2 = CONV_OPS.includes(op) ? reshape(w, [-1, n]) : transposeB ? transpose(w) : w;
    const {mask, threshold} = pruneMask(w2, o.targetSparsity, {blockSize: o.blockSize, blockPoolingType: o.blockPoolingType});
    threshold.dispose();
    return CONV_OPS.includes(op) ? reshape(mask, w.shape) : transposeB ? transpose(mask) : mask;
  });
}

/** Result of `pruneGraphWeights`. */
export interface PruneGraphWeightsResult {
  /** A new model with the pruned weights (`model` is unchanged). */
  model: GraphModel;
  /** One entry per pruned weight. */
  report: PrunedGraphWeight[];
}

/**
 * Prunes a graph model's Conv2D / MatMul kernels one-shot by magnitude: each weight's smallest
 * magnitudes (or blocks, or M:N groups) become zero in a new model, which `model.save` writes with
 * the pruned weights and `sparsifyGraphModel` speeds up. A weight several nodes share is pruned
 * once. `model` is not changed (tfjs-converter keeps no public way to replace a loaded model's
 * weights safely).
 * ```js
 * const {model: pruned, report} = await pruneGraphWeights(model, {targetSparsity: 0.9});
 * const {model: fast} = await sparsifyGraphModel(pruned);
 * ```
 * @throws Error for a non-GraphModel, an unknown option, a sparsity outside [0, 1), a bad block size,
 *   pooling type or `[m, n]`.
 */
export async function pruneGraphWeights(model: GraphModel, options: PruneGraphWeightsOptions): Promise<PruneGraphWeightsResult> {
  const op = 'pruneGraphWeights';
  const converter = await checkGraphModel(model, op);
  checkOptions(options, OPTION_NAMES, op, true);
  const sparsityMByN = options.sparsityMByN === undefined ? undefined : mByNArg(options.sparsityMByN, op);
  if (sparsityMByN === undefined) checkSparsity(options.targetSparsity, op, 'targetSparsity');
  const blockSize = positiveIntPair(options.blockSize ?? [1, 1], 'blockSize', op);
  const nodes = checkChoice(options.nodes ?? 'pointwise', VALID_NODE_SETS, 'nodes', op);
  const rule = {targetSparsity: options.targetSparsity, blockSize, blockPoolingType: options.blockPoolingType ?? 'AVG', sparsityMByN, nodes};
  const artifacts = await capturedArtifacts(model);
  const weights = currentWeights(model);
  const pruned: Record<string, Tensor> = {};
  const report: PrunedGraphWeight[] = [];
  try {
    for (const {def, weight: name, value: w} of prunableGraphNodes(artifacts.modelTopology as GraphDef, weights, nodes)) {
      const mask = maskOf(w, def.op, MATMUL_OPS.includes(def.op) && def.attr?.transpose_b?.b === true, rule);
      const p = pruned[name] = applyMask(w, mask);
      mask.dispose();
      const values = await p.data();
      let zeros = 0;
      for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
      report.push({node: def.name, op: def.op, weight: name, shape: p.shape, sparsity: zeros / values.length});
    }
    const out = await converter.loadGraphModel(io.fromMemory(await artifactsWithWeights(artifacts, {...weights, ...pruned})));
    return {model: out, report};
  } finally {
    dispose(Object.values(pruned));
  }
}
