/**
 * A writer of TensorBoard event files for scalar, histogram and Keras model summaries, as TensorFlow's
 * `tf.summary` file writer lays them out. Files are written with `node:fs`, imported on the first
 * flush, so importing this module in a browser bundle is harmless; writing needs Node.js.
 */
import {io} from '@tensorflow/tfjs-core';
import {FILE_VERSION, frameEvent, SummaryValue} from './event_file';
import {histogramOf} from './histogram';

/** The plugin of Keras's model-config summary (tf_keras `keras_model_summary`), content version "1". */
const KERAS_MODEL_PLUGIN = {pluginName: 'graph_keras_model', content: '1'};

/** Distinguishes writers created in the same second by the same process, as TensorBoard's writer does. */
let fileCounter = 0;

/**
 * Writes TensorBoard event files: `logDir/events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n>`.
 *
 * `scalar` and `histogram` queue records in memory; `flush()` appends them to the file (creating
 * `logDir` and the file on the first flush) and `close()` flushes and ends the writer. Await `close()`
 * before the process exits, or queued records are lost. Node.js only (`node:fs` is imported on the
 * first flush).
 * ```ts
 * const writer = new SummaryWriter('logs/metrics');
 * writer.scalar('loss', 0.25, 1);
 * writer.histogram('dense/kernel', kernelValues, 1);
 * await writer.close();
 * ```
 */
export class SummaryWriter {
  readonly logDir: string;
  private readonly createdSeconds: number;
  private readonly counter: number;
  private pending: Uint8Array[] = [];
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  private path: string | undefined;

  /** @throws Error if `logDir` is not a non-empty string. */
  constructor(logDir: string) {
    if (typeof logDir !== 'string' || logDir.length === 0) {
      throw new Error(`SummaryWriter: logDir must be a non-empty string, but got ${
        typeof logDir === 'string' ? "''" : String(logDir)}`);
    }
    this.logDir = logDir;
    this.createdSeconds = Math.floor(Date.now() / 1000);
    this.counter = fileCounter++;
    this.pending.push(frameEvent({wallTime: Date.now() / 1000, step: 0, fileVersion: FILE_VERSION, values: []}));
  }

  /** The event file's path, known once the first `flush()` has created it. */
  get filePath(): string | undefined {
    return this.path;
  }

  /**
   * Queues a scalar summary (stored as float32, TensorBoard's `simple_value`).
   * @throws Error for an empty tag, a non-number value, a step that is not a safe integer, or a closed writer.
   */
  scalar(tag: string, value: number, step: number): void {
    this.checkRecord('scalar', tag, step);
    if (typeof value !== 'number') {
      throw new Error(`SummaryWriter.scalar('${tag}'): value must be a number, but got ${typeof value}`);
    }
    this.push(step, {tag, simpleValue: value});
  }

  /**
   * Queues a histogram of `values`, bucketed as TensorFlow's legacy histogram summary does (limits
   * growing by 10% from ±1e-12 to ±1e20; see `histogramOf`).
   * @throws Error for non-finite values, an empty tag, a bad step, or a closed writer.
   */
  histogram(tag: string, values: Float32Array | number[], step: number): void {
    this.checkRecord('histogram', tag, step);
    if (!(values instanceof Float32Array) && !Array.isArray(values)) {
      throw new Error(`SummaryWriter.histogram('${tag}'): values must be a Float32Array or number[]`);
    }
    this.push(step, {tag, histo: histogramOf(values, tag)});
  }

  /**
   * Queues a Keras model-config summary, as Keras's TensorBoard callback writes at train begin
   * (tag 'keras', step 0): `json` (a model's Keras JSON, e.g. `model.toJSON(null, false)` stringified)
   * as a string tensor for TensorBoard's `graph_keras_model` plugin, which draws it in the Graphs
   * dashboard.
   * @throws Error for an empty tag, a non-string `json`, a bad step, or a closed writer.
   */
  kerasModel(json: string, step = 0, tag = 'keras'): void {
    this.checkRecord('kerasModel', tag, step);
    if (typeof json !== 'string') {
      throw new Error(`SummaryWriter.kerasModel('${tag}'): json must be a string, but got ${typeof json}`);
    }
    this.push(step, {tag, stringTensor: json, metadata: KERAS_MODEL_PLUGIN});
  }

  /**
   * Appends the queued records to the event file. Calls are written in order, even if not awaited;
   * if a write fails, its records stay queued for the next flush.
   */
  flush(): Promise<void> {
    const chunk = this.pending;
    this.pending = [];
    const write = this.writes.then(() => this.append(chunk)).catch((e: unknown) => {
      this.pending = chunk.concat(this.pending);
      throw e;
    });
    this.writes = write.catch(() => undefined);
    return write;
  }

  /** Flushes and closes the writer; later `scalar`/`histogram` calls throw. Closing twice is harmless. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private checkRecord(method: string, tag: string, step: number): void {
    if (this.closed) throw new Error(`SummaryWriter.${method}: the writer for '${this.logDir}' is closed`);
    if (typeof tag !== 'string' || tag.length === 0) {
      throw new Error(`SummaryWriter.${method}: tag must be a non-empty string, but got ${String(tag)}`);
    }
    if (!Number.isSafeInteger(step)) {
      throw new Error(`SummaryWriter.${method}('${tag}'): step must be an integer, but got ${String(step)}`);
    }
  }

  private push(step: number, value: SummaryValue): void {
    this.pending.push(frameEvent({wallTime: Date.now() / 1000, step, values: [value]}));
  }

  private async append(chunk: Uint8Array[]): Promise<void> {
    if (chunk.length === 0) return;
    const fs = await import('node:fs/promises');
    if (this.path === undefined) {
      const [os, pathModule] = await Promise.all([import('node:os'), import('node:path')]);
      await fs.mkdir(this.logDir, {recursive: true});
      const name = `events.out.tfevents.${String(this.createdSeconds).padStart(10, '0')}.` +
          `${os.hostname()}.${process.pid}.${this.counter}`;
      this.path = pathModule.join(this.logDir, name);
    }
    // Each frame owns its whole buffer (see frameEvent).
    await fs.appendFile(this.path, new Uint8Array(io.CompositeArrayBuffer.join(chunk.map(c => c.buffer as ArrayBuffer))));
  }
}
