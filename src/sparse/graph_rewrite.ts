/**
 * The rewrite of `sparsifyGraphModel` (`graph_model.ts`): a graph model's GraphDef with the planned
 * sparse nodes replaced by our ops (their kernels as compact Const inputs with checksums) and the
 * planned runs moved to channel-major layout between one Transpose in and one out.
 */
import {Tensor, tensor1d, transpose} from '@tensorflow/tfjs-core';
import {bytesOf, crc32c} from '../util/crc32c';
import {constNode, encodeAttrString, GraphDef, NodeDef, parseInput} from '../model/graph_def';
import {CONFIG_ATTR, configAttr, DEPTHWISE_NCHW_OP, DepthwiseNodeConfig, SPARSE_CONV_NCHW_OP, SPARSE_CONV_OP, SPARSE_MATMUL_OP,
  SparseNodeConfig} from './graph_ops';
import {CONV_OPS, PlanNode, Planning, SparsePlan} from './graph_plan';
import {int8ToWords} from './storage';

/** The nodes' new names and Const nodes, as the rewrite makes them. */
const NCHW_SUFFIX = '/channels_first';

/**
 * The graph with `p`'s sparse nodes and `roles`' runs rewritten, and the weights of its Const nodes
 * (the model's own tensors, plus new ones the caller disposes).
 */
export function rewrite(p: Planning, graph: GraphDef, roles: Map<PlanNode, string>, outputNodes: string[]):
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
