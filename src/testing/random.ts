// Seeded random sequences for tests (the reference's random_sequence).
import { Sequence, type DType } from '../sequence.js';
import { seededRandom } from '../util/hash.js';

export interface RandomSequenceOptions {
  seed?: number;
  dtype?: DType;
  /** Values uniform in [low, high) (ints: integers in [low, high)); default normal(0, 1) for floats. */
  low?: number;
  high?: number;
  /** Left-aligned random lengths in [lowLength, time] (default true, lowLength 0). */
  randomLengths?: boolean;
  lowLength?: number;
  /** A random, non-contiguous mask instead of lengths. */
  randomMask?: boolean;
}

/** A standard normal sampler from a uniform one (Box-Muller). */
export function normal(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** A random masked sequence: invalid steps hold zeros, as the reference's tests use. */
export function randomSequence(shape: readonly number[], opts: RandomSequenceOptions = {}): Sequence {
  const random = seededRandom(opts.seed ?? 123456789);
  const gauss = normal(random);
  const dtype = opts.dtype ?? 'float32';
  const { values, mask, batch: b, time: t } = Sequence.zeros(shape, dtype, false); // checks the shape and dtype
  const n = values.length;
  const { low, high } = opts;
  for (let i = 0; i < n; i++) {
    if (dtype === 'int32') values[i] = Math.floor((low ?? 0) + random() * ((high ?? 100) - (low ?? 0)));
    else values[i] = low !== undefined && high !== undefined ? low + random() * (high - low) : gauss();
  }
  for (let i = 0; i < b; i++) {
    if (opts.randomMask) {
      for (let j = 0; j < t; j++) mask[i * t + j] = random() < 0.7 ? 1 : 0;
    } else {
      const lo = opts.lowLength ?? 0;
      const len = opts.randomLengths === false ? t : lo + Math.floor(random() * (t - lo + 1));
      mask.fill(1, i * t, i * t + len);
    }
  }
  return new Sequence(values, mask, shape, dtype).maskInvalid();
}
