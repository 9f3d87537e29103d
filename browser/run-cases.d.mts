// Types of run-cases.mjs for the TypeScript test that imports it.

/** An expression of the case language (see run-cases.mjs). */
export type Expr =
  | {$tensor: string; shape: number[]; dtype: 'float32'|'int32'}
  | {$typed: 'Float32Array'|'Int32Array'|'Int8Array'|'Uint8Array'; data: string}
  | {$call: string; args?: Expr[]}
  | {$kernel: string; inputs: Record<string, Expr>; attrs?: Record<string, unknown>}
  | {$ref: string}
  | number | string | boolean | null | Expr[] | {[key: string]: Expr};

/** A bit-exact, JSON-safe description of a value. */
export type Described =
  | {tensor: {shape: number[]; dtype: string; data: string}}
  | {typed: string; data: string}
  | {number: string}
  | {value: string}
  | {array: Described[]}
  | {object: Record<string, Described>};

export interface Case {name: string; let?: Record<string, Expr>; expr: Expr}
export interface CaseResult {name: string; result?: Described; error?: string; leaked: number}

export function toBase64(view: ArrayBufferView): string;
export function fromBase64<T = Uint8Array>(b64: string, Type?: {new (buffer: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number}): T;
export function describe(tf: unknown, value: unknown, digest?: boolean): Described;
export function runCases(tf: unknown, lib: unknown, cases: Case[], options?: {digest?: boolean}): CaseResult[];
