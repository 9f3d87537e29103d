/**
 * The compact on-disk encoding of a block-sparse `[K, N]` weight (Keras `[in, out]`), as saved by
 * `SparseDense`. It is not the kernel layout (`format.ts`): disk wants few bytes, the kernels want
 * aligned strips. A weight is cut into `bh x bw` blocks, numbered row-major over the block grid
 * (`ceil(K / bh)` rows of `ceil(N / bw)` blocks); the stored ones are listed by
 * - `positions`: int32 words, either a bitmap (bit i of the little-endian bit stream is block i) or
 *   Golomb-Rice codes of the gaps between stored blocks (parameter `riceParameter`), whichever is
 *   shorter. At 80 % unstructured sparsity Rice needs about 0.74 bit per weight, a bitmap 1 bit.
 * - `values`: the in-range entries of each stored block, block by block, row-major inside a block
 *   (an edge block stores only its `min(bh, K - k0) x min(bw, N - n0)` entries); float32, or int8
 *   with symmetric per-output-channel `scales` (`w ≈ q · scales[n]`, |q| <= 127; `quantize.ts`).
 *
 * As tfjs weights: positions are an int32 weight; int8 values are packed 4 per int32 word
 * (`int8ToWords`), because tfjs weight dtypes are float32, int32, bool, string and complex64 only.
 * Its uint8 "quantization" of a float32 weight spec would also store 1 byte per value, but
 * `loadLayersModel` dequantizes it into a float32 variable, so the next `save` writes 4 bytes per
 * value and the int8 values are no longer exact; int32 words round-trip bit for bit.
 *
 * Decoding checks everything (word counts, stream ends, block indices in range, counts against the
 * layer config, int8 range, scales), so a corrupt artifact is refused with a message naming what is
 * wrong instead of reaching a kernel.
 */
import {DenseWeight, dequantize, Int8Weight, quantizeInt8, StoredDtype, WeightBlocks} from './quantize';

/** How the positions of stored blocks are encoded. */
export type PositionCoding = 'bitmap'|'rice';
export const VALID_POSITION_CODINGS: PositionCoding[] = ['bitmap', 'rice'];

/** The Rice parameters tried when encoding (gaps up to 2^31 need no more). */
export const MAX_RICE_PARAMETER = 30;

/** What the layer config must say about a stored weight; the weights themselves are checked against it. */
export interface StorageLayout extends WeightBlocks {
  coding: PositionCoding;
  /** Golomb-Rice parameter (bits of each gap's remainder); 0 for a bitmap. */
  riceParameter: number;
  /** Number of stored blocks. */
  nonzeroBlocks: number;
  /** Number of stored entries (in-range entries of the stored blocks). */
  storedValues: number;
  /** Length of `positions` in int32 words. */
  positionWords: number;
}

/** A weight in compact form: the layout plus its arrays. */
export interface StoredWeight extends StorageLayout {
  positions: Int32Array;
  /** Stored entries: float32, or int8 quantized values. */
  values: Float32Array|Int8Array;
  /** int8 only: `N` per-output-channel scales. */
  scales?: Float32Array;
}

/** The error thrown for a stored weight that does not decode; `what` says what is wrong. */
export class StorageError extends Error {
  constructor(readonly what: string) {
    super(what);
    this.name = 'StorageError';
  }
}

function gridOf(shape: [number, number], blockSize: [number, number]): {rows: number; cols: number; total: number} {
  const rows = Math.ceil(shape[0] / blockSize[0]), cols = Math.ceil(shape[1] / blockSize[1]);
  return {rows, cols, total: rows * cols};
}

/** Number of in-range entries of block `b` (row-major block index). */
function blockEntries(b: number, shape: [number, number], blockSize: [number, number], cols: number): number {
  const r = Math.floor(b / cols), c = b - r * cols;
  return Math.min(blockSize[0], shape[0] - r * blockSize[0]) * Math.min(blockSize[1], shape[1] - c * blockSize[1]);
}

/** The stored blocks of `w` (those with a nonzero entry; NaN counts as nonzero), ascending. */
export function storedBlocks(w: Float32Array, shape: [number, number], blockSize: [number, number]): Int32Array {
  const [K, N] = shape;
  const [bh, bw] = blockSize;
  const {cols, total} = gridOf(shape, blockSize);
  const kept = new Uint8Array(total);
  for (let k = 0; k < K; k++) {
    const base = Math.floor(k / bh) * cols;
    const row = k * N;
    for (let n = 0; n < N; n++) if (w[row + n] !== 0) kept[base + Math.floor(n / bw)] = 1;
  }
  let count = 0;
  for (let b = 0; b < total; b++) count += kept[b];
  const blocks = new Int32Array(count);
  for (let b = 0, i = 0; b < total; b++) if (kept[b]) blocks[i++] = b;
  return blocks;
}

/** Bits of the Rice codes of `blocks` with parameter `p`: per block, unary quotient + stop bit + p bits. */
function riceBits(blocks: Int32Array, p: number): number {
  let bits = 0, prev = -1;
  const div = 2 ** p;
  for (let i = 0; i < blocks.length; i++) {
    bits += Math.floor((blocks[i] - prev - 1) / div) + 1 + p;
    prev = blocks[i];
  }
  return bits;
}

/** The shortest position coding of `blocks` among a bitmap and every Rice parameter (a tie keeps the bitmap). */
export function choosePositionCoding(blocks: Int32Array, totalBlocks: number):
    {coding: PositionCoding; riceParameter: number; positionWords: number} {
  let best = {coding: 'bitmap' as PositionCoding, riceParameter: 0, positionWords: Math.ceil(totalBlocks / 32)};
  for (let p = 0; p <= MAX_RICE_PARAMETER; p++) {
    const words = Math.ceil(riceBits(blocks, p) / 32);
    if (words < best.positionWords) best = {coding: 'rice', riceParameter: p, positionWords: words};
  }
  return best;
}

/** Sets bits of a little-endian bit stream kept in 32-bit words. */
class BitWriter {
  readonly words: Int32Array;
  private bit = 0;
  constructor(words: number) {
    this.words = new Int32Array(words);
  }
  /** Writes `count` one bits. */
  ones(count: number): void {
    for (let i = 0; i < count; i++) this.put(1);
  }
  /** Writes the low `count` bits of `value`, least significant first. */
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.put(Math.floor(value / 2 ** i) % 2);
  }
  put(b: number): void {
    if (b) this.words[this.bit >>> 5] |= 1 << (this.bit & 31);
    this.bit++;
  }
}

/** Encodes the stored blocks' positions (ascending block indices). */
export function encodePositions(blocks: Int32Array, coding: PositionCoding, riceParameter: number,
                                positionWords: number): Int32Array {
  const out = new BitWriter(positionWords);
  if (coding === 'bitmap') {
    for (const b of blocks) out.words[b >>> 5] |= 1 << (b & 31);
    return out.words;
  }
  const div = 2 ** riceParameter;
  let prev = -1;
  for (const b of blocks) {
    const gap = b - prev - 1;
    out.ones(Math.floor(gap / div));
    out.put(0);
    out.bits(gap % div, riceParameter);
    prev = b;
  }
  return out.words;
}

/**
 * Decodes and checks `positions` against `layout`: every block index in range and ascending, the
 * count equal to `nonzeroBlocks`, the entries of those blocks equal to `storedValues`, no stray bits
 * and no extra words. Returns the stored blocks, ascending.
 * @throws StorageError naming what is wrong.
 */
export function decodePositions(positions: Int32Array, layout: StorageLayout): Int32Array {
  const {shape, blockSize, coding, riceParameter, nonzeroBlocks, storedValues} = layout;
  const {cols, total} = gridOf(shape, blockSize);
  const totalBits = positions.length * 32;
  const bitAt = (i: number) => (positions[i >>> 5] >>> (i & 31)) & 1;
  const blocks = new Int32Array(nonzeroBlocks);
  let count = 0, used = 0;
  if (coding === 'bitmap') {
    if (positions.length !== Math.ceil(total / 32)) {
      throw new StorageError(`the position bitmap has ${positions.length} words, but ${total} blocks need ` +
          `${Math.ceil(total / 32)}`);
    }
    for (let b = 0; b < total; b++) {
      if (!bitAt(b)) continue;
      if (count === nonzeroBlocks) throw new StorageError(`the position bitmap marks more than ${nonzeroBlocks} blocks`);
      blocks[count++] = b;
    }
    used = total;
  } else {
    const div = 2 ** riceParameter;
    let prev = -1;
    while (count < nonzeroBlocks) {
      let quotient = 0;
      while (used < totalBits && bitAt(used)) {
        quotient++;
        used++;
      }
      if (used + 1 + riceParameter > totalBits) {
        throw new StorageError(`the Rice-coded positions end after ${count} of ${nonzeroBlocks} blocks`);
      }
      used++;
      let remainder = 0;
      for (let i = 0; i < riceParameter; i++) remainder += bitAt(used++) * 2 ** i;
      const b = prev + 1 + quotient * div + remainder;
      if (b >= total) throw new StorageError(`stored block ${count} has index ${b}, outside the ${total} blocks`);
      blocks[count++] = b;
      prev = b;
    }
    if (positions.length !== Math.ceil(used / 32)) {
      throw new StorageError(`the Rice-coded positions take ${Math.ceil(used / 32)} words, but ` +
          `${positions.length} are stored`);
    }
  }
  for (let i = used; i < totalBits; i++) {
    if (bitAt(i)) throw new StorageError(`the positions have stray bits after the last block (bit ${i})`);
  }
  if (count !== nonzeroBlocks) {
    throw new StorageError(`the positions list ${count} blocks, but the config says ${nonzeroBlocks}`);
  }
  let entries = 0;
  for (let i = 0; i < count; i++) entries += blockEntries(blocks[i], shape, blockSize, cols);
  if (entries !== storedValues) {
    throw new StorageError(`the stored blocks hold ${entries} entries, but the config says ${storedValues} values`);
  }
  return blocks;
}

/** Calls `visit(index into W, index into values)` for every stored entry, in storage order. */
function forEachEntry(blocks: Int32Array, shape: [number, number], blockSize: [number, number],
                      visit: (w: number, v: number) => void): void {
  const [K, N] = shape;
  const [bh, bw] = blockSize;
  const {cols} = gridOf(shape, blockSize);
  let v = 0;
  for (let i = 0; i < blocks.length; i++) {
    const r = Math.floor(blocks[i] / cols), c = blocks[i] - r * cols;
    const k1 = Math.min(K, (r + 1) * bh), n0 = c * bw, n1 = Math.min(N, n0 + bw);
    for (let k = r * bh; k < k1; k++) {
      for (let n = n0; n < n1; n++) visit(k * N + n, v++);
    }
  }
}

/**
 * The int8 form of a weight to store (`quantize.ts`'s rule).
 * @throws StorageError if `w` holds NaN or ±Infinity.
 */
export function quantizeStored(w: Float32Array, shape: [number, number]): Int8Weight {
  return quantizeInt8(w, shape, entry => new StorageError(`int8 weights must be finite, but ${entry}`));
}

/**
 * Encodes a dense `[K, N]` float32 weight (row-major) compactly, storing the blocks of `blockSize`
 * that hold a nonzero entry, with the shortest position coding.
 * @throws StorageError for int8 weights holding NaN or ±Infinity.
 */
export function encodeWeight(w: Float32Array, shape: [number, number], blockSize: [number, number],
                             dtype: StoredDtype): StoredWeight {
  const blocks = storedBlocks(w, shape, blockSize);
  const {total, cols} = gridOf(shape, blockSize);
  let storedValues = 0;
  for (const b of blocks) storedValues += blockEntries(b, shape, blockSize, cols);
  const {coding, riceParameter, positionWords} = choosePositionCoding(blocks, total);
  const positions = encodePositions(blocks, coding, riceParameter, positionWords);
  const layout: StorageLayout = {shape, blockSize, dtype, coding, riceParameter, nonzeroBlocks: blocks.length,
    storedValues, positionWords};
  if (dtype === 'float32') {
    const values = new Float32Array(storedValues);
    forEachEntry(blocks, shape, blockSize, (i, v) => { values[v] = w[i]; });
    return {...layout, positions, values};
  }
  const {q, scales} = quantizeStored(w, shape);
  const values = new Int8Array(storedValues);
  forEachEntry(blocks, shape, blockSize, (i, v) => { values[v] = q[i]; });
  return {...layout, positions, values, scales};
}

/** Bytes of a stored weight on disk (positions, values in 32-bit words, scales). */
export function storedBytes(layout: StorageLayout): number {
  const valueBytes = layout.dtype === 'int8' ? 4 * Math.ceil(layout.storedValues / 4) : 4 * layout.storedValues;
  return 4 * layout.positionWords + valueBytes + (layout.dtype === 'int8' ? 4 * layout.shape[1] : 0);
}

/**
 * Checks int8 scales: finite and >= 0.
 * @throws StorageError naming the first bad scale.
 */
export function checkScales(scales: Float32Array): void {
  for (let n = 0; n < scales.length; n++) {
    if (!(Number.isFinite(scales[n]) && scales[n] >= 0)) {
      throw new StorageError(`scales must be finite and >= 0, but scales[${n}] = ${scales[n]}`);
    }
  }
}

/**
 * The dense `[K, N]` float32 weight (row-major) of a stored one: int8 entries dequantized as
 * `q · scales[n]`, entries outside stored blocks 0. `blocks` comes from `decodePositions`.
 */
export function decodeWeight(blocks: Int32Array, layout: StorageLayout, values: Float32Array|Int8Array,
                             scales?: Float32Array): Float32Array {
  return dequantize(decodeDense(blocks, layout, values, scales));
}

/**
 * The dense `[K, N]` weight (row-major) of a stored one in its stored value type: int8 entries are
 * not dequantized, so packing them for the int8 kernels quantizes nothing again. `blocks` comes from
 * `decodePositions`.
 */
function decodeDense(blocks: Int32Array, layout: StorageLayout, values: Float32Array|Int8Array,
                            scales?: Float32Array): DenseWeight {
  const [K, N] = layout.shape;
  const dense = scales ? new Int8Array(K * N) : new Float32Array(K * N);
  forEachEntry(blocks, layout.shape, layout.blockSize, (i, v) => { dense[i] = values[v]; });
  return scales ? {dtype: 'int8', values: dense as Int8Array, scales} : {dtype: 'float32', values: dense as Float32Array};
}

/**
 * The dense weight held by a stored weight's arrays as tfjs keeps them (`positions`, `values` as
 * float32 or as int8 in int32 words, and for int8 `scales`), checked against `layout`.
 * @throws StorageError naming what does not decode.
 */
export function decodeStored(layout: StorageLayout, positions: Int32Array, values: Float32Array|Int32Array,
                             scales?: Float32Array): DenseWeight {
  const blocks = decodePositions(positions, layout);
  if (layout.dtype === 'float32') return decodeDense(blocks, layout, values as Float32Array);
  checkScales(scales!);
  return decodeDense(blocks, layout, wordsToInt8(values as Int32Array, layout.storedValues), scales);
}

/** int8 values in int32 words (4 per word, little-endian, zero padded): tfjs weights have no int8 dtype. */
export function int8ToWords(values: Int8Array): Int32Array {
  const words = new Int32Array(Math.ceil(values.length / 4));
  new Int8Array(words.buffer).set(values);
  return words;
}

/**
 * The first `count` int8 values of int32 words, each in [-127, 127]; the padding bytes must be zero.
 * @throws StorageError for a wrong word count, a -128, or nonzero padding.
 */
export function wordsToInt8(words: Int32Array, count: number): Int8Array {
  if (words.length !== Math.ceil(count / 4)) {
    throw new StorageError(`${count} int8 values take ${Math.ceil(count / 4)} words, but ${words.length} are stored`);
  }
  const bytes = new Int8Array(words.buffer, words.byteOffset, words.length * 4);
  for (let i = count; i < bytes.length; i++) {
    if (bytes[i] !== 0) throw new StorageError(`the padding bytes after the ${count} int8 values are not zero`);
  }
  for (let i = 0; i < count; i++) {
    if (bytes[i] === -128) throw new StorageError(`int8 values must be in [-127, 127], but value ${i} is -128`);
  }
  return bytes.slice(0, count);
}

/** The block shapes `chooseBlockSize` compares (all that the kernels and pruning commonly use). */
const CANDIDATE_BLOCK_SIZES: ReadonlyArray<[number, number]> = [
  [1, 1], [1, 2], [2, 1], [1, 4], [4, 1], [2, 2], [1, 8], [8, 1], [1, 16], [16, 1], [2, 8], [4, 4], [4, 16],
];

/**
 * The block shape that stores `w` in the fewest bytes (exactly, including zeros kept inside stored
 * blocks); ties go to the larger block. A weight pruned in 1x16 blocks comes out as 1x16, an
 * unstructured one as 1x1.
 */
export function chooseBlockSize(w: Float32Array, shape: [number, number], dtype: StoredDtype): [number, number] {
  let best: [number, number] = [1, 1];
  let bestBytes = Infinity;
  for (const bs of CANDIDATE_BLOCK_SIZES) {
    if (bs[0] > shape[0] || bs[1] > shape[1]) continue;
    const blocks = storedBlocks(w, shape, bs);
    const {total, cols} = gridOf(shape, bs);
    let storedValues = 0;
    for (const b of blocks) storedValues += blockEntries(b, shape, bs, cols);
    const {coding, riceParameter, positionWords} = choosePositionCoding(blocks, total);
    const bytes = storedBytes({shape, blockSize: bs, dtype, coding, riceParameter, nonzeroBlocks: blocks.length,
      storedValues, positionWords});
    if (bytes < bestBytes || (bytes === bestBytes && bs[0] * bs[1] > best[0] * best[1])) {
      best = [bs[0], bs[1]];
      bestBytes = bytes;
    }
  }
  return best;
}
