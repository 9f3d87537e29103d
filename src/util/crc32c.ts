/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of saved weights files, of
 * sparse layers' stored arrays and of TensorBoard's TFRecord frames. The table walk is SheetJS's
 * `crc-32` (slicing-by-16, no dependencies): as fast as our former slicing-by-8 on 64 MiB (~600 MB/s,
 * where `@aws-crypto/crc32c` walked bytes through an iterator at ~50 MB/s), and small enough to go into
 * the browser bundle (rollup.config.mjs bundles it there; Node bundles import it).
 */
import CRC32C from 'crc-32/crc32c.js';

/**
 * Continues a CRC-32C over `bytes`: `crc32c(b, crc32c(a))` is the checksum of `a` followed by `b`.
 * @param bytes any bytes (a view of a typed array's bytes is fine).
 * @param previous the checksum of what came before; 0 to start.
 * @returns the checksum as an unsigned 32-bit integer.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  // `buf` works in signed 32-bit integers: it takes either form of the seed, and returns the signed one.
  return CRC32C.buf(bytes, previous) >>> 0;
}

/** The bytes of a typed array (or an ArrayBuffer), without copying. */
export function bytesOf(data: ArrayBufferView|ArrayBuffer): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
