// A minimal protobuf wire-format reader for ONNX files: walks fields by hand (no generated
// code). Every malformed input is a BAD_ONNX error naming the message, the field and the byte
// offset: truncated varints, lengths past the end, unknown or group wire types, field 0.
// Every loop advances by at least one byte, so no input can make it hang.
import { SeqLayersError } from '../errors.js';

/** Wire types of protobuf (groups, 3 and 4, are deprecated and not accepted). */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** A BAD_ONNX error. */
export const badOnnx = (msg: string) => new SeqLayersError('BAD_ONNX', `ONNX: ${msg}`);

const TWO_32 = 2 ** 32;

/**
 * Reads one message's bytes [pos, end) of `bytes`. `what` names the message for errors, e.g.
 * 'GraphProto "main" > NodeProto'. Offsets in messages are absolute in the file (`base`).
 */
export class ProtoReader {
  pos: number;
  /** Field number of the last tag read. */
  field = 0;
  /** Wire type of the last tag read. */
  wire = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An error at the current field of this message. */
  error(msg: string): SeqLayersError {
    return badOnnx(`${this.what}${this.field ? ` field ${this.field}` : ''} at byte ${this.pos}: ${msg}`);
  }

  /** Reads the next tag; afterwards `field` and `wire` describe it. */
  tag(): void {
    const at = this.pos;
    const t = this.varint();
    const field = Math.floor(t / 8), wire = t % 8;
    this.field = field;
    this.wire = wire;
    if (field === 0 || field > 0x1fffffff) throw badOnnx(`${this.what} at byte ${at}: expected a field number in [1, 2^29 - 1], got ${field}`);
    if (wire !== WIRE.VARINT && wire !== WIRE.I64 && wire !== WIRE.LEN && wire !== WIRE.I32) {
      throw this.error(`expected wire type 0, 1, 2 or 5, got ${wire}${wire === 3 || wire === 4 ? ' (groups are not used by ONNX)' : ''}`);
    }
  }

  /**
   * An unsigned varint of up to 64 bits as a number: exact below 2^53, rounded above. For the
   * signed int64 fields of ONNX (two's complement in 10 bytes) use int64().
   */
  varint(): number {
    const [lo, hi] = this.varint64();
    return hi * TWO_32 + lo;
  }

  /** A signed int64 varint as a number (exact within ±2^53). */
  int64(): number {
    const [lo, hi] = this.varint64();
    return (hi | 0) * TWO_32 + lo;
  }

  /** A varint of up to 10 bytes as unsigned 32-bit halves [lo, hi]. */
  private varint64(): [number, number] {
    const b = this.bytes;
    let lo = 0, hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.error('truncated varint');
      const byte = b[this.pos++]!;
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw this.error('varint longer than 10 bytes');
  }

  /** The payload of a length-delimited field: a view, not a copy. */
  lenBytes(): Uint8Array {
    const [start, end] = this.lenRange();
    return this.bytes.subarray(start, end);
  }

  /** [start, end) of a length-delimited payload; checks the length fits in this message. */
  lenRange(): [number, number] {
    const n = this.varint();
    if (n > this.end - this.pos) throw this.error(`length ${n} runs past the end of the message (${this.end - this.pos} bytes left)`);
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }

  /** A reader over a nested message field. */
  message(what: string): ProtoReader {
    const [start, end] = this.lenRange();
    return new ProtoReader(this.bytes, `${this.what} > ${what}`, start, end);
  }

  /** A UTF-8 string field (invalid sequences become U+FFFD, as protobuf's own decoders do). */
  string(): string {
    return (decoder ??= new TextDecoder('utf-8')).decode(this.lenBytes());
  }

  /** A fixed 32-bit float. */
  float(): number {
    if (this.end - this.pos < 4) throw this.error('truncated float');
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** Checks the last tag had wire type `wire` (a mismatch means a corrupt or foreign file). */
  expect(wire: number, name: string): void {
    if (this.wire !== wire) throw this.error(`expected ${name} with wire type ${wire}, got wire type ${this.wire}`);
  }

  /** Skips the value of the last tag. */
  skip(): void {
    switch (this.wire) {
      case WIRE.VARINT:
        this.varint();
        return;
      case WIRE.I64:
        this.advance(8);
        return;
      case WIRE.I32:
        this.advance(4);
        return;
      default:
        this.lenRange();
    }
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) throw this.error(`truncated ${n}-byte value`);
    this.pos += n;
  }

  /**
   * A repeated scalar field, packed (one LEN record) or not (one value per tag); `read` reads one
   * value from `r`. Appends to `out`, refusing to grow it past `max` values.
   */
  repeated(out: number[], read: (r: ProtoReader) => number, scalarWire: number, name: string, max = Infinity): void {
    if (this.wire === WIRE.LEN) {
      const sub = this.message(name);
      while (!sub.done) {
        if (out.length >= max) throw sub.error(`expected at most ${max} values, got more`);
        out.push(read(sub));
      }
      return;
    }
    this.expect(scalarWire, name);
    if (out.length >= max) throw this.error(`${name}: expected at most ${max} values, got more`);
    out.push(read(this));
  }
}

/** Made on first use: importing this module must not need TextDecoder (AudioWorklets lack it). */
let decoder: TextDecoder | undefined;
