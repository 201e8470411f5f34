import { describe, expect, it } from 'vitest';
import { Sequence, SeqLayersError } from '../../src/index.js';

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
});
