import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';
import {Writer} from 'protobufjs/minimal.js';
import {readEventFile, SummaryWriter} from '../src/index';
import {decodeEventFile, encodeEventFile, maskedCrc32c} from '../src/tensorboard/event_file';
import {histogramOf} from '../src/tensorboard/histogram';
import {bitwiseCrc32c, normal, rng} from './helpers';

// PruningSummaries' scalars from a 2-epoch tfmot 0.8.1 run (see its `versions` field).
const tfmotSummaries = JSON.parse(readFileSync(new URL('./fixtures/pruning_summaries.json', import.meta.url), 'utf8')) as {
  runs: {metrics: Array<{tensors: Record<string, {events: Array<{step: number, value: number}>}>}>};
};

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-tb-'));
  tempDirs.push(dir);
  return dir;
}
function cleanUp(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, {recursive: true, force: true});
}

const mask = (crc: number) => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

async function writeAndRead(fill: (w: SummaryWriter) => void) {
  const dir = tempDir();
  const writer = new SummaryWriter(dir);
  fill(writer);
  await writer.close();
  const files = readdirSync(dir);
  assert.is(files.length, 1);
  assert.is(join(dir, files[0]), writer.filePath);
  return {path: writer.filePath!, events: await readEventFile(writer.filePath!)};
}

// ---

const crc = suite('maskedCrc32c');

crc('crc32c("123456789") = 0xe3069283, masked as TFRecord does', () => {
  const bytes = new TextEncoder().encode('123456789');
  assert.is(bitwiseCrc32c(bytes), 0xe3069283);
  assert.is(maskedCrc32c(bytes), mask(0xe3069283));
});

crc('equals an independent bitwise CRC-32C on random data of many lengths', () => {
  const r = rng(7);
  for (const n of [0, 1, 3, 8, 15, 16, 17, 255, 1000]) {
    const bytes = Uint8Array.from({length: n}, () => Math.floor(r() * 256));
    assert.is(maskedCrc32c(bytes), mask(bitwiseCrc32c(bytes)), `length ${n}`);
  }
});

crc.run();

// ---

const writer = suite('SummaryWriter');

writer.after.each(cleanUp);

writer('names the file events.out.tfevents.<secs>.<hostname>.<pid>.<counter>', async () => {
  const dir = tempDir();
  const before = Math.floor(Date.now() / 1000);
  const a = new SummaryWriter(dir), b = new SummaryWriter(dir);
  assert.is(a.filePath, undefined, 'no file before the first flush');
  await Promise.all([a.close(), b.close()]);
  const after = Math.floor(Date.now() / 1000);
  const names = readdirSync(dir).sort();
  assert.is(names.length, 2, 'two writers in the same second get two files');
  for (const name of names) {
    const m = /^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)$/.exec(name);
    assert.ok(m, name);
    assert.ok(Number(m[1]) >= before && Number(m[1]) <= after, `seconds ${m[1]}`);
    assert.is(m[2], hostname());
    assert.is(Number(m[3]), process.pid);
  }
  assert.is.not(a.filePath, b.filePath);
});

writer('the first record is exactly Event{wall_time, file_version: "brain.Event:2"}, framed with both CRCs', async () => {
  const {path, events} = await writeAndRead(() => undefined);
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const len = view.getUint32(0, true);
  assert.is(view.getUint32(4, true), 0);
  assert.is(len, 9 + 2 + 13);
  assert.is(bytes.length, 12 + len + 4);
  assert.is(view.getUint32(8, true), mask(bitwiseCrc32c(bytes.subarray(0, 8))));
  const data = bytes.subarray(12, 12 + len);
  assert.is(view.getUint32(12 + len, true), mask(bitwiseCrc32c(data)));
  assert.is(data[0], 0x09, 'field 1 (wall_time), fixed64');
  assert.is(data[9], 0x1a, 'field 3 (file_version), length-delimited');
  assert.is(data[10], 13);
  assert.is(new TextDecoder().decode(data.subarray(11)), 'brain.Event:2');
  assert.is(events.length, 1);
  assert.is(events[0].fileVersion, 'brain.Event:2');
  assert.ok(Math.abs(events[0].wallTime - Date.now() / 1000) < 60);
  assert.equal(events[0].values, []);
});

writer('scalars round trip: tfmot\'s PruningSummaries tags, float32 values, steps in order', async () => {
  const tensors = tfmotSummaries.runs.metrics[0].tensors;
  const expected: Array<[string, number, number]> = [];
  for (const [tag, {events}] of Object.entries(tensors)) {
    for (const e of events) expected.push([tag, e.value, e.step]);
  }
  expected.push(['loss', 0.1, 7], ['big_step', -2.5, 2 ** 40], ['negative_step', NaN, -3]);
  const {events} = await writeAndRead(w => { for (const [tag, v, s] of expected) w.scalar(tag, v, s); });
  assert.is(events.length, expected.length + 1);
  events.slice(1).forEach((e, i) => {
    const [tag, value, step] = expected[i];
    assert.is(e.fileVersion, undefined);
    assert.is(e.step, step);
    assert.is(e.values.length, 1);
    assert.is(e.values[0].tag, tag);
    assert.ok(Object.is(e.values[0].simpleValue, Math.fround(value)), `${tag}: ${e.values[0].simpleValue}`);
    assert.is(e.values[0].histo, undefined);
  });
});

writer('kerasModel writes Keras\'s graph_keras_model summary: a string tensor with its plugin, encoded as TensorFlow does', async () => {
  const json = JSON.stringify({class_name: 'Sequential', config: {name: 'm', layers: []}, keras_version: 'tfjs-layers 4.22.0'});
  const {path, events} = await writeAndRead(w => w.kerasModel(json));
  assert.is(events.length, 2);
  assert.is(events[1].step, 0);
  assert.equal(events[1].values, [{tag: 'keras', stringTensor: json, metadata: {pluginName: 'graph_keras_model', content: '1'}}]);
  // The record's Summary, field by field (summary.proto, tensor.proto, tensor_shape.proto): Value{tag=1,
  // tensor=8: TensorProto{dtype=1: DT_STRING (7), tensor_shape=2: {}, string_val=8}, metadata=9:
  // SummaryMetadata{plugin_data=1: {plugin_name=1, content=2}}}.
  const value = Writer.create();
  value.uint32((1 << 3) | 2).string('keras');
  value.uint32((8 << 3) | 2).fork().uint32((1 << 3) | 0).int32(7).uint32((2 << 3) | 2).fork().ldelim()
      .uint32((8 << 3) | 2).string(json).ldelim();
  value.uint32((9 << 3) | 2).fork().uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string('graph_keras_model')
      .uint32((2 << 3) | 2).string('1').ldelim().ldelim();
  const summary = Writer.create().uint32((1 << 3) | 2).bytes(value.finish()).finish();
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const second = 12 + view.getUint32(0, true) + 4;
  const data = bytes.subarray(second + 12, second + 12 + view.getUint32(second, true));
  // Event{wall_time=1 (9 bytes), summary=5}: step 0 is omitted, as proto3 omits defaults.
  assert.is(data[9], (5 << 3) | 2);
  assert.equal(Array.from(data.subarray(data.length - summary.length)), Array.from(summary));
  const closed = new SummaryWriter(tempDir());
  await closed.close();
  assert.throws(() => closed.kerasModel(json), /closed/);
  assert.throws(() => new SummaryWriter(tempDir()).kerasModel({} as string), /kerasModel\('keras'\): json must be a string, but got object/);
});

writer('histograms round trip', async () => {
  const values = normal(1000, 3);
  const {events} = await writeAndRead(w => {
    w.histogram('weights/kernel', values, 5);
    w.histogram('weights/list', [0, 1, 1, -2], 6);
  });
  assert.is(events.length, 3);
  assert.equal(events[1].values[0], {tag: 'weights/kernel', histo: histogramOf(values)});
  assert.is(events[1].step, 5);
  assert.equal(events[2].values[0].histo, histogramOf([0, 1, 1, -2]));
});

writer('flushes append in call order, even when not awaited', async () => {
  const dir = tempDir();
  const w = new SummaryWriter(dir);
  const flushes: Array<Promise<void>> = [];
  for (let step = 1; step <= 20; step++) {
    w.scalar('s', step, step);
    flushes.push(w.flush());
  }
  await Promise.all(flushes);
  await w.flush();  // nothing queued: no-op
  await w.close();
  await w.close();
  const events = await readEventFile(w.filePath!);
  assert.equal(events.slice(1).map(e => e.step), Array.from({length: 20}, (_, i) => i + 1));
});

writer('a failed write keeps its records for the next flush', async () => {
  const dir = join(tempDir(), 'logs');
  writeFileSync(dir, 'a file where the log directory should be');
  const w = new SummaryWriter(dir);
  w.scalar('a', 1, 1);
  try {
    await w.flush();
    assert.unreachable('flush should fail');
  } catch (e) {
    assert.match((e as Error).message, /EEXIST|ENOTDIR/);
  }
  rmSync(dir);
  w.scalar('b', 2, 2);
  await w.close();
  const events = await readEventFile(w.filePath!);
  assert.equal(events.map(e => e.fileVersion ?? e.values[0].tag), ['brain.Event:2', 'a', 'b']);
});

writer('bad arguments give clear errors', async () => {
  assert.throws(() => new SummaryWriter(''), /SummaryWriter: logDir must be a non-empty string, but got ''/);
  assert.throws(() => new SummaryWriter(undefined as never), /logDir must be a non-empty string, but got undefined/);
  const w = new SummaryWriter(tempDir());
  assert.throws(() => w.scalar('', 1, 1), /SummaryWriter\.scalar: tag must be a non-empty string/);
  assert.throws(() => w.scalar('t', 1, 1.5), /SummaryWriter\.scalar\('t'\): step must be an integer, but got 1\.5/);
  assert.throws(() => w.scalar('t', '1' as never, 1), /value must be a number, but got string/);
  assert.throws(() => w.histogram('h', [1, NaN], 1), /Histogram 'h': values must be finite numbers, but value 1 is NaN/);
  assert.throws(() => w.histogram('h', new Float64Array(2) as never, 1), /values must be a Float32Array or number\[\]/);
  await w.close();
  assert.throws(() => w.scalar('t', 1, 1), /SummaryWriter\.scalar: the writer for '.*' is closed/);
});

writer.run();

// ---

const hist = suite('histogramOf');

hist('every value lands in [previous limit, limit), counts total n, empty runs merged (TF\'s encoding)', () => {
  const r = rng(11);
  const cases: Array<[string, number[]]> = [
    ['normal', Array.from(normal(500, 1))],
    ['ties_and_zeros', Array.from({length: 300}, () => Math.floor(r() * 5) - 2)],
    ['huge_tiny', Array.from({length: 300}, () => (r() < 0.5 ? -1 : 1) * 10 ** (r() * 60 - 30))],
    ['extremes', [Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300, -1e-300, 0, -0]],
  ];
  for (const [name, values] of cases) {
    const h = histogramOf(values);
    assert.is(h.num, values.length, name);
    assert.is(h.min, Math.min(...values), name);
    assert.is(h.max, Math.max(...values), name);
    assert.is(h.sum, values.reduce((a, b) => a + b, 0), name);
    assert.is(h.bucket.reduce((a, b) => a + b, 0), values.length, name);
    assert.is(h.bucketLimit.length, h.bucket.length);
    for (let i = 0; i < h.bucket.length; i++) {
      const lo = i === 0 ? -Infinity : h.bucketLimit[i - 1];
      const last = i === h.bucket.length - 1;  // the last bucket also holds DBL_MAX itself
      const inside = values.filter(v => v >= lo && (v < h.bucketLimit[i] || (last && v === h.bucketLimit[i]))).length;
      assert.is(h.bucket[i], inside, `${name} bucket ${i} [${lo}, ${h.bucketLimit[i]})`);
      if (i > 0) assert.ok(h.bucket[i] > 0 || h.bucket[i - 1] > 0, `${name}: empty buckets ${i - 1}, ${i} not merged`);
      if (i > 0) assert.ok(h.bucketLimit[i] > h.bucketLimit[i - 1]);
    }
  }
});

hist('uses TF\'s default limits: 0, ±1e-12 growing by 10%, ±DBL_MAX', () => {
  const h = histogramOf([0, 1e-12, 1.05e-12, 2e30]);
  // 0 -> [0, 1e-12); 1e-12 and 1.05e-12 -> [1e-12, 1.1e-12); 2e30 -> [last limit below 1e20.., DBL_MAX).
  const nonEmpty = h.bucketLimit.filter((_, i) => h.bucket[i] > 0);
  assert.equal(nonEmpty, [1e-12, 1e-12 * 1.1, Number.MAX_VALUE]);
  assert.equal(h.bucket.filter(c => c > 0), [1, 2, 1]);
});

hist('an empty histogram is TF\'s: min DBL_MAX, max -DBL_MAX, one empty bucket', () => {
  assert.equal(histogramOf([]), {min: Number.MAX_VALUE, max: -Number.MAX_VALUE, num: 0, sum: 0, sumSquares: 0,
    bucketLimit: [Number.MAX_VALUE], bucket: [0]});
});

hist.run();

// ---

const reader = suite('readEventFile / decodeEventFile');

reader.after.each(cleanUp);

reader('a flipped byte anywhere is detected, naming the file and the record', async () => {
  const {path} = await writeAndRead(w => { w.scalar('a', 1, 1); w.scalar('b', 2, 2); });
  const good = new Uint8Array(readFileSync(path));
  const firstLength = 12 + new DataView(good.buffer, good.byteOffset).getUint32(0, true) + 4;
  const secondLength = 12 + new DataView(good.buffer, good.byteOffset).getUint32(firstLength, true) + 4;
  const cases: Array<[number, RegExp]> = [
    [0, /record 0 \(at byte 0\) has a bad length CRC/],
    [9, /record 0 \(at byte 0\) has a bad length CRC/],
    [15, /record 0 \(at byte 0\) has a bad data CRC/],
    [firstLength - 1, /record 0 \(at byte 0\) has a bad data CRC/],
    [firstLength + 3, new RegExp(`record 1 \\(at byte ${firstLength}\\) has a bad length CRC`)],
    [firstLength + 20, /record 1 .*has a bad data CRC/],
    [firstLength + secondLength + 14, /record 2 .*has a bad data CRC/],
  ];
  for (const [offset, pattern] of cases) {
    const bad = good.slice();
    bad[offset] ^= 0x10;
    const badPath = path + '.bad';
    writeFileSync(badPath, bad);
    try {
      await readEventFile(badPath);
      assert.unreachable(`flip at ${offset} not detected`);
    } catch (e) {
      assert.match((e as Error).message, pattern, `flip at ${offset}`);
      assert.ok((e as Error).message.startsWith(badPath + ': '), (e as Error).message);
    }
  }
});

reader('reads a file written by TensorBoard 2.21.0\'s own EventFileWriter', async () => {
  // Fixture made with tensorboard.summary.writer.event_file_writer.EventFileWriter: for s in 0..2,
  // Event(wall_time=1700000000.5 + s, step=10 s, summary=[Value(tag='prune_low_magnitude_dense/mask:0/sparsity',
  // simple_value=0.25 s), Value(tag='weights/kernel', histo=HistogramProto(min=-1.5, max=2, num=3, sum=0.5,
  // sum_squares=6.25, bucket_limit=[-1.4, 0, 2.2], bucket=[1, 0, 2]))]).
  const events = await readEventFile(new URL('./fixtures/tensorboard-2.21.0-event-file-writer.tfevents', import.meta.url).pathname);
  assert.is(events.length, 4);
  assert.is(events[0].fileVersion, 'brain.Event:2');
  const histo = {min: -1.5, max: 2, num: 3, sum: 0.5, sumSquares: 6.25, bucketLimit: [-1.4, 0, 2.2], bucket: [1, 0, 2]};
  for (let s = 0; s < 3; s++) {
    assert.equal(events[s + 1], {wallTime: 1700000000.5 + s, step: 10 * s, values: [
      {tag: 'prune_low_magnitude_dense/mask:0/sparsity', simpleValue: 0.25 * s}, {tag: 'weights/kernel', histo}]});
  }
});

reader('TensorBoard 2.21.0\'s event file decodes and encodes back to the same bytes (the schema is TensorFlow\'s)', () => {
  const tf = new Uint8Array(readFileSync(new URL('./fixtures/tensorboard-2.21.0-event-file-writer.tfevents', import.meta.url)));
  const events = decodeEventFile(tf);
  const ours = encodeEventFile(events);
  const frames = (bytes: Uint8Array) => {
    const out: Uint8Array[] = [];
    for (let pos = 0; pos < bytes.length;) {
      const end = pos + 12 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(pos, true) + 4;
      out.push(bytes.subarray(pos, end));
      pos = end;
    }
    return out;
  };
  const [tfFirst, ...tfSummaries] = frames(tf);
  const [ourFirst, ...ourSummaries] = frames(ours);
  // Summary events: every byte, CRCs included (TF omits step 0 and keeps simple_value 0.0, as proto3 does).
  assert.is(ourSummaries.length, 3);
  ourSummaries.forEach((frame, i) => assert.equal(Array.from(frame), Array.from(tfSummaries[i]), `event ${i + 1}`));
  // The file-version event: TF's writer adds Event.source_metadata (field 10, naming its writer), which
  // ours does not write; the fields before it are the same bytes.
  const ourData = ourFirst.subarray(12, ourFirst.length - 4);
  const tfData = tfFirst.subarray(12, tfFirst.length - 4);
  assert.equal(Array.from(tfData.subarray(0, ourData.length)), Array.from(ourData));
  assert.is(tfData[ourData.length], (10 << 3) | 2);
  assert.equal(decodeEventFile(ours), events);
  assert.equal(encodeEventFile([]), new Uint8Array(0));
});

reader('a truncated file is detected', () => {
  const w = Writer.create();
  w.uint32(0x09).double(1);
  const data = w.finish();
  const frame = new Uint8Array(12 + data.length + 4);
  const view = new DataView(frame.buffer);
  view.setUint32(0, data.length, true);
  view.setUint32(8, maskedCrc32c(frame.subarray(0, 8)), true);
  frame.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  assert.equal(decodeEventFile(frame).map(e => e.wallTime), [1]);
  assert.throws(() => decodeEventFile(frame.subarray(0, frame.length - 1), 'f'),
      /^f: record 0 \(at byte 0\) is truncated: its header says 9 data bytes, 8 are present$/);
  const two = new Uint8Array(frame.length + 5);
  two.set(frame);
  assert.throws(() => decodeEventFile(two, 'f'), /^f: record 1 \(at byte 25\) is truncated: 5 bytes left, a frame header needs 12$/);
  assert.equal(decodeEventFile(new Uint8Array(0)), []);
});

reader('unknown fields are skipped and garbage inside a valid frame is reported', () => {
  const frame = (data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length + 4);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length, true);
    view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
    out.set(data, 12);
    view.setUint32(12 + data.length, maskedCrc32c(data), true);
    return out;
  };
  const w = Writer.create();
  w.uint32(0x09).double(2.5);
  w.uint32((4 << 3) | 2).bytes(new Uint8Array([1, 2, 3]));  // graph_def
  w.uint32((2 << 3) | 0).int64(42);
  w.uint32((5 << 3) | 2).fork().uint32((1 << 3) | 2).fork()
      .uint32((7 << 3) | 2).string('node')  // node_name
      .uint32((1 << 3) | 2).string('t').uint32((2 << 3) | 5).float(0.5).ldelim().ldelim();
  assert.equal(decodeEventFile(frame(w.finish())), [{wallTime: 2.5, step: 42, values: [{tag: 't', simpleValue: 0.5}]}]);
  assert.throws(() => decodeEventFile(frame(new Uint8Array([0x0a, 0x05, 0x01])), 'g'),
      /^g: record 0 \(at byte 0\) is not a valid Event message/);
});

reader('a missing file gives the path', async () => {
  try {
    await readEventFile('/nonexistent/dir/events.out.tfevents.0');
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /ENOENT.*\/nonexistent\/dir\/events\.out\.tfevents\.0/);
  }
});

reader.run();
