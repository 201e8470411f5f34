import { describe, expect, it } from 'vitest';
import { readSafetensors, SeqLayersError, toFloat32, writeSafetensors, type Tensor } from '../../src/index.js';

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'F32', shape, data: Float32Array.from(values) });

/** A file from a header object and raw data bytes (no checks: for building bad files). */
function rawFile(header: unknown, data: Uint8Array, headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SeqLayersError);
    return `${(e as SeqLayersError).code}: ${(e as Error).message}`;
  }
  return 'no error';
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, aligned as upstream writes them', () => {
    const bytes = writeSafetensors(
      { 'layers.0.kernel': f32([2, 3], [1, 2, 3, 4, 5, 6]), b: { dtype: 'I64', shape: [2], data: BigInt64Array.from([1n, -2n]) }, h: { dtype: 'F16', shape: [1], data: Uint16Array.from([0x3c00]) } },
      { format: 'seqlayers' },
    );
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'seqlayers' });
    expect([...toFloat32(file.tensors.get('layers.0.kernel')!)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...(file.tensors.get('b')!.data as BigInt64Array)]).toEqual([1n, -2n]);
    expect([...toFloat32(file.tensors.get('h')!)]).toEqual([1]);
  });

  it('a tensor may be named "__proto__" (the header was a plain object: the name set its prototype)', () => {
    const tensors = Object.fromEntries([['__proto__', f32([2], [1, 2])], ['a', f32([1], [3])]]);
    const file = readSafetensors(writeSafetensors(tensors));
    expect([...file.tensors.keys()].sort()).toEqual(['__proto__', 'a']);
    expect([...toFloat32(file.tensors.get('__proto__')!)]).toEqual([1, 2]);
    expect([...toFloat32(file.tensors.get('a')!)]).toEqual([3]);
  });

  it('reads BF16 and I32 and zero-size tensors', () => {
    const bytes = writeSafetensors({
      bf: { dtype: 'BF16', shape: [2], data: Uint16Array.from([0x3f80, 0xc000]) },
      i: { dtype: 'I32', shape: [1], data: Int32Array.from([-7]) },
      e: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    });
    const t = readSafetensors(bytes).tensors;
    expect([...toFloat32(t.get('bf')!)]).toEqual([1, -2]);
    expect([...toFloat32(t.get('i')!)]).toEqual([-7]);
    expect(t.get('e')!.shape).toEqual([0, 3]);
  });

  it('rejects broken files with BAD_SAFETENSORS and a reason', () => {
    const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data = new Uint8Array(8);
    expect(code(() => readSafetensors(new Uint8Array(5)))).toMatch(/BAD_SAFETENSORS: .*at least 8 bytes/);
    expect(code(() => readSafetensors(rawFile(good, data, 1n << 40n)))).toMatch(/over the limit/);
    expect(code(() => readSafetensors(rawFile(good, data, 10_000n)))).toMatch(/runs past the end/);
    expect(code(() => readSafetensors(rawFile(good, data.subarray(0, 4))))).toMatch(/needs 8 bytes|cover 8 bytes/);
    expect(code(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, data)))).toMatch(/needs 8 bytes/);
    expect(
      code(() =>
        readSafetensors(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(12))),
      ),
    ).toMatch(/overlaps/);
    expect(code(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data)))).toMatch(/gap/);
    expect(code(() => readSafetensors(rawFile({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))))).toMatch(/expected a dtype/);
    expect(code(() => readSafetensors(rawFile({ a: { dtype: 'toString', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))))).toMatch(/expected a dtype among .*, got "toString"/);
    expect(code(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(0))))).toMatch(/non-negative/);
    expect(code(() => readSafetensors(rawFile([1, 2], new Uint8Array(0))))).toMatch(/JSON object/);
    expect(code(() => readSafetensors(rawFile({ __metadata__: { a: 1 } }, new Uint8Array(0))))).toMatch(/strings to strings/);
  });

  it('rejects duplicate names, bad UTF-8 and deep nesting that JSON.parse would let through', () => {
    const dup = new TextEncoder().encode('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const file = new Uint8Array(8 + dup.length + 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(dup.length), true);
    file.set(dup, 8);
    expect(code(() => readSafetensors(file))).toMatch(/duplicate name "a"/);
    const badUtf8 = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]);
    expect(code(() => readSafetensors(badUtf8))).toMatch(/not valid UTF-8/);
    const deep = new TextEncoder().encode('['.repeat(100_000) + ']'.repeat(100_000));
    const deepFile = new Uint8Array(8 + deep.length);
    new DataView(deepFile.buffer).setBigUint64(0, BigInt(deep.length), true);
    deepFile.set(deep, 8);
    expect(code(() => readSafetensors(deepFile))).toMatch(/nesting deeper/);
  });

  it('refuses what is not a file\'s bytes, naming what arrived, never a RangeError', () => {
    const expected = 'BAD_SAFETENSORS: \\[BAD_SAFETENSORS\\] expected the bytes of a \\.safetensors file \\(Uint8Array or ArrayBuffer\\), got ';
    expect(code(() => readSafetensors(null as never))).toMatch(new RegExp(expected + 'null'));
    expect(code(() => readSafetensors('weights.safetensors' as never))).toMatch(new RegExp(expected + '"weights\\.safetensors"'));
    expect(code(() => readSafetensors(1e12 as never))).toMatch(new RegExp(expected + '1000000000000'));
    expect(code(() => readSafetensors([1, 2, 3, 4, 5, 6, 7, 8, 9] as never))).toMatch(new RegExp(expected + '\\[1, 2, 3'));
    // An ArrayBuffer is bytes.
    expect([...readSafetensors(writeSafetensors({ a: f32([1], [5]) }).slice().buffer).tensors.keys()]).toEqual(['a']);
  });

  it('writeSafetensors refuses malformed tensors with BAD_SAFETENSORS naming what was expected and what arrived', () => {
    const cases: [unknown, unknown, RegExp][] = [
      [null, undefined, /writeSafetensors: expected tensors as an object or a Map of names to \{dtype, shape, data\}, got null/],
      ['a', undefined, /expected tensors as an object or a Map .*, got "a"/],
      [{ a: null }, undefined, /writeSafetensors: tensor "a": expected \{dtype, shape, data\}, got null/],
      [{ a: { dtype: 'F32', data: new Float32Array(1) } }, undefined, /tensor "a": expected a shape of non-negative integers, got undefined/],
      [{ a: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } }, undefined, /tensor "a": expected a shape of non-negative integers, got \[-1\]/],
      [{ a: { dtype: 'F99', shape: [1], data: new Float32Array(1) } }, undefined, /tensor "a": expected a dtype among F64, F32, .*, got "F99"/],
      [{ a: { dtype: 'toString', shape: [1], data: new Float32Array(1) } }, undefined, /tensor "a": expected a dtype among .*, got "toString"/],
      [{ a: { dtype: 'F32', shape: [2], data: [1, 2] } }, undefined, /tensor "a": expected data as a typed array, got \[1, 2\]/],
      [{ a: { dtype: 'F32', shape: [2], data: new Float32Array(1) } }, undefined, /tensor "a": shape \[2\] of F32 needs 8 bytes, got 4/],
      [{ a: f32([1], [1]) }, { version: 2 }, /writeSafetensors: expected metadata to map strings to strings, got \{"version":2\}/],
    ];
    for (const [tensors, metadata, message] of cases) {
      expect(code(() => writeSafetensors(tensors as never, metadata as never))).toMatch(new RegExp('^BAD_SAFETENSORS: .*' + message.source));
    }
  });
});
