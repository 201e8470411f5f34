import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

const { cases } = loadFixture('padding');

/** Builds `config` for `inputShape` and expects a BAD_CONFIG error whose message matches `message`. */
function expectBadConfig(config: sl.LayerConfig, inputShape: number[], message: RegExp): void {
  let err: unknown;
  try {
    sl.build(config, { inputShape }).dispose();
  } catch (e) {
    err = e;
  }
  expect(err, `${JSON.stringify(config)} on ${JSON.stringify(inputShape)}`).toBeInstanceOf(sl.SeqLayersError);
  expect((err as sl.SeqLayersError).code).toBe('BAD_CONFIG');
  expect((err as Error).message).toMatch(message);
}

describe('Pad: oracle fixtures (numpy.pad)', () => {
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('Pad: contract', () => {
  const seen = new Set<string>();
  for (const c of cases) {
    const key = JSON.stringify([c.config.mode, c.input.shape.slice(2), c.config.axis]);
    if (seen.has(key)) continue;
    seen.add(key);
    it(c.name, () => {
      const model = sl.build(c.config, { inputShape: c.input.shape.slice(2) });
      try {
        sl.verifyContract(model);
        expect(model.receptiveField).toEqual([0, 0]);
        expect(model.outputShape()).toEqual(c.output.shape.slice(2));
        expect(model.params()).toEqual([]);
      } finally {
        model.dispose();
      }
    });
  }

  it('int32 values pass bit-exactly, and so does the constant', () => {
    const model = sl.build(sl.Pad({ padding: [1, 2], constantValue: -(2 ** 31) }), { inputShape: [3], inputDtype: 'int32' });
    const x = sl.Sequence.fromValues(Int32Array.of(2147483647, -5, 3), [1, 1, 3], 'int32');
    expect([...model.layer(x).values]).toEqual([-(2 ** 31), 2147483647, -5, 3, -(2 ** 31), -(2 ** 31)]);
    sl.verifyContract(model);
    model.dispose();
  });

  it('complex64 pads whole (re, im) pairs; constant has a zero imaginary part', () => {
    const x = new sl.Sequence(Float32Array.of(1, 2, 3, 4, 5, 6), new Uint8Array([1]), [1, 1, 3], 'complex64');
    const reflect = sl.build(sl.Pad({ padding: [1, 1], mode: 'reflect' }), { inputShape: [3], inputDtype: 'complex64' });
    expect([...reflect.layer(x).values]).toEqual([3, 4, 1, 2, 3, 4, 5, 6, 3, 4]);
    const constant = sl.build(sl.Pad({ padding: [0, 1], constantValue: 9 }), { inputShape: [3], inputDtype: 'complex64' });
    expect([...constant.layer(x).values]).toEqual([1, 2, 3, 4, 5, 6, 9, 0]);
    reflect.dispose();
    constant.dispose();
  });

  it('JSON with the snake_case field names', () => {
    const model = sl.build({ type: 'Pad', axis: 2, padding: [2, 0], mode: 'constant', constant_value: -1 }, { inputShape: [2] });
    const y = model.layer(sl.Sequence.fromValues([4, 5], [1, 1, 2]));
    expect([...y.values]).toEqual([-1, -1, 4, 5]);
    model.dispose();
  });
});

describe('Pad: bad configs', () => {
  it('names the field and the numbers', () => {
    expectBadConfig(sl.Pad({ padding: [3, 0], mode: 'reflect' }), [3], /padding: mode "reflect" pads an axis of size 3 by at most 2 on each side, got \[3, 0\]/);
    expectBadConfig(sl.Pad({ padding: [0, 4], mode: 'wrap' }), [3], /mode "wrap" .* at most 3 .* got \[0, 4\]/);
    expectBadConfig(sl.Pad({ padding: [0, 4], mode: 'symmetric' }), [3], /mode "symmetric" .* at most 3/);
    expectBadConfig(sl.Pad({ padding: [1, 1], axis: 1 }), [3], /axis: expected a channel axis in 2\.\.2 or -1\.\.-1 of input \[batch, time, 3\], got 1/);
    expectBadConfig(sl.Pad({ padding: [1, 1], axis: -3 }), [3, 2], /axis: expected a channel axis in 2\.\.3 .* got -3/);
    expectBadConfig({ type: 'Pad', padding: [1] }, [3], /padding: expected \[before, after\] \(non-negative integers\), got \[1\]/);
    expectBadConfig({ type: 'Pad', padding: [1, -1] }, [3], /padding: expected \[before, after\]/);
    expectBadConfig({ type: 'Pad', padding: [1, 1], mode: 'mirror' }, [3], /mode: expected one of "constant", "reflect", "symmetric", "edge", "wrap", got "mirror"/);
    expectBadConfig({ type: 'Pad' }, [3], /Pad needs field "padding"/);
    expectBadConfig(sl.Pad({ padding: [1, 1] }), [], /expected an input with a channel axis to pad, got channel shape \[\]/);
  });

  it('an int32 fill outside int32 or with a fraction is refused, not wrapped or truncated (found in review)', () => {
    for (const v of [3e9, 2 ** 31, -(2 ** 31) - 1, 1e20, 7.9, -0.5]) {
      let err: unknown;
      try {
        sl.build(sl.Pad({ padding: [1, 1], constantValue: v }), { inputShape: [2], inputDtype: 'int32' }).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, `constant_value ${v}`).toBeInstanceOf(sl.SeqLayersError);
      expect((err as sl.SeqLayersError).code).toBe('BAD_CONFIG');
      expect((err as Error).message).toContain(`constant_value: expected a whole number in int32's range for int32 input, got ${v}`);
    }
    // Other modes ignore the fill, and float32 input takes any.
    sl.build(sl.Pad({ padding: [1, 1], mode: 'edge', constantValue: 7.9 }), { inputShape: [2], inputDtype: 'int32' }).dispose();
    sl.build(sl.Pad({ padding: [1, 1], constantValue: 3e9 }), { inputShape: [2] }).dispose();
  });
});
