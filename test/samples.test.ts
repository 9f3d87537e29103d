import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {dump} from 'npyjs';
import {loadSamples, readNpy} from '../src/cli/samples';
import {useBackend} from './helpers';

let dir = '';
const samples = suite('loadSamples and readNpy');
samples.before(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-npy-'));
});
samples.after(() => rmSync(dir, {recursive: true, force: true}));

samples('MNIST digits are shaped to the model input: [n,28,28,1] for a CNN, [n,784] for an MLP', () => {
  const cnn = loadSamples('mnist', [28, 28, 1], 5, '--data');
  const mlp = loadSamples('mnist', [784], 5, '--data');
  assert.equal(cnn.shape, [5, 28, 28, 1]);
  assert.equal(mlp.shape, [5, 784]);
  assert.equal(cnn.dataSync(), mlp.dataSync());
  assert.ok(cnn.dataSync().every(v => v >= 0 && v <= 1));
  tf.dispose([cnn, mlp]);
  assert.throws(() => loadSamples('mnist', [32, 32, 3], 5, '--data'), /--data: each sample of 'mnist' has shape \[28,28,1\], but the model takes \[32,32,3\]/);
});

samples('.npy files of float64 and uint8 become float32 as they are; the first count samples', () => {
  const f64 = join(dir, 'f64.npy'), u8 = join(dir, 'u8.npy');
  writeFileSync(f64, Buffer.from(dump(Float64Array.from({length: 12}, (_, i) => i / 4), [4, 3])));
  writeFileSync(u8, Buffer.from(dump(Uint8Array.from({length: 12}, (_, i) => 250 + (i % 6)), [4, 3])));
  assert.equal(readNpy(f64, '--x').shape, [4, 3]);
  const a = loadSamples(f64, [3], 2, '--calibration');
  assert.equal(a.shape, [2, 3]);
  assert.equal(Array.from(a.dataSync()), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  const b = loadSamples(u8, [3], undefined, '--calibration');
  assert.equal(Array.from(b.dataSync()).slice(0, 7), [250, 251, 252, 253, 254, 255, 250]);
  const c = loadSamples(u8, [null as unknown as number], undefined, '--calibration');
  assert.equal(c.shape, [4, 3], 'null dimensions come from the data');
  tf.dispose([a, b, c]);
  writeFileSync(join(dir, 'bad.npy'), 'not a numpy file');
  assert.throws(() => readNpy(join(dir, 'bad.npy'), '--calibration'), /--calibration: '.*bad\.npy' is not a valid \.npy file/);
  writeFileSync(join(dir, 'i64.npy'), Buffer.from(dump(BigInt64Array.of(1n, 2n), [2])));
  assert.throws(() => readNpy(join(dir, 'i64.npy'), '--calibration'), /dtype i8; use float32, float64 or an integer type up to 32 bits/);
});

samples.run();
