// The snapshot checksum: CRC-32 (IEEE) by slicing 8 bytes at a time, against the bit-at-a-time
// definition, at every alignment and length around the 8-byte steps.
import { describe, expect, it } from 'vitest';
import { crc32, seededRandom } from '../../src/util/hash.js';

/** CRC-32 one bit at a time, straight from the definition (reflected polynomial 0xedb88320). */
function crc32Bitwise(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32', () => {
  it('gives the standard check value', () => {
    expect(crc32(new Uint8Array([...'123456789'].map((ch) => ch.charCodeAt(0))))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('equals the bitwise definition at every offset and length, and chains', () => {
    const rand = seededRandom(7);
    const buffer = new Uint8Array(80).map(() => Math.floor(rand() * 256));
    for (let offset = 0; offset < 9; offset++) {
      for (let length = 0; offset + length <= buffer.length; length++) {
        const bytes = buffer.subarray(offset, offset + length);
        expect(crc32(bytes), `offset ${offset}, length ${length}`).toBe(crc32Bitwise(bytes));
        const cut = length >> 1;
        expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut), 5))).toBe(crc32Bitwise(bytes, 5));
      }
    }
  });
});
