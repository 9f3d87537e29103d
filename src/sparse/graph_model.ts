/**
 * Graph models (tfjs-converter's `GraphModel`, what the converter makes of SavedModels and what most
 * pretrained tfjs models are): `sparsifyGraphModel` rewrites a loaded model's graph so that its
 * sparse Conv2D / MatMul nodes run on our kernels, and moves runs of 1x1 convolutions, 3x3
 * depthwise convolutions and elementwise nodes to channel-major layout between one transpose in and
 * one out, as `toSparse` does for layers models (`channel_major.ts`); `graph_plan.ts` plans and
 * `graph_rewrite.ts` rewrites. Only public APIs are used: the
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
import {dispose, io, Tensor} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {DEFAULT_MIN_SPARSITY} from '../kernels/dispatch';
import {artifactsWithWeights, capturedArtifacts, checkGraphModel, loadConverter} from '../model/graph_artifacts';
import {GraphDef, parseInput, stringAttr} from '../model/graph_def';
import {checkChoice, checkOptions, checkSparsity} from '../util/validate';
import {CONFIG_ATTR, checkStoredNode, registerGraphOps, releaseDecodedWeights, SPARSE_CONV_NCHW_OP, SPARSE_CONV_OP,
  SPARSE_MATMUL_OP} from './graph_ops';
import {GraphNodeReport, planGraph} from './graph_plan';
import {rewrite} from './graph_rewrite';
import {StoredDtype, VALID_STORED_DTYPES} from './quantize';

type Converter = typeof import('@tensorflow/tfjs-converter');

/**
 * tfjs-converter, imported on first use, with our ops registered.
 * @throws Error naming the package to install when it is missing.
 */
async function graphConverter(): Promise<Converter> {
  const c = await loadConverter();
  registerGraphOps(c.registerOp as Parameters<typeof registerGraphOps>[0]);
  return c;
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

function sparsifyOptions(options: SparsifyGraphModelOptions): Required<SparsifyGraphModelOptions> {
  const op = 'sparsifyGraphModel';
  checkOptions(options, OPTION_NAMES, op);
  const dtype = checkChoice(options.dtype ?? 'float32', VALID_STORED_DTYPES, 'dtype', op);
  const minSparsity = options.minSparsity ?? DEFAULT_MIN_SPARSITY;
  checkSparsity(minSparsity, op, 'minSparsity', true);
  const layout = checkChoice(options.layout ?? 'auto', VALID_GRAPH_LAYOUTS, 'layout', op);
  return {dtype, minSparsity, layout};
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
  await checkGraphModel(model, 'sparsifyGraphModel');
  const converter = await graphConverter();
  const {dtype, minSparsity, layout} = sparsifyOptions(options);
  const artifacts = await capturedArtifacts(model);
  const graph = structuredClone(artifacts.modelTopology) as GraphDef;
  const weights = model.weights as Record<string, Tensor[]>;
  const {plan: p, roles, notes} = await planGraph(model, graph, weights, {dtype, minSparsity, layout});
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
