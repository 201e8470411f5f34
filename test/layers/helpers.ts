// Shared by the layer tests: random weights, parameter shapes, and the error of a failing build.
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

/**
 * Replaces every parameter by center + scale * normal noise (seeded), so a zero-initialised
 * bias cannot hide a bug (the reference's randomize_weights); returns the model.
 */
export function randomizeWeights(model: sl.Model, seed = 1, scale = 1, center = 0): sl.Model {
  const g = sl.normal(seededRandom(seed));
  const w = model.getWeights();
  for (const t of Object.values(w)) {
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = center + scale * g();
  }
  model.loadWeights(w);
  return model;
}

/** A model built by `build` and the WebAssembly heap bytes building it took (parameters, packings). */
export function heldBytes(build: () => sl.Model): { m: sl.Model; bytes: number } {
  const heap = sl.getRuntime().heap;
  const before = heap.inUse, m = build();
  return { m, bytes: heap.inUse - before };
}

/** RMS of got - want relative to the RMS of want. */
export function rmsRelativeError(want: ArrayLike<number>, got: ArrayLike<number>): number {
  let e2 = 0, y2 = 0;
  for (let i = 0; i < want.length; i++) {
    e2 += (got[i]! - want[i]!) ** 2;
    y2 += want[i]! ** 2;
  }
  return Math.sqrt(e2 / y2);
}

/** Parameter shapes by name. */
export const paramShapes = (model: sl.Model) => Object.fromEntries(Object.entries(model.getWeights()).map(([k, t]) => [k, t.shape]));

/** The error building `config` throws; fails the test when it builds. */
export function buildError(config: object, inputShape = [4]): sl.SeqLayersError {
  try {
    sl.build(config, { inputShape });
  } catch (e) {
    return e as sl.SeqLayersError;
  }
  throw new Error('expected build to fail');
}
