// Layers written the way a user writes their own (JS loops over WebAssembly memory, no kernels):
// correct ones for testing the core, and broken ones that verifyContract must catch.
import * as sl from '../../src/index.js';
import type { RunContext, WSeq } from '../../src/index.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** y = x * scale (param `scale` [C]). */
class TestScale extends sl.Layer {
  private readonly scale = this.param('scale', [size(this.input.shape)], (out) => out.fill(2));
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const c = size(this.input.shape);
    const y = this.allocOutput(ctx, x.batch, x.time);
    const f = ctx.rt.f32;
    for (let i = 0; i < x.batch * x.time * c; i++) f[(y >> 2) + i] = f[(x.values >> 2) + i]! * f[(this.scale.ptr >> 2) + (i % c)]!;
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/**
 * y[t] = x[t] + x[t - 1] (invalid steps count as 0), keeping x[t - 1] as state: a minimal
 * stateful layer with receptive field (-1, 0). `bug` selects a broken variant.
 */
class TestPairSum extends sl.Layer {
  constructor(config: sl.LayerConfig, ctx: sl.BuildContext) {
    super(config, ctx);
    const bug = config.bug as string;
    this.receptiveFieldPerStep = new Map([[0, bug === 'rf' ? [0, 0] : [-1, 0]]]);
    if (bug === 'shape') this.output = { shape: [size(this.input.shape) + 1], dtype: 'float32' };
  }
  /** bug 'length': declares one step more than layer() returns. */
  layerOutputTime(time: number): number {
    return this.config.bug === 'length' ? time + 1 : time;
  }
  stateSpecs(batch: number): sl.StateSpec[] {
    return [{ name: 'previous', dtype: 'float32', shape: [batch, 1, size(this.input.shape)] }];
  }
  private run(x: WSeq, ctx: RunContext, prev: Float32Array | null): WSeq {
    const bug = this.config.bug;
    const c = size(this.input.shape);
    const y = ctx.alloc(x.batch * x.time * c * 4);
    const f = ctx.rt.f32, m = ctx.rt.u8;
    for (let b = 0; b < x.batch; b++) {
      for (let k = 0; k < c; k++) {
        let last = prev ? prev[b * c + k]! : 0;
        // bug 'nan': 0 * (a sum including invalid steps) is NaN as soon as one of them is NaN.
        let leak = 0;
        if (bug === 'nan') for (let t = 0; t < x.time; t++) leak += 0 * f[(x.values >> 2) + (b * x.time + t) * c + k]!;
        for (let t = 0; t < x.time; t++) {
          const i = (b * x.time + t) * c + k;
          const valid = m[x.mask + b * x.time + t] === 1;
          let v = valid ? f[(x.values >> 2) + i]! : 0;
          if (bug === 'batch' && b > 0 && m[x.mask + t] === 1) v += f[(x.values >> 2) + t * c + k]!;
          f[(y >> 2) + i] = v + last + leak + (bug === 'step' && prev ? 1 : 0);
          last = v;
        }
        if (prev) prev[b * c + k] = last;
      }
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.run(x, ctx, null);
  }
  runStep(x: WSeq, ctx: RunContext): WSeq {
    const buf = this.stateOf(ctx)[0]!;
    const prev = ctx.rt.f32.subarray(buf.ptr >> 2, (buf.ptr + buf.bytes) >> 2);
    return this.run(x, ctx, prev);
  }
}

sl.registerLayers([
  sl.defineLayer({ type: 'TestScale', fields: {}, create: (c, ctx) => new TestScale(c, ctx) }),
  sl.defineLayer({
    type: 'TestPairSum',
    fields: { bug: sl.f.oneOf(['none', 'step', 'nan', 'batch', 'rf', 'shape', 'length']).default('none') },
    create: (c, ctx) => new TestPairSum(c, ctx),
  }),
]);

export const TestScaleConfig = { type: 'TestScale' };
export const TestPairSumConfig = (bug = 'none') => ({ type: 'TestPairSum', bug });
