// What crosses to a model worker and back: batches of step calls and their outcomes, packed into
// one buffer per message, come out as they went in (every dtype, shapes, masks, snapshots,
// constants, flags, refusals and lost states, in order).
import { describe, expect, it } from 'vitest';
import { Sequence } from '../../src/sequence.js';
import { constantsFromWire, constantsToWire, decodeStepBatch, decodeStepOutcomes, encodeStepBatch, encodeStepOutcomes, type StepCall, type StepOutcome, type WireConstants, type WireSequence } from '../../src/workers/protocol.js';

const wire = (values: Float32Array | Int32Array, shape: number[], dtype: WireSequence['dtype'], mask: number[]): WireSequence => ({ values, mask: Uint8Array.from(mask), shape, dtype });

/** Arrays compared by type and contents, as structured clone would deliver them. */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_, v) => (ArrayBuffer.isView(v) ? { [v.constructor.name]: [...(v as Uint8Array)] } : v)));

describe('step batches', () => {
  it('decode to the calls encoded, each array a view of the one buffer transferred', () => {
    const inner = new Float32Array([9, 1, 2, 3, 4, 5, 6, 9]).subarray(1, 7); // a view: only its own elements go
    const calls: StepCall[] = [
      { stream: 3, blocks: [wire(inner, [1, 2, 3], 'float32', [1, 0])], req: { snapshot: true, discard: false } },
      {
        stream: 7,
        blocks: [wire(Int32Array.of(4, -5, 6), [3, 1], 'int32', [1, 1, 0]), wire(new Float32Array([1, 2, 3, 4]), [1, 1, 2], 'complex64', [1])],
        req: { snapshot: false, discard: true, constants: [{ ids: { kind: 'array', values: Int32Array.of(2), shape: [1, 1] } }, null] },
      },
      { stream: 1, blocks: [], req: { snapshot: true, discard: false } },
    ];
    const batch = encodeStepBatch(calls);
    expect(batch.arrays.data.byteLength).toBe(24 + 8 + 16 + 8 + 16 + 8); // each array 8-aligned
    const back = decodeStepBatch(structuredClone(batch, { transfer: [batch.arrays.data] }));
    expect(plain(back)).toEqual(plain(calls));
    expect(back[0]!.blocks[0]!.values).toBeInstanceOf(Float32Array);
    expect(back[1]!.blocks[0]!.values).toBeInstanceOf(Int32Array);
    expect(back[1]!.blocks[0]!.values.buffer).toBe(back[0]!.blocks[0]!.values.buffer);
  });

  it('replies decode to their outcomes in order, each array with a buffer of its own', () => {
    const outcomes: StepOutcome[] = [
      { reply: { outputs: [wire(new Float32Array([1, 2]), [1, 2, 1], 'float32', [1, 1])], snapshot: Uint8Array.of(5, 6, 7) } },
      { error: '[BAD_INPUT] step: expected 8 channels, got 7' },
      { reply: { outputs: [], lost: '[MEMORY_BUDGET] scratch' } },
      { reply: { outputs: [wire(Int32Array.of(1), [1, 1], 'int32', [0]), wire(new Float32Array(0), [1, 0, 4], 'float32', [])] } },
    ];
    const reply = encodeStepOutcomes(outcomes);
    const back = decodeStepOutcomes(structuredClone(reply, { transfer: [reply.arrays.data] }));
    expect(plain(back)).toEqual(plain(outcomes));
    const first = back[0] as { reply: { outputs: WireSequence[]; snapshot: Uint8Array } };
    expect(first.reply.outputs[0]!.values.buffer.byteLength).toBe(8);
    expect(first.reply.snapshot.buffer.byteLength).toBe(3);
  });
});

describe('constants on the wire', () => {
  it('a malformed message (a port anyone can post to) is BAD_INPUT naming what arrived, not a TypeError', () => {
    for (const [wire, got] of [[undefined, 'undefined'], [null, 'null'], [7, '7'], [{ speaker: null }, 'null'], [{ speaker: { kind: 'tensor' } }, '{"kind":"tensor"}']] as const) {
      expect(() => constantsFromWire(wire as unknown as WireConstants)).toThrow(`[BAD_INPUT] constants: expected an object of { kind: "sequence" or "array", values, shape } by name, got ${got}`);
    }
    const vector = { values: new Float32Array(3), shape: [1, 3] };
    expect(constantsFromWire({ vector: { kind: 'array', ...vector } })).toEqual({ vector });
  });

  it("copies for keeps are real copies, a Node Buffer mask too (its slice() is a view): the caller's arrays stay the caller's", () => {
    const mask = Buffer.alloc(2, 1);
    const source = new Sequence(new Float32Array([1, 2]), mask, [1, 2, 1]);
    const wire = constantsToWire({ source }, 'push', true);
    mask.fill(0);
    source.values.fill(0);
    expect(plain(wire)).toEqual({ source: { kind: 'sequence', values: { Float32Array: [1, 2] }, mask: { Uint8Array: [1, 1] }, shape: [1, 2, 1], dtype: 'float32' } });
    // Not kept: a Buffer from Node's shared pool is still sent alone, not with the whole pool.
    const pooled = Buffer.from([1, 1]);
    expect(pooled.buffer.byteLength).toBeGreaterThan(2);
    const sent = constantsToWire({ source: new Sequence(new Float32Array(2), pooled, [1, 2, 1]) }, 'push').source as { mask: Uint8Array };
    expect(sent.mask.buffer.byteLength).toBe(2);
  });
});
