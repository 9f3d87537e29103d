/**
 * Calibration data for one-shot pruning, sensitivity analysis and BatchNorm recalibration: a
 * tensor, an array of tensors, or a `tf.data.Dataset`, validated against the model's input and
 * streamed in batches so no pass holds more than one batch of activations.
 */
import {concat, DataType, dispose, slice, stack, Tensor, tidy} from '@tensorflow/tfjs-core';

/**
 * What `tf.data.Dataset` offers and this module uses (tfjs-data is not a dependency): a fresh
 * iterator per pass. Elements are tensors, or `{xs, ys}` objects as `model.fitDataset` takes.
 */
export interface DatasetLike {
  iterator(): Promise<{next(): Promise<{value: unknown; done: boolean}>}>;
}

/**
 * Calibration samples: one tensor `[n, ...inputShape]`, an array of such batches or of single
 * samples `[...inputShape]`, or a dataset of either (or of `{xs, ys}` elements).
 */
export type CalibrationData = Tensor|Tensor[]|DatasetLike;

/** What every batch must look like: the model's input shape (null = any size) and dtype. */
export interface InputSpec {
  /** With the batch dimension first, as `model.inputs[0].shape`. */
  shape: Array<number|null>;
  dtype: DataType;
}

/** Where errors come from: the function and the argument. */
export interface DataLabel {
  op: string;
  arg: string;
}

/** True for a dataset-like object. */
export function isDatasetLike(data: unknown): data is DatasetLike {
  return data != null && typeof (data as Partial<DatasetLike>).iterator === 'function';
}

function shapeText(shape: ReadonlyArray<number|null>): string {
  return `[${shape.map(d => (d == null ? 'null' : d)).join(',')}]`;
}

/**
 * Whether `t` is a batch (true) or a single sample (false) of `spec`.
 * @throws Error naming the argument, the expected shape and dtype, and what was received.
 */
function classify(t: unknown, spec: InputSpec, label: DataLabel, where: string): boolean {
  const expected = `a batch ${shapeText(spec.shape)} or a sample ${shapeText(spec.shape.slice(1))} of ${spec.dtype}`;
  if (!(t instanceof Tensor)) {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}': ${where} must be a tensor (${expected}), ` +
        `but got ${t === null ? 'null' : typeof t}`);
  }
  const matches = (dims: ReadonlyArray<number|null>) =>
    t.rank === dims.length && dims.every((d, i) => d == null || d === t.shape[i]);
  const isBatch = matches(spec.shape.map((d, i) => (i === 0 ? null : d)));
  if (!isBatch && !matches(spec.shape.slice(1))) {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}': ${where} has shape [${t.shape}], but the model ` +
        `takes ${expected}`);
  }
  if (t.dtype !== spec.dtype) {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}': ${where} has dtype ${t.dtype}, but the model ` +
        `takes ${spec.dtype}`);
  }
  if (isBatch && t.shape[0] === 0) {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}': ${where} is an empty batch`);
  }
  return isBatch;
}

/** Yields each element, where it came from, and the tensors this module owns (a dataset's elements). */
async function* elements(data: CalibrationData, label: DataLabel): AsyncGenerator<[unknown, string, unknown]> {
  if (data instanceof Tensor) {
    yield [data, 'the tensor', null];
  } else if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) yield [data[i], `element ${i}`, null];
  } else if (isDatasetLike(data)) {
    const it = await data.iterator();
    for (let i = 0; ; i++) {
      const {value, done} = await it.next();
      if (done) break;
      const x = value != null && typeof value === 'object' && !(value instanceof Tensor) && 'xs' in value ?
          (value as {xs: unknown}).xs : value;
      yield [x, `dataset element ${i}`, value];
    }
  } else {
    throw new Error(`Argument '${label.arg}' passed to '${label.op}' must be a tensor, an array of tensors or a ` +
        `tf.data.Dataset, but got ${data === null ? 'null' : typeof data}`);
  }
}

/**
 * Streams `data` in batches of at most `batchSize` samples, validated against `spec`; `fn` gets
 * each batch (owned by this function: it is disposed after `fn` returns) and its first sample's
 * index. Samples given one by one are stacked; batches larger than `batchSize` are sliced.
 * @returns the number of samples seen.
 * @throws Error naming `label.arg` for an element of the wrong type, shape or dtype.
 */
export async function forEachBatch(data: CalibrationData, spec: InputSpec, batchSize: number, label: DataLabel,
                                   fn: (x: Tensor, first: number) => void|Promise<void>): Promise<number> {
  let seen = 0;
  let pending: Tensor[] = [];
  let pendingCount = 0;
  const flush = async () => {
    if (pendingCount === 0) return;
    const batch = pending.length === 1 ? pending[0] : tidy(() => concat(pending));
    const first = seen;
    seen += pendingCount;
    try {
      await fn(batch, first);
    } finally {
      dispose(pending);
      if (pending.length !== 1) batch.dispose();
      pending = [];
      pendingCount = 0;
    }
  };
  try {
    for await (const [element, where, owned] of elements(data, label)) {
      try {
        await addElement(element, where);
      } finally {
        // A dataset's elements belong to its consumer (as in model.fitDataset).
        if (owned != null) dispose(owned as Tensor);
      }
    }
    await flush();
  } finally {
    // Samples gathered before a bad element.
    dispose(pending);
  }
  return seen;

  async function addElement(element: unknown, where: string): Promise<void> {
    const isBatch = classify(element, spec, label, where);
    const t = element as Tensor;
    const n = isBatch ? t.shape[0] : 1;
    for (let start = 0; start < n; ) {
      const take = Math.min(batchSize - pendingCount, n - start);
      // Slices and stacked samples are new tensors that `flush` disposes; the caller's stay untouched.
      pending.push(tidy(() => (isBatch ? slice(t, start, take) : stack([t]))));
      pendingCount += take;
      start += take;
      if (pendingCount === batchSize) await flush();
    }
  }
}
