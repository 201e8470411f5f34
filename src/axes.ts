// Axis arithmetic shared by the layer families. Channel axes are given the reference's way: an
// index into the full [batch, time, ...channels] rank, negatives counting from the end, batch
// (0) and time (1) refused (the reference's _validate_and_normalize_axes in normalization.py,
// _validate_and_normalize_axis in dsp.py, and the checks of Softmax and
// ApplyRotaryPositionalEncoding). Layers keep their own wording of the error; the rule and the
// numbers in it live here.
import { show } from './errors.js';
import type { Layer } from './layer.js';

/** "[batch, time, 4, 5]": a full input shape for messages. */
export const showFullShape = (shape: readonly number[]) => `[batch, time${shape.map((d) => `, ${d}`).join('')}]`;

/** "input [batch, time, 4, 5]" for messages. */
export const showInput = (shape: readonly number[]) => `input ${showFullShape(shape)}`;

/** What an axis error can say: why the axis was refused, and the numbers around it. */
export interface AxisError {
  /** The axis names batch, time, or nothing at all. */
  readonly problem: 'batch' | 'time' | 'range';
  /** The accepted full-rank indices, e.g. "2..3 or -2..-1". */
  readonly range: string;
  /** The field's value as given, e.g. "[-1, -2]". */
  readonly value: string;
  /** The input, e.g. "input [batch, time, 4, 5]". */
  readonly input: string;
}

/**
 * Channel indices (0 = first channel axis) of full-rank `axes`, in the order given (no
 * sorting or deduplication). An axis that is batch, time or out of range throws BAD_CONFIG
 * with the text `message` makes of it.
 */
export function channelAxes(layer: Layer, axes: number | readonly number[], shape: readonly number[], message: (e: AxisError) => string): number[] {
  const rank = shape.length + 2;
  return (typeof axes === 'number' ? [axes] : axes).map((a) => {
    const full = a < 0 ? a + rank : a;
    if (full >= 2 && full < rank) return full - 2;
    const problem = full === 0 ? 'batch' : full === 1 ? 'time' : 'range';
    throw layer.error('BAD_CONFIG', message({ problem, range: `2..${rank - 1} or ${2 - rank}..-1`, value: show(axes), input: showInput(shape) }));
  });
}

/**
 * The usual wording of an axis error in field `field`: "<field>: the batch and time axes (0, 1)
 * cannot be used, got ..." or "<field>: expected <expected> in 2..3 or -2..-1, got ...".
 */
export const axesMessage = (field: string, expected = 'channel axes') => (e: AxisError) =>
  `${field}: ${e.problem === 'range' ? `expected ${expected} in ${e.range}` : 'the batch and time axes (0, 1) cannot be used'}, got ${e.value} for ${e.input}`;

/** Runs of neighbouring axes of `shape` that are all reduced (in `axes`) or all kept, each with its total size. */
export function reductionGroups(shape: readonly number[], axes: readonly number[]): { size: number; reduced: boolean }[] {
  const groups: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, i) => {
    const reduced = axes.includes(i), last = groups.at(-1);
    if (last && last.reduced === reduced) last.size *= d;
    else groups.push({ size: d, reduced });
  });
  return groups;
}
