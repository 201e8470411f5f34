// Isolation: states of one model and models in one runtime never affect each other, and a
// disposed model or state is a DISPOSED error, never silent use of memory that now belongs to
// someone else.
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { codedError as error } from '../errors.js';
import { seededRandom } from '../../src/util/hash.js';
import { SOAK_INPUT_SHAPE, soakConfig } from '../../tools/soak.js';


/** A stream: its model, batch size, input and the block sizes it is fed in. */
interface Stream {
  model: sl.Model;
  input: sl.Sequence;
  blocks: number[];
}

function makeStream(model: sl.Model, batch: number, seed: number): Stream {
  const random = seededRandom(seed);
  const blocks: number[] = [];
  for (let t = 0; t < 48; ) {
    const n = model.blockSize * (1 + Math.floor(random() * 4));
    blocks.push(n);
    t += n;
  }
  const time = blocks.reduce((a, b) => a + b, 0);
  return { model, blocks, input: sl.randomSequence([batch, time, ...model.inputSpec.shape], { seed, randomMask: seed % 2 === 0 }) };
}

/** The stream stepped alone from a fresh state. */
function solo(s: Stream): sl.Sequence {
  return sl.stepByStep(s.model, s.input, s.blocks);
}

const sameBits = (a: sl.Sequence, b: sl.Sequence) =>
  a.shape.join() === b.shape.join() && Buffer.from(a.values.buffer, a.values.byteOffset, a.values.byteLength).equals(Buffer.from(b.values.buffer, b.values.byteOffset, b.values.byteLength)) && a.mask.every((m, i) => m === b.mask[i]);

describe('isolation', () => {
  it('8 streams of conv + LSTM + windowed attention, plus streams of two more models, interleaved at random: each equals its solo run bit for bit', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const a = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 1 });
    const b = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 2 }); // same architecture, other weights
    const c = sl.build(sl.Serial([sl.DepthwiseConv1D({ kernelSize: 4, padding: 'causal' }), sl.GRU({ units: 12 }), sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 6, maxPastHorizon: -1 })]), { inputShape: [5], runtime: rt, seed: 3 });
    const streams = [
      ...Array.from({ length: 8 }, (_, i) => makeStream(a, 1 + (i % 3), 100 + i)),
      makeStream(b, 2, 200),
      makeStream(b, 1, 201),
      makeStream(c, 3, 300),
      makeStream(c, 1, 301),
    ];
    const expected = streams.map(solo);

    const states = streams.map((s) => s.model.initialState(s.input.batch));
    const outputs: sl.Sequence[][] = streams.map(() => []);
    const next = streams.map(() => 0);
    const at = streams.map(() => 0);
    const random = seededRandom(7);
    const scratch = makeStream(c, 2, 400);
    for (let pending = streams.length; pending > 0; ) {
      const i = Math.floor(random() * streams.length);
      const s = streams[i]!;
      if (next[i] === s.blocks.length) continue;
      const n = s.blocks[next[i]!]!;
      outputs[i]!.push(s.model.step(s.input.sliceTime(at[i]!, at[i]! + n), states[i]!));
      at[i]! += n;
      if (++next[i]! === s.blocks.length) pending--;
      // In between: layer() calls, and short-lived states taking and freeing memory.
      if (random() < 0.2) a.layer(streams[0]!.input);
      if (random() < 0.2) {
        const t = c.initialState(2);
        c.step(scratch.input.sliceTime(0, 4), t);
        t.dispose();
      }
    }
    streams.forEach((_, i) => {
      const got = sl.Sequence.concatenate(outputs[i]!);
      expect(sameBits(got, expected[i]!), `stream ${i} differs from its solo run`).toBe(true);
    });
  });

  it('a disposed state is DISPOSED even after its memory went to another state, which is unaffected', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const m = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt });
    const s = makeStream(m, 2, 500);
    const stale = m.initialState(2);
    m.step(s.input.sliceTime(0, 8), stale);
    const ptrs = new Set(stale.slots.flat().map((b) => b.ptr));
    stale.dispose();
    stale.dispose(); // twice is a no-op
    const fresh = m.initialState(2);
    expect(fresh.slots.flat().some((b) => ptrs.has(b.ptr)), 'the allocator reused the freed buffers').toBe(true);
    const x = s.input.sliceTime(0, 8);
    const out = { values: new Float32Array(2 * 8 * 8), mask: new Uint8Array(16) };
    for (const [what, f] of [
      ['step', () => m.step(x, stale)],
      ['stepInto', () => m.stepInto(x, stale, out)],
      ['stepWithEmits', () => m.stepWithEmits(x, stale)],
      ['clone', () => stale.clone()],
      ['toBytes', () => stale.toBytes()],
    ] as const) {
      const e = error(f);
      expect(e.code, what).toBe('DISPOSED');
      expect(e.message, what).toMatch(/this state was disposed/);
    }
    // The state that now owns the memory computes exactly as a state that never shared it.
    expect(sameBits(sl.stepByStep(m, s.input, s.blocks), (() => {
      const outs = [];
      let t = 0;
      for (const n of s.blocks) outs.push(m.step(s.input.sliceTime(t, (t += n)), fresh));
      return sl.Sequence.concatenate(outs);
    })())).toBe(true);
  });

  it('a disposed model is DISPOSED everywhere, and so are its states, after another model took its memory', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const old = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 1 });
    const oldState = old.initialState(1);
    const weights = old.getWeights();
    const snapshot = oldState.toBytes();
    const ptrs = new Set(old.params().map((p) => p.ptr));
    old.dispose();
    old.dispose(); // twice is a no-op
    const taker = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 9 });
    expect(taker.params().some((p) => ptrs.has(p.ptr)), 'the allocator reused the freed parameters').toBe(true);
    const s = makeStream(taker, 1, 600);
    const before = solo(s);
    for (const [what, f] of [
      ['layer', () => old.layer(s.input)],
      ['layerWithEmits', () => old.layerWithEmits(s.input)],
      ['initialState', () => old.initialState(1)],
      ['step', () => old.step(s.input, oldState)],
      ['loadWeights', () => old.loadWeights(weights)],
      ['getWeights', () => old.getWeights()],
      ['restoreState', () => old.restoreState(snapshot)],
      ['state.clone', () => oldState.clone()],
      ['state.toBytes', () => oldState.toBytes()],
    ] as const) {
      expect(error(f).code, what).toBe('DISPOSED');
    }
    // Nothing the stale objects were asked to do reached the new model.
    expect(sameBits(solo(s), before)).toBe(true);
    oldState.dispose();
  });
});
