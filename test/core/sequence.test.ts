import { describe, expect, it } from 'vitest';
import { Sequence, SeqLayersError } from '../../src/index.js';
import { codedError } from '../errors.js';

describe('Sequence', () => {
  it('maskInvalid matches the reference example (select, not multiply)', () => {
    const x = new Sequence(Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]), Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 1]), [2, 4]);
    expect([...x.maskInvalid().values]).toEqual([1, 2, 0, 0, 0, 0, 0, 40]);
    expect([...x.maskInvalid(-1).values]).toEqual([1, 2, -1, -1, -1, -1, -1, 40]);
    const nan = new Sequence(Float32Array.from([NaN, Infinity]), Uint8Array.from([0, 0]), [1, 2]);
    expect([...nan.maskInvalid().values]).toEqual([0, 0]);
  });

  it('fromLengths clips lengths to [0, T] and lengths() counts valid steps', () => {
    const x = Sequence.fromLengths(new Float32Array(8), [2, 4], [7, -3]);
    expect([...x.mask]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect([...x.lengths()]).toEqual([4, 0]);
    const holes = new Sequence(new Float32Array(4), Uint8Array.from([1, 0, 1, 0]), [1, 4]);
    expect([...holes.lengths()]).toEqual([2]);
  });

  it('padTime, slicing and concatenate keep values and masks aligned', () => {
    const x = Sequence.fromValues([1, 2, 3, 4, 5, 6], [2, 3]);
    const p = x.padTime(1, 2, false, 9);
    expect(p.shape).toEqual([2, 6]);
    expect([...p.values]).toEqual([9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9]);
    expect([...p.mask]).toEqual([0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]);
    expect([...x.slice(1, 2, 1, 3).values]).toEqual([5, 6]);
    expect([...x.sliceTime(2).values]).toEqual([3, 6]);
    const c = x.sliceTime(0, 1).concatenate(x.sliceTime(1));
    expect([...c.values]).toEqual([...x.values]);
    expect(x.padToMultiple(4).time).toBe(4);
    expect([...x.reverseTime().values]).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it('holds int32 token ids and complex64 pairs', () => {
    const ids = Sequence.fromValues([1, 2, 3], [1, 3], 'int32');
    expect(ids.values).toBeInstanceOf(Int32Array);
    const z = Sequence.zeros([1, 2, 3], 'complex64');
    expect(z.values.length).toBe(12);
    expect(z.stepSize).toBe(3);
  });

  it('rejects inconsistent shapes with a coded error', () => {
    expect(() => Sequence.fromValues([1, 2, 3], [2, 2])).toThrow(/\[BAD_INPUT\].*needs 4 values, got 3/);
    expect(() => new Sequence(new Float32Array(4), new Uint8Array(3), [2, 2])).toThrow(SeqLayersError);
    expect(() => Sequence.fromValues([1], [1])).toThrow(/expected a shape \[batch, time/);
    expect(() => Sequence.concatenate([Sequence.zeros([1, 1, 2]), Sequence.zeros([1, 1, 3])])).toThrow(/BAD_INPUT/);
  });

  it('refuses wrong arguments with a coded error naming what was expected and what arrived', () => {
    const mask = new Uint8Array(2);
    const cases: [() => unknown, string, RegExp][] = [
      [() => new Sequence(null as never, mask, [1, 2]), 'BAD_INPUT', /Sequence: dtype "float32" needs Float32Array values, got null/],
      [() => new Sequence(new Float64Array(2) as never, mask, [1, 2]), 'BAD_INPUT', /needs Float32Array values, got Float64Array\(2\)/],
      [() => new Sequence([0, 0] as never, mask, [1, 2]), 'BAD_INPUT', /needs Float32Array values, got \[0, 0\] \(Sequence.fromValues takes plain arrays\)/],
      [() => new Sequence(new Int32Array(2) as never, mask, [1, 2], 'float32'), 'BAD_INPUT', /needs Float32Array values, got Int32Array\(2\)/],
      [() => new Sequence(new Float32Array(2), mask, [1, 2], 'float64' as never), 'BAD_INPUT', /Sequence: expected dtype "float32", "int32" or "complex64", got "float64"/],
      [() => Sequence.zeros([1, 2], 'bogus' as never), 'BAD_INPUT', /Sequence.zeros: expected dtype "float32", "int32" or "complex64", got "bogus"/],
      [() => Sequence.fromValues([1, 2], [1, 2], 'float64' as never), 'BAD_INPUT', /Sequence.fromValues: expected dtype .*, got "float64"/],
      [() => Sequence.fromLengths([1, 2], [2, 1], null as never), 'BAD_INPUT', /Sequence.fromLengths: expected 2 lengths \(an array, one per batch item\), got null/],
      [() => Sequence.fromLengths([1, 2], [2, 1], 'ab' as never), 'BAD_INPUT', /expected 2 lengths .*, got "ab"/],
      [() => Sequence.fromLengths([1, 2], [2, 1], [1, NaN]), 'BAD_INPUT', /Sequence.fromLengths: expected lengths to be numbers, got NaN for batch item 1/],
      [() => Sequence.fromLengths([1, 2], [2, 1], [1, '1'] as never), 'BAD_INPUT', /expected lengths to be numbers, got "1" for batch item 1/],
      [() => Sequence.concatenate(null as never), 'BAD_ARGUMENT', /Sequence.concatenate: expected an array of Sequences, got null/],
      [() => Sequence.concatenate([Sequence.zeros([1, 1]), {} as never]), 'BAD_INPUT', /Sequence.concatenate: expected a Sequence at index 1, got \{\}/],
      [() => Sequence.zeros([1, 3]).padToMultiple(0), 'BAD_ARGUMENT', /padToMultiple: expected a positive integer, got 0/],
      [() => Sequence.zeros([1, 3]).padToMultiple(-2), 'BAD_ARGUMENT', /padToMultiple: expected a positive integer, got -2/],
      [() => Sequence.zeros([1, 3]).padToMultiple(2.5), 'BAD_ARGUMENT', /padToMultiple: expected a positive integer, got 2.5/],
      [() => Sequence.zeros([1, 3]).slice(NaN, 1), 'BAD_ARGUMENT', /slice: expected numbers for the bounds .*, got \[NaN, 1, 0, 3\]/],
    ];
    for (const [f, code, message] of cases) {
      const e = codedError(f);
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(message);
    }
    // Lengths still clip: Infinity is the whole sequence, fractions floor.
    expect([...Sequence.fromLengths([1, 2, 3, 4], [2, 2], [Infinity, 1.5]).mask]).toEqual([1, 1, 1, 0]);
  });

  it('refuses shapes too large to hold with a coded error, never a RangeError', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => Sequence.fromValues(new Float32Array(4), [1e9, 1e9, 4]), /Sequence.fromValues: shape \[1000000000, 1000000000, 4\] is too large: 4000000000000000000 values and 1000000000000000000 mask steps, expected at most 2147483647 of each/],
      [() => Sequence.zeros([1e5, 1e5, 100]), /Sequence.zeros: shape \[100000, 100000, 100\] is too large/],
      [() => Sequence.zeros([2 ** 20, 2 ** 20, 0]), /Sequence.zeros: shape .* is too large: 0 values and 1099511627776 mask steps/],
      [() => Sequence.zeros([1, 2 ** 30, 1], 'complex64'), /Sequence.zeros: shape \[1, 1073741824, 1\] is too large: 2147483648 values/],
      [() => Sequence.fromLengths([], [1e9, 1e9], []), /Sequence.fromLengths: shape .* is too large/],
      [() => Sequence.zeros([1, 4, 2]).padTime(0, 2 ** 31, false), /padTime: shape \[1, 2147483652, 2\] is too large/],
    ];
    for (const [f, message] of cases) {
      const e = codedError(f);
      expect(e.code, e.message).toBe('BAD_INPUT');
      expect(e.message).toMatch(message);
    }
  });
});
