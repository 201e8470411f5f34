// Runs the oracle fixtures written by tools/*.py (see tools/fixtures_common.py) through seqlayers.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import * as sl from '../src/index.js';

export interface FixtureCase {
  name: string;
  config: sl.LayerConfig;
  input_dtype: 'float32' | 'int32';
  input: { shape: number[]; values: number[] };
  lengths?: number[];
  /** An explicit [B, T] input mask (instead of lengths). */
  input_mask?: number[];
  /** Constants by key: a Sequence (with lengths or mask) or, kind 'array', a plain array. */
  constants?: Record<string, FixtureConstant>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  output: { shape: number[]; values: number[] };
  /** The expected [B, T'] output mask; without it, the output mask must be the input's. */
  output_mask?: number[];
  /** The reference's step() output over blocks of `block` steps, flushed by its latency (tools/fixtures_reference.py, for per-step constants). */
  step_output?: { block: number; shape: number[]; values: number[] };
  /** The reference's own metadata of the model (tools/fixtures_reference.py); receptive field ends 'inf' / '-inf' when unbounded. */
  metadata?: {
    block_size: number;
    output_ratio: [number, number];
    input_latency: number;
    output_latency: number;
    supports_step: boolean;
    receptive_field: [number | string, number | string] | null;
  };
  /** How `weights` names the parameters (default seqlayers paths; 'flax' in tools/fixtures_reference.py). */
  weight_naming?: sl.WeightNaming;
  rtol: number;
  atol: number;
}

export interface FixtureConstant {
  kind: 'sequence' | 'array';
  dtype?: 'float32' | 'int32';
  shape: number[];
  values: number[];
  lengths?: number[];
  mask?: number[];
}

/** The case's constants as seqlayers Constants (undefined when it has none). */
export function fixtureConstants(c: FixtureCase): sl.Constants | undefined {
  if (!c.constants) return undefined;
  const out: Record<string, sl.Sequence | sl.ConstantArray> = {};
  for (const [k, v] of Object.entries(c.constants)) {
    const values = v.dtype === 'int32' ? Int32Array.from(v.values) : Float32Array.from(v.values);
    if (v.kind === 'array') out[k] = { values, shape: v.shape };
    else if (v.mask) out[k] = new sl.Sequence(values, Uint8Array.from(v.mask), v.shape, v.dtype ?? 'float32');
    else out[k] = v.lengths ? sl.Sequence.fromLengths(values, v.shape, v.lengths, v.dtype) : sl.Sequence.fromValues(values, v.shape, v.dtype);
  }
  return out;
}

export function loadFixture(name: string): { source: string; cases: FixtureCase[] } {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'));
}

/** Builds the case's model, loads its weights, and returns it with the case's input. */
export function fixtureModel(c: FixtureCase): { model: sl.Model; x: sl.Sequence } {
  const [b, t, ...channels] = c.input.shape as [number, number, ...number[]];
  const model = sl.build(c.config, { inputShape: channels, inputDtype: c.input_dtype, constants: fixtureConstants(c) });
  const weights: Record<string, sl.Tensor> = {};
  for (const [k, w] of Object.entries(c.weights)) weights[k] = { dtype: 'F32', shape: w.shape, data: Float32Array.from(w.values) };
  model.loadWeights(weights, { naming: c.weight_naming });
  const values = c.input_dtype === 'int32' ? Int32Array.from(c.input.values) : Float32Array.from(c.input.values);
  const x = c.input_mask
    ? new sl.Sequence(values, Uint8Array.from(c.input_mask), c.input.shape, c.input_dtype)
    : c.lengths ? sl.Sequence.fromLengths(values, c.input.shape, c.lengths, c.input_dtype) : sl.Sequence.fromValues(values, [b, t, ...channels], c.input_dtype);
  return { model, x };
}

/**
 * Asserts layer() matches the oracle: output shape, output mask (the case's output_mask, else the
 * input's), and values at valid steps, of which there must be at least one unless the oracle's
 * output has no values at all (an empty channel shape, e.g. a slice past the end of an axis).
 */
export function checkFixtureCase(c: FixtureCase): void {
  const { model, x } = fixtureModel(c);
  try {
    const y = model.layer(x, { constants: fixtureConstants(c) });
    expect(y.shape, `${c.name}: output shape`).toEqual(c.output.shape);
    expect([...y.mask], `${c.name}: output mask`).toEqual(c.output_mask ?? [...x.mask]);
    const row = y.values.length / y.mask.length;
    let compared = 0;
    for (let i = 0; i < y.mask.length; i++) {
      if (!y.mask[i]) continue;
      for (let j = i * row; j < (i + 1) * row; j++) {
        // Oracle floats are written as the shortest decimal of a float32 (tools/fixtures_common.py f32).
        const got = y.values[j]!, want = y.dtype === 'int32' ? c.output.values[j]! : Math.fround(c.output.values[j]!);
        const err = Math.abs(got - want) - c.rtol * Math.abs(want);
        if (!(err <= c.atol)) expect.fail(`${c.name}: value ${j} is ${got}, oracle says ${want}`);
        compared++;
      }
    }
    if (compared === 0 && c.output.values.length > 0) expect.fail(`${c.name}: no valid output step, so no value was compared`);
  } finally {
    model.dispose();
  }
}
