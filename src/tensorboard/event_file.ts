/**
 * TensorBoard event files without tfjs-node: their records encoded and decoded (every frame checked),
 * in the format of TensorFlow's `tf.summary` file writer. `SummaryWriter` (./summary_writer) writes them.
 *
 * A file is a sequence of TFRecord frames, each `u64 length | u32 masked CRC-32C of the length bytes |
 * data | u32 masked CRC-32C of the data` (little-endian), whose data is an `Event` protobuf message
 * (tensorflow/core/util/event.proto). The first event holds `file_version = "brain.Event:2"`; the others
 * hold a `Summary` with legacy `simple_value` / `histo` values, which TensorBoard shows in its scalars and
 * histograms dashboards. TensorBoard checks the CRCs and drops a file with a bad frame.
 *
 * Files are read with `node:fs`, imported when first needed, so importing this module in a browser
 * bundle is harmless; reading files needs Node.js.
 */
import {io} from '@tensorflow/tfjs-core';
import {Root} from 'protobufjs/light.js';
import {crc32c} from '../util/crc32c';
import type {Histogram} from './histogram';

/**
 * A value of a summary: a scalar (`simpleValue`), a histogram (`histo`), or a scalar string tensor
 * (`stringTensor`) read by the plugin its `metadata` names.
 */
export interface SummaryValue {
  tag: string;
  simpleValue?: number;
  histo?: Histogram;
  stringTensor?: string;
  /** `SummaryMetadata.plugin_data`: the plugin's name and its content bytes (as UTF-8 text). */
  metadata?: {pluginName: string; content: string};
}

/** One decoded `Event` record. */
export interface TensorBoardEvent {
  /** Seconds since the Unix epoch. */
  wallTime: number;
  step: number;
  /** Set on the first event of a file only (`"brain.Event:2"`). */
  fileVersion?: string;
  values: SummaryValue[];
}

/** The `file_version` of the first event of every file. */
export const FILE_VERSION = 'brain.Event:2';
// CRC mask from TFRecord (tensorflow/core/lib/hash/crc32c.h: kMaskDelta).
const CRC_MASK_DELTA = 0xa282ead8;
const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;

/**
 * The messages TensorBoard reads, as protobufjs's JSON descriptor of TensorFlow's proto3 files
 * (tensorflow/core/util/event.proto, framework/summary.proto, tensor.proto, tensor_shape.proto,
 * types.proto), with the fields this module reads or writes; other fields are skipped when read. Field
 * names are protobufjs's camelCase forms of the .proto names; ids and types are TensorFlow's.
 */
const SCHEMA = {
  Event: {
    oneofs: {what: {oneof: ['fileVersion', 'summary']}},
    fields: {
      wallTime: {type: 'double', id: 1},
      step: {type: 'int64', id: 2},
      fileVersion: {type: 'string', id: 3},
      summary: {type: 'Summary', id: 5},
    },
  },
  Summary: {
    fields: {value: {rule: 'repeated', type: 'Value', id: 1}},
    nested: {
      Value: {
        oneofs: {value: {oneof: ['simpleValue', 'histo', 'tensor']}},
        fields: {
          tag: {type: 'string', id: 1},
          simpleValue: {type: 'float', id: 2},
          histo: {type: 'HistogramProto', id: 5},
          tensor: {type: 'TensorProto', id: 8},
          metadata: {type: 'SummaryMetadata', id: 9},
        },
      },
    },
  },
  SummaryMetadata: {
    fields: {pluginData: {type: 'PluginData', id: 1}},
    nested: {PluginData: {fields: {pluginName: {type: 'string', id: 1}, content: {type: 'bytes', id: 2}}}},
  },
  HistogramProto: {
    fields: {
      min: {type: 'double', id: 1},
      max: {type: 'double', id: 2},
      num: {type: 'double', id: 3},
      sum: {type: 'double', id: 4},
      sumSquares: {type: 'double', id: 5},
      bucketLimit: {rule: 'repeated', type: 'double', id: 6, options: {packed: true}},
      bucket: {rule: 'repeated', type: 'double', id: 7, options: {packed: true}},
    },
  },
  TensorProto: {
    fields: {
      dtype: {type: 'DataType', id: 1},
      tensorShape: {type: 'TensorShapeProto', id: 2},
      stringVal: {rule: 'repeated', type: 'bytes', id: 8},
    },
  },
  // A scalar has no dims: the shape is an empty message.
  TensorShapeProto: {fields: {}},
  DataType: {values: {DT_INVALID: 0, DT_STRING: 7}},
};

const root = Root.fromJSON({nested: {tensorflow: {nested: SCHEMA}}});
const EventType = root.lookupType('tensorflow.Event');
const DT_STRING = root.lookupEnum('tensorflow.DataType').values.DT_STRING;

/** TFRecord's masked CRC-32C: rotate right by 15 bits and add a constant. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return (((crc >>> 15) | (crc << 17)) + CRC_MASK_DELTA) >>> 0;
}

/** Frames one record: `u64 length | masked crc(length) | data | masked crc(data)`. */
function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.length + FOOTER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, true);
  view.setUint32(4, Math.floor(data.length / 2 ** 32), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, HEADER_BYTES);
  view.setUint32(HEADER_BYTES + data.length, maskedCrc32c(data), true);
  return out;
}

const encoder = new TextEncoder(), decoder = new TextDecoder();

/** An `Event` message object for protobufjs; proto3's rules omit zero scalars and absent fields. */
function eventMessage({wallTime, step, fileVersion, values}: TensorBoardEvent): object {
  return {
    wallTime, step, fileVersion,
    summary: values.length === 0 ? undefined : {value: values.map(v => ({
      tag: v.tag, simpleValue: v.simpleValue, histo: v.histo,
      tensor: v.stringTensor === undefined ? undefined :
          {dtype: DT_STRING, tensorShape: {}, stringVal: [encoder.encode(v.stringTensor)]},
      metadata: v.metadata === undefined ? undefined :
          {pluginData: {pluginName: v.metadata.pluginName, content: encoder.encode(v.metadata.content)}},
    }))},
  };
}

/** One event as a framed record, ready to append to an event file. */
export function frameEvent(event: TensorBoardEvent): Uint8Array {
  return frameRecord(EventType.encode(EventType.fromObject(eventMessage(event))).finish());
}

/** Decoded message objects, as `toObject` gives them: only the fields present in the bytes. */
interface ValueObject {
  tag?: string;
  simpleValue?: number;
  histo?: Partial<Histogram>;
  tensor?: {dtype?: number; stringVal: Uint8Array[]};
  metadata?: {pluginData?: {pluginName?: string; content?: Uint8Array}};
}

function fromValueObject(v: ValueObject): SummaryValue {
  const value: SummaryValue = {tag: v.tag ?? ''};
  if (v.simpleValue !== undefined) value.simpleValue = v.simpleValue;
  if (v.histo !== undefined) {
    const {min = 0, max = 0, num = 0, sum = 0, sumSquares = 0, bucketLimit = [], bucket = []} = v.histo;
    value.histo = {min, max, num, sum, sumSquares, bucketLimit, bucket};
  }
  // Only a scalar string tensor is read (the Keras model summary); other tensors are skipped.
  if (v.tensor?.dtype === DT_STRING && v.tensor.stringVal.length === 1) value.stringTensor = decoder.decode(v.tensor.stringVal[0]);
  if (v.metadata !== undefined) {
    const {pluginName = '', content = new Uint8Array(0)} = v.metadata.pluginData ?? {};
    value.metadata = {pluginName, content: decoder.decode(content)};
  }
  return value;
}

function decodeEvent(data: Uint8Array): TensorBoardEvent {
  const e = EventType.toObject(EventType.decode(data), {longs: Number, arrays: true}) as
      {wallTime?: number; step?: number; fileVersion?: string; summary?: {value: ValueObject[]}};
  const event: TensorBoardEvent = {wallTime: e.wallTime ?? 0, step: e.step ?? 0, values: (e.summary?.value ?? []).map(fromValueObject)};
  if (e.fileVersion !== undefined) event.fileVersion = e.fileVersion;
  return event;
}

/**
 * Encodes events as an event file's bytes (TFRecord frames with their CRCs), the inverse of
 * `decodeEventFile`: the summaries of a file TensorFlow wrote encode back to the same bytes (fields
 * the schema leaves out, such as TensorBoard's `source_metadata`, are not kept).
 */
export function encodeEventFile(events: TensorBoardEvent[]): Uint8Array {
  return new Uint8Array(io.CompositeArrayBuffer.join(events.map(e => frameEvent(e).buffer as ArrayBuffer)));
}

/**
 * Decodes the events of an event file's bytes, verifying the length and data CRC of every frame.
 * @param name The file's name, used in error messages.
 * @throws Error naming the file and the record index for a truncated frame, a CRC mismatch or an
 *     undecodable message.
 */
export function decodeEventFile(bytes: Uint8Array, name = 'event file'): TensorBoardEvent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: TensorBoardEvent[] = [];
  for (let pos = 0, index = 0; pos < bytes.length; index++) {
    const where = `${name}: record ${index} (at byte ${pos})`;
    if (bytes.length - pos < HEADER_BYTES) {
      throw new Error(`${where} is truncated: ${bytes.length - pos} bytes left, a frame header needs ${HEADER_BYTES}`);
    }
    if (view.getUint32(pos + 8, true) !== maskedCrc32c(bytes.subarray(pos, pos + 8))) {
      throw new Error(`${where} has a bad length CRC: the frame is corrupt`);
    }
    const length = view.getUint32(pos, true) + view.getUint32(pos + 4, true) * 2 ** 32;
    const dataStart = pos + HEADER_BYTES;
    if (bytes.length - dataStart < length + FOOTER_BYTES) {
      throw new Error(`${where} is truncated: its header says ${length} data bytes, ` +
          `${Math.max(0, bytes.length - dataStart - FOOTER_BYTES)} are present`);
    }
    const data = bytes.subarray(dataStart, dataStart + length);
    if (view.getUint32(dataStart + length, true) !== maskedCrc32c(data)) {
      throw new Error(`${where} has a bad data CRC: the frame is corrupt`);
    }
    try {
      events.push(decodeEvent(data));
    } catch (e) {
      throw new Error(`${where} is not a valid Event message: ${(e as Error).message}`);
    }
    pos = dataStart + length + FOOTER_BYTES;
  }
  return events;
}

/**
 * Reads an event file (written by `SummaryWriter` or by TensorFlow) and returns its events, in order.
 * Node.js only.
 * @throws Error naming the file and the record index if a frame is truncated or fails its CRC check.
 */
export async function readEventFile(path: string): Promise<TensorBoardEvent[]> {
  const fs = await import('node:fs/promises');
  const bytes = await fs.readFile(path);
  return decodeEventFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
