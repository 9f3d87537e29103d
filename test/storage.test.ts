import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {checkScales, chooseBlockSize, choosePositionCoding, decodePositions, decodeWeight, encodePositions,
  encodeWeight, int8ToWords, StorageError, StorageLayout, storedBlocks, storedBytes, wordsToInt8}
  from '../src/sparse/storage';
import {blockSparseWeight} from './helpers';

const SHAPES: Array<[string, [number, number]]> = [
  ['k_eq_1', [1, 9]], ['n_eq_1', [13, 1]], ['one', [1, 1]], ['odd', [17, 33]], ['tail', [35, 20]], ['square', [64, 64]],
];
const BLOCKS: Array<[number, number]> = [[1, 1], [1, 4], [1, 16], [2, 2], [4, 4], [3, 5]];
const SPARSITIES = [0, 0.5, 0.8, 0.95, 1];

const encode = suite('encodeWeight / decodeWeight');

encode('round trip is exact for float32 over shapes, blocks and sparsities', () => {
  let cases = 0;
  for (const [name, [K, N]] of SHAPES) {
    for (const block of BLOCKS) {
      if (block[0] > K || block[1] > N) continue;
      for (const s of SPARSITIES) {
        const w = blockSparseWeight(K, N, block, s, K * 31 + N + s * 100);
        const stored = encodeWeight(w, [K, N], block, 'float32');
        const blocks = decodePositions(stored.positions, stored);
        const back = decodeWeight(blocks, stored, stored.values);
        assert.equal(Array.from(back), Array.from(w), `${name} [${K}, ${N}] block ${block} sparsity ${s}`);
        assert.is(stored.values.length, stored.storedValues);
        assert.is(storedBytes(stored), 4 * stored.positionWords + 4 * stored.storedValues);
        cases++;
      }
    }
  }
  assert.ok(cases > 100);
});

encode('int8 dequantizes within half a scale step, per output channel', () => {
  for (const [name, [K, N]] of SHAPES) {
    for (const block of [[1, 1], [1, 4], [2, 2]] as Array<[number, number]>) {
      if (block[0] > K || block[1] > N) continue;
      for (const s of [0, 0.8, 1]) {
        const w = blockSparseWeight(K, N, block, s, K + N);
        const stored = encodeWeight(w, [K, N], block, 'int8');
        assert.ok(stored.values instanceof Int8Array);
        assert.is(stored.scales!.length, N);
        const back = decodeWeight(decodePositions(stored.positions, stored), stored, stored.values, stored.scales);
        for (let i = 0; i < K * N; i++) {
          const scale = stored.scales![i % N];
          assert.ok(Math.abs(back[i] - w[i]) <= scale / 2 * (1 + 1e-6), `${name} block ${block} s=${s} entry ${i}`);
          if (w[i] === 0) assert.is(back[i], 0);
        }
        for (let n = 0; n < N; n++) {
          let amax = 0;
          for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(w[k * N + n]));
          assert.is(stored.scales![n], Math.fround(amax / 127), `scale of column ${n}`);
        }
      }
    }
  }
});

encode('int8 refuses NaN and Infinity', () => {
  assert.throws(() => encodeWeight(new Float32Array([1, NaN]), [1, 2], [1, 1], 'int8'),
      (e: unknown) => e instanceof StorageError && /must be finite, but w\[0, 1\] = NaN/.test((e as Error).message));
  assert.throws(() => encodeWeight(new Float32Array([Infinity, 0]), [2, 1], [1, 1], 'int8'), /w\[0, 0\] = Infinity/);
});

encode('float32 keeps NaN, Infinity, -0 and subnormals bit for bit', () => {
  const w = new Float32Array([NaN, 0, -Infinity, 1e-40, Infinity, -0]);
  const stored = encodeWeight(w, [2, 3], [1, 1], 'float32');
  assert.is(stored.nonzeroBlocks, 4);
  const back = decodeWeight(decodePositions(stored.positions, stored), stored, stored.values);
  assert.ok(Number.isNaN(back[0]));
  assert.equal(Array.from(back.subarray(1)), [0, -Infinity, Math.fround(1e-40), Infinity, 0]);
});

encode.run();

// ---

const coding = suite('choosePositionCoding / encodePositions / decodePositions');

coding('both codings decode to the same blocks; the shorter one is chosen', () => {
  for (const s of [0, 0.3, 0.5, 0.8, 0.9, 0.99, 1]) {
    const w = blockSparseWeight(40, 50, [1, 1], s, 7);
    const blocks = storedBlocks(w, [40, 50], [1, 1]);
    const chosen = choosePositionCoding(blocks, 2000);
    for (const [codingName, p] of [['bitmap', 0], ['rice', 0], ['rice', 2], ['rice', 5]] as const) {
      const bits = codingName === 'bitmap' ? 2000 : (() => {
        let b = 0, prev = -1;
        for (const x of blocks) { b += Math.floor((x - prev - 1) / 2 ** p) + 1 + p; prev = x; }
        return b;
      })();
      const layout: StorageLayout = {shape: [40, 50], blockSize: [1, 1], dtype: 'float32', coding: codingName,
        riceParameter: p, nonzeroBlocks: blocks.length, storedValues: blocks.length, positionWords: Math.ceil(bits / 32)};
      const words = encodePositions(blocks, codingName, p, layout.positionWords);
      assert.equal(Array.from(decodePositions(words, layout)), Array.from(blocks), `${codingName}(${p}) s=${s}`);
      assert.ok(chosen.positionWords <= layout.positionWords, `chosen coding is not longer than ${codingName}(${p})`);
    }
    if (s >= 0.8) assert.is(chosen.coding, 'rice', `s=${s}`);
    if (s === 0) assert.is(chosen.coding, 'bitmap');
  }
});

coding('Rice at 80 % unstructured sparsity costs under 0.8 bit per weight', () => {
  const w = blockSparseWeight(500, 400, [1, 1], 0.8, 3);
  const stored = encodeWeight(w, [500, 400], [1, 1], 'float32');
  assert.is(stored.coding, 'rice');
  assert.ok(stored.positionWords * 32 / (500 * 400) < 0.8, `${stored.positionWords * 32 / 2e5} bits per weight`);
});

const layoutOf = (w: Float32Array, shape: [number, number], block: [number, number]) => encodeWeight(w, shape, block, 'float32');

coding('decodePositions refuses corrupt bitmaps', () => {
  const w = blockSparseWeight(8, 8, [1, 1], 0.1, 5);
  const stored = layoutOf(w, [8, 8], [1, 1]);
  assert.is(stored.coding, 'bitmap');
  assert.throws(() => decodePositions(new Int32Array(3), stored), /bitmap has 3 words, but 64 blocks need 2/);
  const extra = stored.positions.slice();
  const missing = Array.from({length: 64}, (_, b) => b).find(b => !((extra[b >>> 5] >>> (b & 31)) & 1))!;
  extra[missing >>> 5] |= 1 << (missing & 31);
  assert.throws(() => decodePositions(extra, stored), /bitmap marks more than \d+ blocks/);
  assert.throws(() => decodePositions(stored.positions, {...stored, nonzeroBlocks: stored.nonzeroBlocks + 1}),
      /positions list \d+ blocks, but the config says \d+/);
  assert.throws(() => decodePositions(stored.positions, {...stored, storedValues: stored.storedValues - 1}),
      /hold \d+ entries, but the config says \d+ values/);
  const odd = layoutOf(blockSparseWeight(5, 5, [1, 1], 0, 1), [5, 5], [1, 1]);
  const stray = odd.positions.slice();
  stray[0] |= 1 << 30;
  assert.throws(() => decodePositions(stray, odd), /stray bits after the last block \(bit 30\)/);
});

coding('decodePositions refuses corrupt Rice streams', () => {
  const w = blockSparseWeight(30, 40, [1, 1], 0.9, 9);
  const stored = layoutOf(w, [30, 40], [1, 1]);
  assert.is(stored.coding, 'rice');
  assert.throws(() => decodePositions(stored.positions.slice(0, -1), stored), /end after \d+ of \d+ blocks|take \d+ words/);
  assert.throws(() => decodePositions(new Int32Array(stored.positionWords).fill(-1), stored), /end after|outside the 1200 blocks/);
  const longer = new Int32Array(stored.positionWords + 1);
  longer.set(stored.positions);
  assert.throws(() => decodePositions(longer, stored), /take \d+ words, but \d+ are stored/);
  assert.throws(() => decodePositions(stored.positions, {...stored, nonzeroBlocks: stored.nonzeroBlocks - 1}),
      /stray bits|hold \d+ entries/);
  // A gap that jumps past the last block.
  const far = encodePositions(new Int32Array([5000]), 'rice', 12, 1);
  assert.throws(() => decodePositions(far, {...stored, riceParameter: 12, nonzeroBlocks: 1, storedValues: 1, positionWords: 1}),
      /stored block 0 has index 5000, outside the 1200 blocks/);
});

coding.run();

// ---

const words = suite('int8ToWords / wordsToInt8 / checkScales');

words('round trip, with padding checked', () => {
  for (const n of [0, 1, 3, 4, 5, 17]) {
    const q = Int8Array.from({length: n}, (_, i) => ((i * 37) % 255) - 127);
    const w = int8ToWords(q);
    assert.is(w.length, Math.ceil(n / 4));
    assert.equal(Array.from(wordsToInt8(w, n)), Array.from(q));
  }
  const w = int8ToWords(new Int8Array([1, 2, 3]));
  assert.throws(() => wordsToInt8(w, 2), /padding bytes after the 2 int8 values are not zero/);
  assert.throws(() => wordsToInt8(w, 9), /9 int8 values take 3 words, but 1 are stored/);
  assert.throws(() => wordsToInt8(int8ToWords(new Int8Array([5, -128])), 2), /\[-127, 127\], but value 1 is -128/);
  assert.throws(() => checkScales(new Float32Array([1, NaN])), /scales\[1\] = NaN/);
  assert.throws(() => checkScales(new Float32Array([-1])), /scales\[0\] = -1/);
  checkScales(new Float32Array([0, 1e-30, 3]));
});

words.run();

// ---

const choose = suite('chooseBlockSize');

choose('finds the block structure of a pruned weight, 1x1 for unstructured', () => {
  assert.equal(chooseBlockSize(blockSparseWeight(64, 64, [1, 16], 0.9, 1), [64, 64], 'float32'), [1, 16]);
  assert.equal(chooseBlockSize(blockSparseWeight(64, 64, [4, 4], 0.8, 2), [64, 64], 'float32'), [4, 4]);
  assert.equal(chooseBlockSize(blockSparseWeight(64, 64, [1, 1], 0.8, 3), [64, 64], 'float32'), [1, 1]);
  assert.equal(chooseBlockSize(blockSparseWeight(64, 64, [1, 1], 0.8, 3), [64, 64], 'int8'), [1, 1]);
  // Candidates larger than the weight are skipped.
  const small = chooseBlockSize(blockSparseWeight(3, 2, [1, 1], 0.5, 4), [3, 2], 'float32');
  assert.ok(small[0] <= 3 && small[1] <= 2);
});

choose.run();
