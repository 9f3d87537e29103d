// How the kernels split their work between threads (src/kernels/splits.ts): ranges that cover the
// work, aligned to the kernels' tiles, never empty; by nonzeros, never through a row.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {evenSplits, nonzeroSplits} from '../src/kernels/splits';
import {rng} from './helpers';

const splits = suite('evenSplits / nonzeroSplits');

splits('evenSplits(count, parts, align) covers [0, count) in aligned, non-empty ranges', () => {
  assert.equal(evenSplits(100, 2, 16), [0, 48, 100]);
  assert.equal(evenSplits(64, 2, 16), [0, 32, 64]);
  assert.equal(evenSplits(10, 4, 4), [0, 4, 8, 10]);
  assert.equal(evenSplits(3, 2, 4), [0, 3], 'one unit: one range');
  assert.equal(evenSplits(0, 2), [0, 0]);
  for (let count = 1; count < 80; count++) {
    for (const parts of [1, 2, 3, 5]) {
      for (const align of [1, 2, 4, 16]) {
        const b = evenSplits(count, parts, align);
        assert.is(b[0], 0);
        assert.is(b[b.length - 1], count);
        assert.ok(b.length - 1 <= parts);
        for (let i = 1; i < b.length; i++) {
          assert.ok(b[i] > b[i - 1], `empty range in ${b}`);
          if (i < b.length - 1) assert.is(b[i] % align, 0);
        }
      }
    }
  }
});

splits('nonzeroSplits(rowPtr, parts) balances nonzeros, never splits a row, never yields an empty range', () => {
  assert.equal(nonzeroSplits(Int32Array.from([0, 10, 20, 30, 40]), 2), [0, 2, 4]);
  assert.equal(nonzeroSplits(Int32Array.from([0, 100, 101, 102]), 2), [0, 1, 3]);
  assert.equal(nonzeroSplits(Int32Array.from([0, 5]), 3), [0, 1]);
  const r = rng(5);
  for (let t = 0; t < 50; t++) {
    const rows = 1 + Math.floor(r() * 30);
    const rowPtr = new Int32Array(rows + 1);
    for (let i = 0; i < rows; i++) rowPtr[i + 1] = rowPtr[i] + Math.floor(r() * 10);
    const b = nonzeroSplits(rowPtr, 1 + Math.floor(r() * 4));
    assert.is(b[0], 0);
    assert.is(b[b.length - 1], rows);
    for (let i = 1; i < b.length; i++) assert.ok(b[i] > b[i - 1]);
  }
});

splits.run();
