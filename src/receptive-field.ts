// Receptive-field arithmetic, ported from sequence_layers/jax/utils.py.
//
// A receptive field (start, end) of output step t_o means: it depends on input steps
// [t_i + start, t_i + end] with t_i = floor(t_o / outputRatio). Per-step maps give one entry
// per output phase (period = the number of output steps before the pattern repeats); null
// means that output step depends on no input. Infinite ends are ±Infinity.
import { SeqLayersError, show } from './errors.js';
import { Fraction, gcd, lcm } from './fraction.js';

export type ReceptiveField = readonly [number, number] | null;
export type ReceptiveFieldPerStep = ReadonlyMap<number, ReceptiveField>;

/** The receptive field of a pointwise layer: each output sees only its own input step. */
export const POINT_RF: ReceptiveFieldPerStep = new Map([[0, [0, 0] as const]]);

/**
 * Most output phases a per-step receptive field may have. A resampling model's field repeats
 * every lcm(...) output steps: absurd or coprime rates would make the map (and the work to
 * compose it) grow without bound, so they are a BAD_CONFIG error instead.
 */
export const MAX_RF_PHASES = 1 << 16;

/** Returns `n` (a receptive field's phase count) or throws BAD_CONFIG naming `who` when it is over MAX_RF_PHASES. */
export function checkRfPhases(n: number, who: string): number {
  if (n > MAX_RF_PHASES) {
    throw new SeqLayersError('BAD_CONFIG', `${who}: expected a receptive field that repeats within ${MAX_RF_PHASES} output steps, got one that repeats every ${n} (resampling rates too large, or sharing no factors)`);
  }
  return n;
}

export function rfMap(entries: readonly ReceptiveField[]): ReceptiveFieldPerStep {
  checkRfPhases(entries.length, 'receptive field');
  return new Map(entries.map((rf, i) => [i, rf]));
}

export function validateRFPerStep(rf: ReceptiveFieldPerStep, who: string): void {
  const keys = [...rf.keys()].sort((a, b) => a - b);
  if (keys.length === 0 || keys.some((k, i) => k !== i)) {
    throw new SeqLayersError('BAD_CONFIG', `${who}: receptive field steps must be 0..n-1, got ${show(keys)}`);
  }
  for (const v of rf.values()) {
    if (v && !(v[0] <= v[1])) throw new SeqLayersError('BAD_CONFIG', `${who}: receptive field start must be <= end, got ${show(v)}`);
  }
}

export function rfUnion(a: ReceptiveField, b: ReceptiveField): ReceptiveField {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
}

/** The hull of the per-step fields; null when every step is null. */
export function rfHull(rf: ReceptiveFieldPerStep): ReceptiveField {
  let out: ReceptiveField = null;
  for (const v of rf.values()) out = rfUnion(out, v);
  return out;
}

/** Absolute input range seen by output step `step` of a layer (receptive_field_at). */
export function rfAt(rf: ReceptiveFieldPerStep, ratio: Fraction, step: number): ReceptiveField {
  const n = rf.size;
  const v = rf.get(((step % n) + n) % n)!;
  if (!v) return null;
  const shift = ratio.floorDiv(step);
  return [v[0] + shift, v[1] + shift];
}

/** Per-step union keyed by step index (Parallel's rule). */
export function rfAggregate(list: readonly ReceptiveFieldPerStep[]): ReceptiveFieldPerStep {
  const out = new Map<number, ReceptiveField>();
  for (const rf of list) for (const [k, v] of rf) out.set(k, rfUnion(v, out.get(k) ?? null));
  return out;
}

/** Receptive field of Serial([prev, next]) from next's (already composed) map. */
function propagate(next: ReceptiveFieldPerStep, prev: ReceptiveFieldPerStep, ratioPrev: Fraction, ratioNext: Fraction): ReceptiveFieldPerStep {
  const composed = ratioPrev.mul(ratioNext);
  const out = new Map<number, ReceptiveField>();
  for (const [step, rfNext] of next) {
    if (!rfNext) {
      out.set(step, null);
      continue;
    }
    const offset = ratioNext.floorDiv(step);
    let start = rfNext[0] + offset;
    let end = rfNext[1] + offset;
    const parts: [number, number][] = [];
    if (start === -Infinity && end === Infinity) parts.push([-Infinity, Infinity]);
    else {
      if (start === -Infinity) parts.push([-Infinity, -Infinity]);
      if (end === Infinity) parts.push([Infinity, Infinity]);
      if (start === -Infinity) start = end;
      end = end === Infinity ? start + 1 : end + 1;
      for (let i = start; i < end; i++) {
        const r = rfAt(prev, ratioPrev, i);
        if (r) parts.push([r[0], r[1]]);
      }
    }
    if (!parts.length) {
      out.set(step, null);
      continue;
    }
    const o = composed.floorDiv(step);
    out.set(step, [Math.min(...parts.map((p) => p[0])) - o, Math.max(...parts.map((p) => p[1])) - o]);
  }
  return out;
}

/** receptive_field_per_step_of_serial_layers */
export function rfSerial(layers: readonly { receptiveFieldPerStep: ReceptiveFieldPerStep; outputRatio: Fraction }[], who = 'Serial'): ReceptiveFieldPerStep {
  if (!layers.length) return POINT_RF;
  // The composed field repeats once every layer's own pattern repeats at the output rate: layer
  // i's phases (L_i of them) advance by S * den(A_i) / num(A_i) per S output steps, A_i being
  // the ratio of the layers after it, and the whole input index by S / ratio.
  let steps = 1, after = Fraction.ONE;
  for (let i = layers.length - 1; i >= 0; i--) {
    const n = layers[i]!.receptiveFieldPerStep.size;
    steps = lcm(steps, after.num * (n / gcd(n, after.den)));
    after = after.mul(layers[i]!.outputRatio);
  }
  steps = checkRfPhases(lcm(steps, after.num), who);
  let rf: ReceptiveFieldPerStep = new Map(Array.from({ length: steps }, (_, k) => [k, [0, 0] as const]));
  let acc = Fraction.ONE;
  for (let i = layers.length - 1; i >= 0; i--) {
    rf = propagate(rf, layers[i]!.receptiveFieldPerStep, layers[i]!.outputRatio, acc);
    acc = acc.mul(layers[i]!.outputRatio);
  }
  return rf;
}
