/**
 * The JSON form of a TensorFlow GraphDef as tfjs-converter stores it in a graph model's
 * `modelTopology` (`{node: [{name, op, input, attr}]}`), and the few readers and writers the graph
 * rewrites need: attribute values (strings are base64), input references (`name`, `name:1`,
 * `^control`), and Const nodes. No tfjs-converter import: the library loads that package only when
 * a graph model is given to it (an optional peer dependency).
 */

/** One attribute value (a subset of TensorFlow's AttrValue in its JSON form). */
export interface AttrValue {
  s?: string;
  i?: string|number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: unknown;
  tensor?: unknown;
  list?: {s?: string[]; i?: Array<string|number>; f?: number[]; b?: boolean[]; type?: string[]};
  func?: unknown;
}

/** One node of a GraphDef. */
export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
  device?: string;
}

/** A GraphDef in JSON form. */
export interface GraphDef {
  node: NodeDef[];
  library?: {function?: unknown[]};
  versions?: unknown;
}

/** A reference to a node's output in an input list. */
export interface InputRef {
  node: string;
  output: number;
  /** A control dependency (`^name`): no data flows. */
  control: boolean;
}

/** Parses `name`, `name:1` or `^name`. */
export function parseInput(ref: string): InputRef {
  if (ref.startsWith('^')) return {node: ref.slice(1), output: 0, control: true};
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? {node: m[1], output: Number(m[2]), control: false} : {node: ref, output: 0, control: false};
}

/** Base64 of a string's UTF-8 bytes (how GraphDef JSON stores `s` values). */
export function encodeAttrString(text: string): string {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The string a base64 `s` value holds. */
function decodeAttrString(base64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(base64), c => c.charCodeAt(0)));
}

/** A string attribute, or undefined. */
export function stringAttr(node: NodeDef, key: string): string|undefined {
  const s = node.attr?.[key]?.s;
  return s === undefined ? undefined : decodeAttrString(s);
}

/** A list-of-strings attribute ([] when absent). */
export function stringListAttr(node: NodeDef, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map(decodeAttrString);
}

/** A list-of-ints attribute, or undefined. */
export function intListAttr(node: NodeDef, key: string): number[]|undefined {
  const list = node.attr?.[key]?.list;
  return list ? (list.i ?? []).map(Number) : undefined;
}

const DTYPES = {float32: 'DT_FLOAT', int32: 'DT_INT32'} as const;

/** A Const node whose value comes from the weights under the same name. */
export function constNode(name: string, dtype: 'float32'|'int32', shape: number[]): NodeDef {
  const dt = DTYPES[dtype];
  return {name, op: 'Const', attr: {
    dtype: {type: dt},
    value: {tensor: {dtype: dt, tensorShape: shape.length === 0 ? {} : {dim: shape.map(d => ({size: String(d)}))}}},
  }};
}

/** Node names in an order where every node comes after its inputs (cycles, which a GraphDef without control flow has none of, are broken arbitrarily). */
export function topologicalOrder(nodes: NodeDef[]): NodeDef[] {
  const byName = new Map(nodes.map(n => [n.name, n]));
  const done = new Set<string>();
  const order: NodeDef[] = [];
  for (const root of nodes) {
    // Iterative depth-first search: real graphs are deep enough to overflow a recursive one.
    const stack: Array<[NodeDef, number]> = [[root, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [node, i] = top;
      if (i === 0 && done.has(node.name)) {
        stack.pop();
        continue;
      }
      const inputs = node.input ?? [];
      if (i < inputs.length) {
        top[1]++;
        const next = byName.get(parseInput(inputs[i]).node);
        if (next && !done.has(next.name) && !stack.some(([n]) => n === next)) stack.push([next, 0]);
        continue;
      }
      stack.pop();
      if (!done.has(node.name)) {
        done.add(node.name);
        order.push(node);
      }
    }
  }
  return order;
}
