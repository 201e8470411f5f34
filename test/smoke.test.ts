import { describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';

describe('smoke', () => {
  it('runs', async () => {
    const info = await sl.init();
    console.log(info);
    const m = sl.build(sl.Serial([sl.Relu(), sl.Identity()]), { inputShape: [3] });
    const x = sl.Sequence.fromValues([1, -2, 3, -4, 5, -6], [1, 2, 3]);
    const y = m.layer(x);
    expect([...y.values]).toEqual([1, 0, 3, 0, 5, 0]);
  });
});
