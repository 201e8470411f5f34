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

/**
 * Per-step union of fields with the same output ratio (Parallel's rule): each map is read at
 * output step k modulo its own phase count, over lcm of the counts.
 */
export function rfAggregate(list: readonly ReceptiveFieldPerStep[], who = 'Parallel'): ReceptiveFieldPerStep {
  const steps = checkRfPhases(list.reduce((n, rf) => lcm(n, rf.size), 1), who);
  const out = new Map<number, ReceptiveField>();
  for (let k = 0; k < steps; k++) out.set(k, list.reduce<ReceptiveField>((u, rf) => rfUnion(u, rf.get(k % rf.size) ?? null), null));
  return out;
}

/**
 * Receptive field of Serial([prev, next]) from next's (already composed) map. An infinite end
 * of next's range sees prev's steps out to infinity on that side; prev's field at step i is
 * its phase's field shifted by floor(i / ratio), which never decreases with i, so the finite
 * side's bound is reached within one period (prev.size steps) of next's finite end.
 */
function propagate(next: ReceptiveFieldPerStep, prev: ReceptiveFieldPerStep, ratioPrev: Fraction, ratioNext: Fraction): ReceptiveFieldPerStep {
  const composed = ratioPrev.mul(ratioNext);
  const period = prev.size;
  const out = new Map<number, ReceptiveField>();
  for (const [step, rfNext] of next) {
    if (!rfNext) {
      out.set(step, null);
      continue;
    }
    const offset = ratioNext.floorDiv(step);
    const start = rfNext[0] + offset, end = rfNext[1] + offset;
    // With both ends infinite, any period says whether prev sees anything at all.
    const first = Number.isFinite(start) ? start : Number.isFinite(end) ? end - period + 1 : 0;
    const last = Number.isFinite(end) ? end : first + period - 1;
    let lo = Infinity, hi = -Infinity;
    for (let i = first; i <= last; i++) {
      const r = rfAt(prev, ratioPrev, i);
      if (!r) continue;
      lo = Math.min(lo, r[0]);
      hi = Math.max(hi, r[1]);
    }
    if (lo > hi) {
      out.set(step, null);
      continue;
    }
    const o = composed.floorDiv(step);
    out.set(step, [(Number.isFinite(start) ? lo : start) - o, (Number.isFinite(end) ? hi : end) - o]);
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
