// WAV (RIFF/WAVE) reader: PCM 8/16/24/32-bit integers and IEEE float 32/64-bit, plain or
// WAVE_FORMAT_EXTENSIBLE, any channel count. Samples become float32 in [-1, 1) (integers divided
// by 2^(bits-1); 8-bit is unsigned with 128 as zero, as the format defines). Every malformed or
// unsupported file is a BAD_WAV error saying what was expected and what the file holds.
import { SeqLayersError, show } from '../errors.js';
import { asBytes } from '../util/bytes.js';

export interface Wav {
  readonly sampleRate: number;
  /** One Float32Array of samples per channel. */
  readonly channels: Float32Array[];
  /** Bits per sample as stored (8, 16, 24, 32 or 64). */
  readonly bitsPerSample: number;
  /** 'pcm' (integers) or 'float'. */
  readonly encoding: 'pcm' | 'float';
}

const bad = (msg: string) => new SeqLayersError('BAD_WAV', `WAV: ${msg}`);

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;
/** The size a streaming writer leaves in a header it cannot seek back to. */
const STREAMED_SIZE = 0xffffffff;

/** Parses a WAV file. */
export function readWav(input: Uint8Array | ArrayBuffer): Wav {
  const bytes = asBytes(input);
  if (!bytes) throw bad(`expected the bytes of a .wav file (Uint8Array or ArrayBuffer), got ${show(input)}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw bad(`expected a RIFF/WAVE header ("RIFF" ... "WAVE"), got ${show(bytes.length < 12 ? `${bytes.length} bytes` : `${tag(0)} ... ${tag(8)}`)}`);
  }
  let fmt: { format: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  // Chunks: 4-byte id, 4-byte little-endian size, payload padded to an even length, up to the
  // RIFF size (bytes after it, e.g. an ID3 tag, are not chunks) unless that size is past the end
  // or short of the header (streaming writers leave it 0 or 0xFFFFFFFF). A writer to a pipe
  // (ffmpeg -f wav -) cannot go back to fill in the data size either and leaves it 0xFFFFFFFF:
  // the samples run to the end, as Python's wave and scipy read them. Any other size past the
  // end is a truncated file.
  const riffEnd = 8 + dv.getUint32(4, true);
  const end = riffEnd >= 12 && riffEnd <= bytes.length ? riffEnd : bytes.length;
  for (let at = 12; at + 8 <= end; ) {
    const id = tag(at), claimed = dv.getUint32(at + 4, true), body = at + 8;
    const size = id === 'data' && claimed === STREAMED_SIZE ? end - body : claimed;
    if (size > end - body) throw bad(`chunk ${show(id)} at byte ${at} claims ${size} bytes, but only ${end - body} follow (truncated file?)`);
    if (id === 'fmt ') {
      if (size < 16) throw bad(`expected a fmt chunk of at least 16 bytes, got ${size}`);
      let format = dv.getUint16(body, true);
      const bits = dv.getUint16(body + 14, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (size < 40) throw bad(`expected a WAVE_FORMAT_EXTENSIBLE fmt chunk of 40 bytes, got ${size}`);
        format = dv.getUint16(body + 24, true); // the sub-format GUID starts with the format code
      }
      fmt = { format, channels: dv.getUint16(body + 2, true), sampleRate: dv.getUint32(body + 4, true), blockAlign: dv.getUint16(body + 12, true), bits };
    } else if (id === 'data') {
      data = bytes.subarray(body, body + size);
    }
    at = body + size + (size & 1);
  }
  if (!fmt) throw bad('expected a "fmt " chunk, found none');
  if (!data) throw bad('expected a "data" chunk, found none');
  const { format, channels, sampleRate, blockAlign, bits } = fmt;
  const encoding = format === FORMAT_PCM ? 'pcm' : format === FORMAT_FLOAT ? 'float' : null;
  if (!encoding) throw bad(`expected PCM (format 1) or IEEE float (format 3) samples, got format ${format} (compressed WAVs are not read)`);
  const okBits = encoding === 'pcm' ? [8, 16, 24, 32] : [32, 64];
  if (!okBits.includes(bits)) throw bad(`expected ${encoding === 'pcm' ? 'PCM' : 'float'} samples of ${okBits.join(', ')} bits, got ${bits}`);
  if (channels < 1) throw bad(`expected at least one channel, got ${channels}`);
  if (sampleRate < 1) throw bad(`expected a positive sample rate, got ${sampleRate}`);
  const width = bits / 8;
  if (blockAlign !== channels * width) throw bad(`expected a block align of ${channels * width} bytes (${channels} channels x ${width}), got ${blockAlign}`);
  const frames = Math.floor(data.length / blockAlign);
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  const d = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read: (at: number) => number =
    encoding === 'float'
      ? bits === 32 ? (at) => d.getFloat32(at, true) : (at) => d.getFloat64(at, true)
      : bits === 8 ? (at) => (d.getUint8(at) - 128) / 128
      : bits === 16 ? (at) => d.getInt16(at, true) / 32768
      : bits === 24 ? (at) => ((d.getUint8(at + 2) << 24) | (d.getUint8(at + 1) << 16) | (d.getUint8(at) << 8)) / 2 ** 31
      : (at) => d.getInt32(at, true) / 2 ** 31;
  for (let i = 0; i < frames; i++) for (let c = 0; c < channels; c++) out[c]![i] = read(i * blockAlign + c * width);
  return { sampleRate, channels: out, bitsPerSample: bits, encoding };
}
