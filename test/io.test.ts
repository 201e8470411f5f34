// The file readers of src/io/: WAV (every PCM and float encoding, chunk layouts, errors) and
// NumPy .npy (dtypes, versions, round trips, errors).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { readNpy, writeNpy } from '../src/io/npy.js';

/** A WAV file: RIFF header, the given chunks (id, payload), each padded to an even length. */
function wavFile(chunks: [string, Uint8Array][]): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
  const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
  for (const [id, body] of chunks) parts.push(...ascii(id), ...u32(body.length), ...body, ...(body.length & 1 ? [0] : []));
  return Uint8Array.from([...ascii('RIFF'), ...u32(4 + parts.length), ...ascii('WAVE'), ...parts]);
}

/** A fmt chunk; `extensible` wraps the format code in WAVE_FORMAT_EXTENSIBLE. */
function fmt(format: number, channels: number, rate: number, bits: number, extensible = false, blockAlign = (channels * bits) / 8): Uint8Array {
  const b = new DataView(new ArrayBuffer(extensible ? 40 : 16));
  b.setUint16(0, extensible ? 0xfffe : format, true);
  b.setUint16(2, channels, true);
  b.setUint32(4, rate, true);
  b.setUint32(8, rate * blockAlign, true);
  b.setUint16(12, blockAlign, true);
  b.setUint16(14, bits, true);
  if (extensible) {
    b.setUint16(16, 22, true);
    b.setUint16(24, format, true);
  }
  return new Uint8Array(b.buffer);
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('readWav', () => {
  it('reads the committed test recording', () => {
    const wav = sl.readWav(readFileSync(new URL('./fixtures/vad/speech.wav', import.meta.url)));
    expect([wav.sampleRate, wav.channels.length, wav.bitsPerSample, wav.encoding, wav.channels[0]!.length]).toEqual([16000, 1, 16, 'pcm', 106650]);
    expect(Math.max(...wav.channels[0]!.map(Math.abs))).toBeLessThan(0.75);
  });

  it('every encoding, stereo, WAVE_FORMAT_EXTENSIBLE and odd-sized chunks before the data', () => {
    const cases: [Uint8Array, number, number[][]][] = [
      [fmt(1, 1, 8000, 8), 8, [[0, 0.5, -1]]],
      [fmt(1, 2, 8000, 16), 16, [[0.5, -1], [-0.25, 32767 / 32768]]],
      [fmt(1, 1, 8000, 24, true), 24, [[-1, 0.5]]],
      [fmt(1, 1, 8000, 32), 32, [[0.25, -1]]],
      [fmt(3, 1, 8000, 32), 32, [[0.1, -2]]],
      [fmt(3, 2, 8000, 64, true), 64, [[0.1, 3], [-0.5, 0]]],
    ];
    for (const [f, bits, channels] of cases) {
      const frames = channels[0]!.length, n = channels.length;
      const data = new DataView(new ArrayBuffer(frames * n * (bits / 8)));
      channels.forEach((ch, c) => ch.forEach((v, i) => {
        const at = (i * n + c) * (bits / 8);
        const format = new DataView(f.buffer).getUint16(f.length === 40 ? 24 : 0, true);
        if (format === 3) bits === 32 ? data.setFloat32(at, v, true) : data.setFloat64(at, v, true);
        else if (bits === 8) data.setUint8(at, Math.round(v * 128) + 128);
        else if (bits === 16) data.setInt16(at, Math.round(v * 32768), true);
        else if (bits === 24) {
          const x = Math.round(v * 2 ** 23);
          data.setUint8(at, x & 255), data.setUint8(at + 1, (x >> 8) & 255), data.setUint8(at + 2, (x >> 16) & 255);
        } else data.setInt32(at, Math.round(v * 2 ** 31), true);
      }));
      const wav = sl.readWav(wavFile([['fmt ', f], ['LIST', Uint8Array.of(1, 2, 3)], ['data', bytesOf(data)]]));
      expect(wav.bitsPerSample).toBe(bits);
      expect(wav.channels.map((c) => Array.from(c))).toEqual(channels.map((c) => c.map((v) => Math.fround(v))));
    }
  });

  it('reads up to the RIFF size: an ID3 tag after it is not a chunk (a streamed 0 or huge size reads to the end)', () => {
    const file = wavFile([['fmt ', fmt(1, 1, 8000, 16)], ['data', bytesOf(Int16Array.of(16384, -32768))]]);
    const tag = new TextEncoder().encode('TAG' + 'x'.repeat(125));
    const tagged = Uint8Array.from([...file, ...tag]);
    expect(Array.from(sl.readWav(tagged).channels[0]!)).toEqual([0.5, -1]);
    for (const size of [0, 0xffffffff]) {
      const streamed = file.slice();
      new DataView(streamed.buffer).setUint32(4, size, true);
      expect(Array.from(sl.readWav(streamed).channels[0]!)).toEqual([0.5, -1]);
    }
  });

  it('a WAV written to a pipe (RIFF and data sizes 0xFFFFFFFF, as ffmpeg -f wav - leaves them) reads its whole frames to the end', () => {
    const stereo = bytesOf(Int16Array.of(16384, -32768, -8192, 32767));
    const file = wavFile([['fmt ', fmt(1, 2, 8000, 16)], ['LIST', Uint8Array.of(1, 2, 3)], ['data', stereo]]);
    const piped = Uint8Array.from([...file, 7, 7, 7]); // a partial frame at the end is dropped, as wave and scipy do
    const dv = new DataView(piped.buffer);
    dv.setUint32(4, 0xffffffff, true);
    dv.setUint32(piped.length - stereo.length - 3 - 4, 0xffffffff, true);
    expect(sl.readWav(piped).channels.map((c) => Array.from(c))).toEqual([[0.5, -0.25], [-1, 32767 / 32768]]);
  });

  it('malformed or unsupported files are BAD_WAV errors saying what is wrong', () => {
    const data: [string, Uint8Array] = ['data', new Uint8Array(4)];
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('ID3 this is an mp3'), /expected a RIFF\/WAVE header \("RIFF" \.\.\. "WAVE"\), got "ID3  \.\.\.  is "/],
      [Uint8Array.of(1, 2), /got "2 bytes"/],
      [wavFile([data]), /expected a "fmt " chunk, found none/],
      [wavFile([['fmt ', fmt(1, 1, 8000, 16)]]), /expected a "data" chunk, found none/],
      [wavFile([['fmt ', fmt(1, 1, 8000, 16)], data]).subarray(0, 46), /chunk "data" at byte 36 claims 4 bytes, but only 2 follow \(truncated file\?\)/],
      [wavFile([['fmt ', fmt(1, 1, 8000, 16)], ['LIST', new Uint8Array(4)], data]).map((b, i) => (i >= 40 && i < 44 ? 255 : b)), /chunk "LIST" at byte 36 claims 4294967295 bytes, but only 16 follow \(truncated file\?\)/],
      [wavFile([['fmt ', fmt(0x55, 1, 8000, 16)], data]), /expected PCM \(format 1\) or IEEE float \(format 3\) samples, got format 85 \(compressed WAVs are not read\)/],
      [wavFile([['fmt ', fmt(1, 1, 8000, 12)], data]), /expected PCM samples of 8, 16, 24, 32 bits, got 12/],
      [wavFile([['fmt ', fmt(3, 1, 8000, 16)], data]), /expected float samples of 32, 64 bits, got 16/],
      [wavFile([['fmt ', fmt(1, 0, 8000, 16)], data]), /expected at least one channel, got 0/],
      [wavFile([['fmt ', fmt(1, 2, 8000, 16, false, 2)], data]), /expected a block align of 4 bytes \(2 channels x 2\), got 2/],
      [wavFile([['fmt ', fmt(1, 1, 0, 16)], data]), /expected a positive sample rate, got 0/],
      [wavFile([['fmt ', new Uint8Array(8)], data]), /expected a fmt chunk of at least 16 bytes, got 8/],
    ];
    for (const [bytes, message] of cases) {
      let err: unknown;
      try {
        sl.readWav(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, String(message)).toBeInstanceOf(sl.SeqLayersError);
      expect((err as sl.SeqLayersError).code).toBe('BAD_WAV');
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe('readNpy and writeNpy', () => {
  /** A .npy file with a hand-written header. */
  const npy = (header: string, body: ArrayBufferView, version = 1) => {
    const h = new TextEncoder().encode(header);
    const pre = version === 1 ? [version, 0, h.length & 255, h.length >> 8] : [version, 0, h.length & 255, h.length >> 8, 0, 0];
    return Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, ...pre, ...h, ...bytesOf(body)]);
  };

  it('round trips float32 and int32, and reads other dtypes and versions as float32', () => {
    const f = readNpy(writeNpy([2, 3], Float32Array.of(1, 2, 3, 4, 5, 6.5)));
    expect([f.shape, Array.from(f.data), f.data instanceof Float32Array]).toEqual([[2, 3], [1, 2, 3, 4, 5, 6.5], true]);
    const i = readNpy(writeNpy([3], Int32Array.of(-1, 2, 2147483647)));
    expect([i.shape, Array.from(i.data), i.data instanceof Int32Array]).toEqual([[3], [-1, 2, 2147483647], true]);
    expect(Array.from(readNpy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", Float64Array.of(0.5, -3))).data)).toEqual([0.5, -3]);
    expect(Array.from(readNpy(npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 1), }\n", Int16Array.of(-7, 9), 2)).data)).toEqual([-7, 9]);
    expect(Array.from(readNpy(npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }\n", Uint8Array.of(1, 0), 3)).data)).toEqual([1, 0]);
    expect(readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", Float32Array.of(4))).shape).toEqual([]);
    // numpy aligns the data to 64 bytes.
    expect((writeNpy([5], new Float32Array(5)).length - 20) % 64).toBe(0);
    // float32 bits exactly, signaling NaNs too (a read through a JS number quiets them).
    const bits = Uint32Array.of(0x7f800001, 0xffa00000, 0x7fc12345, 0x3f800000);
    expect(Array.from(new Uint32Array(readNpy(writeNpy([4], new Float32Array(bits.buffer))).data.buffer))).toEqual(Array.from(bits));
  });

  it('writeNpy (public: sl.writeNpy) refuses values and shapes that do not fit, with BAD_ARGUMENT', () => {
    expect(sl.writeNpy).toBe(writeNpy);
    expect(() => writeNpy([2, 2], Float32Array.of(1, 2, 3))).toThrow('[BAD_ARGUMENT] writeNpy: expected a shape of at most 32 non-negative integers whose product is the 3 values, got [2, 2]');
    expect(() => writeNpy([-1], Float32Array.of())).toThrow(/got \[-1\]$/);
    expect(() => writeNpy([1e21, 0], Float32Array.of())).toThrow(/got \[1e\+21, 0\]$/);
    expect(() => writeNpy([3], [1, 2, 3] as never)).toThrow('[BAD_ARGUMENT] writeNpy: expected the values as a Float32Array or an Int32Array, got [1, 2, 3]');
    expect(Array.from(readNpy(writeNpy([], Int32Array.of(7))).data)).toEqual([7]);
  });

  it('malformed or unsupported files are BAD_NPY errors', () => {
    const header = (descr: string, shape: string, fortran = 'False') => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('PK\x03\x04 an npz'), /expected the magic string "\\x93NUMPY" at the start: not a \.npy file/],
      [npy(header('<f4', '(1,)'), Float32Array.of(1), 4), /expected format version 1, 2 or 3, got 4\.0/],
      [npy(header('<f4', '(2,)', 'True'), Float32Array.of(1, 2)), /expected C order \(fortran_order False\), got Fortran order/],
      [npy(header('>f4', '(1,)'), Float32Array.of(1)), /expected a little-endian float, integer or bool dtype \(e\.g\. '<f4', '<i2'\), got ">f4"/],
      [npy(header('<c8', '(1,)'), Float32Array.of(1, 0)), /got "<c8"/],
      ...['<constructor', '<__proto__', '<toString', '|valueOf'].map((d): [Uint8Array, RegExp] => [npy(header(d, '(1,)'), Float32Array.of(1)), /expected a little-endian float, integer or bool dtype/]),
      [npy(header('<f4', '(3,)'), Float32Array.of(1)), /shape \[3\] of "<f4" needs 12 data bytes, the file has 4/],
      [npy("{'shape': (1,)}\n", Float32Array.of(1)), /expected a header dict with 'descr', 'fortran_order' and 'shape'/],
      [npy(header('<f4', '(-1,)'), Float32Array.of(1)), /expected a shape of non-negative integers, got \(-1,\)/],
      [npy(header('<f4', '(1,)'), Float32Array.of(1)).subarray(0, 20), /the header claims \d+ bytes, but the file has 10 after the preamble/],
      [null as never, /expected the bytes of a \.npy file \(Uint8Array or ArrayBuffer\), got null/],
      ['x.npy' as never, /expected the bytes of a \.npy file \(Uint8Array or ArrayBuffer\), got "x\.npy"/],
    ];
    for (const [bytes, message] of cases) {
      let err: unknown;
      try {
        readNpy(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, String(message)).toBeInstanceOf(sl.SeqLayersError);
      expect((err as sl.SeqLayersError).code).toBe('BAD_NPY');
      expect((err as Error).message).toMatch(message);
    }
  });
});
