import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';

beforeAll(async () => {
  await sl.init();
});

describe('Serial', () => {
  it('composes children and passes the contract', () => {
    const m = sl.build(sl.Serial([sl.Relu(), sl.Identity(), sl.Relu()]), { inputShape: [5] });
    const r = sl.verifyContract(m);
    expect(r.checks).toContain('receptive field');
    expect(m.blockSize).toBe(1);
  });
  it('is the identity when empty', () => {
    const m = sl.build(sl.Serial([]), { inputShape: [2] });
    sl.verifyContract(m);
    expect(m.receptiveField).toEqual([0, 0]);
  });
});

describe('Parallel', () => {
  for (const combination of ['stack', 'concat', 'add', 'mean', 'product'] as const) {
    it(`combines with ${combination}`, () => {
      const m = sl.build(sl.Parallel([sl.Relu(), sl.Identity()], { combination }), { inputShape: [3] });
      sl.verifyContract(m);
      const x = sl.Sequence.fromValues([1, -2, 3], [1, 1, 3]);
      const y = [...m.layer(x).values];
      const expected = {
        stack: [1, 0, 3, 1, -2, 3],
        concat: [1, 0, 3, 1, -2, 3],
        add: [2, -2, 6],
        mean: [1, -1, 3],
        product: [1, -0, 9],
      }[combination];
      expect(y).toEqual(expected);
      expect(m.outputShape()).toEqual({ stack: [2, 3], concat: [6], add: [3], mean: [3], product: [3] }[combination]);
    });
  }
  it('accepts the reference enum spelling', () => {
    const m = sl.build({ type: 'Parallel', layers: [{ type: 'Relu' }], combination: 'CombinationMode.ADD' }, { inputShape: [2] });
    expect(m.toConfig().combination).toBe('add');
  });
});

describe('Residual', () => {
  it('adds the body to the input', () => {
    const m = sl.build(sl.Residual([sl.Relu()]), { inputShape: [2] });
    sl.verifyContract(m);
    const y = m.layer(sl.Sequence.fromValues([1, -2], [1, 1, 2]));
    expect([...y.values]).toEqual([2, -2]);
  });
});
