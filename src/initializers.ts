// Parameter initialisers (seeded). Models normally load trained weights; these give a built
// model sensible random values, as the reference's defaults do.
import type { Initializer } from './layer.js';
import { normal } from './testing/random.js';

export const zeros: Initializer = (out) => out.fill(0);
export const ones: Initializer = (out) => out.fill(1);
export const constant = (v: number): Initializer => (out) => out.fill(v);

/** Uniform in [-limit, limit]. */
export const uniform = (limit: number): Initializer => (out, random) => {
  for (let i = 0; i < out.length; i++) out[i] = (2 * random() - 1) * limit;
};

/** Normal(0, std). */
export const gaussian = (std: number): Initializer => (out, random) => {
  const g = normal(random);
  for (let i = 0; i < out.length; i++) out[i] = g() * std;
};

/** Glorot (Xavier) uniform: limit sqrt(6 / (fanIn + fanOut)). */
export const glorotUniform = (fanIn: number, fanOut: number): Initializer => uniform(Math.sqrt(6 / Math.max(1, fanIn + fanOut)));

/** LeCun normal: std sqrt(1 / fanIn) (flax's default kernel init). */
export const lecunNormal = (fanIn: number): Initializer => gaussian(Math.sqrt(1 / Math.max(1, fanIn)));
