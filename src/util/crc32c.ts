/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of saved weights files and of
 * sparse layers' stored arrays. Our own rather than `@aws-crypto/crc32c` because it must run in the
 * browser bundle (which takes nothing but `@tensorflow/*`) and because that package walks bytes
 * through an iterator (110 MB/s measured on the project machine); slicing-by-8 reads eight bytes per
 * step through eight tables, as Intel's "slicing-by-8" paper (Kounavis and Berry, 2005) describes.
 */

/** Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further on. */
const TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let b = 0; b < 8; b++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) t[k * 256 + i] = (t[(k - 1) * 256 + i] >>> 8) ^ t[t[(k - 1) * 256 + i] & 0xff];
  }
  return t;
})();

/**
 * Continues a CRC-32C over `bytes`: `crc32c(b, crc32c(a))` is the checksum of `a` followed by `b`.
 * @param bytes any bytes (a view of a typed array's bytes is fine).
 * @param previous the checksum of what came before; 0 to start.
 * @returns the checksum as an unsigned 32-bit integer.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  const n = bytes.length;
  let i = 0;
  for (const end = n - (n & 7); i < end; i += 8) {
    const lo = c ^ (bytes[i] | bytes[i + 1] << 8 | bytes[i + 2] << 16 | bytes[i + 3] << 24);
    c = TABLES[7 * 256 + (lo & 0xff)] ^ TABLES[6 * 256 + ((lo >>> 8) & 0xff)] ^
        TABLES[5 * 256 + ((lo >>> 16) & 0xff)] ^ TABLES[4 * 256 + (lo >>> 24)] ^
        TABLES[3 * 256 + bytes[i + 4]] ^ TABLES[2 * 256 + bytes[i + 5]] ^
        TABLES[256 + bytes[i + 6]] ^ TABLES[bytes[i + 7]];
  }
  for (; i < n; i++) c = (c >>> 8) ^ TABLES[(c ^ bytes[i]) & 0xff];
  return ~c >>> 0;
}

/** The bytes of a typed array (or an ArrayBuffer), without copying. */
export function bytesOf(data: ArrayBufferView|ArrayBuffer): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
