import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {bytesOf, crc32c} from '../src/util/crc32c';
import {bitwiseCrc32c as reference, rng} from './helpers';

const crc = suite('crc32c');

crc('crc32c("123456789") is the CRC-32C check value 0xE3069283, and of no bytes 0', () => {
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.is(crc32c(new Uint8Array(0)), 0);
});

crc('crc32c(bytes) equals a bitwise CRC-32C for every length 0..80 and offset 0..7, and long buffers', () => {
  const r = rng(7);
  const data = Uint8Array.from({length: 1 << 16}, () => Math.floor(r() * 256));
  for (let offset = 0; offset < 8; offset++) {
    for (let n = 0; n <= 80; n++) {
      const part = data.subarray(offset, offset + n);
      assert.is(crc32c(part), reference(part), `offset ${offset}, length ${n}`);
    }
  }
  for (const n of [1000, 4097, 1 << 16]) assert.is(crc32c(data.subarray(0, n)), reference(data.subarray(0, n)), `length ${n}`);
});

crc('crc32c returns an unsigned 32-bit integer, also for checksums with the top bit set', () => {
  // 'a' checksums to 0xC1D04330 (a negative int32 inside the library).
  const a = crc32c(new TextEncoder().encode('a'));
  assert.is(a, 0xc1d04330);
  assert.is(crc32c(new TextEncoder().encode('b'), a), crc32c(new TextEncoder().encode('ab')));
});

crc('crc32c(b, crc32c(a)) is the checksum of a followed by b', () => {
  const r = rng(8);
  const data = Uint8Array.from({length: 3001}, () => Math.floor(r() * 256));
  for (const cut of [0, 1, 7, 8, 1000, 3001]) {
    assert.is(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data), `cut at ${cut}`);
  }
});

crc('every single-bit flip of a buffer changes its checksum', () => {
  const data = Uint8Array.from({length: 64}, (_, i) => i * 37);
  const good = crc32c(data);
  for (let bit = 0; bit < data.length * 8; bit++) {
    data[bit >> 3] ^= 1 << (bit & 7);
    assert.is.not(crc32c(data), good, `bit ${bit}`);
    data[bit >> 3] ^= 1 << (bit & 7);
  }
});

crc('bytesOf(view) sees exactly the view\'s bytes, without copying', () => {
  const words = Int32Array.from([1, 2, 3, 4]);
  const view = bytesOf(words.subarray(1, 3));
  assert.equal(Array.from(view), [2, 0, 0, 0, 3, 0, 0, 0]);
  assert.is(view.buffer, words.buffer);
  assert.is(bytesOf(words.buffer).length, 16);
});

crc.run();
