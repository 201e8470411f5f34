// Combinators: layers made of layers. Port of sequence_layers/jax/combinators.py.
import { BroadcastPlan, broadcastOrThrow, contiguousStrides, Op } from './broadcast.js';
import { defineLayer, f, type LayerConfig, type Resolved } from './config.js';
import { Fraction, lcm } from './fraction.js';
import { Layer, product, stepBytes, type BuildContext, type ChannelSpec, type RunContext, type WSeq } from './layer.js';
import { rfAggregate, rfAt, rfSerial, rfUnion, type ReceptiveField } from './receptive-field.js';
import { SeqLayersError, show } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Metadata of children run one after another (serial_block_size & co. in the reference's utils).

interface Meta {
  blockSize: number;
  outputRatio: Fraction;
  inputLatency: number;
  accumulatedInputLatency(l: number): number;
  accumulatedOutputLatency(l: number): number;
}

export function serialBlockSize(layers: readonly Meta[]): number {
  let block = Fraction.ONE;
  let ratio = Fraction.ONE;
  for (const l of layers) {
    const seen = block.mul(ratio); // inputs child l receives per `block` outer inputs
    if (seen.den !== 1) throw new SeqLayersError('BAD_CONFIG', `serial block size: ${block} outer steps give ${seen} inner steps, not an integer`);
    block = new Fraction(lcm(seen.num, l.blockSize)).div(ratio);
    ratio = ratio.mul(l.outputRatio);
  }
  return block.num / block.den;
}

export function serialInputLatency(layers: readonly Meta[]): number {
  return layers.reduceRight((l, layer) => layer.accumulatedInputLatency(l), 0);
}

export function serialOutputLatency(layers: readonly Meta[]): number {
  return layers.reduce((l, layer) => layer.accumulatedOutputLatency(l), 0);
}

/** Sets a layer's metadata to that of its children run in series. */
function setSerialMetadata(self: Layer, layers: readonly Layer[]): void {
  self.outputRatio = layers.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
  self.blockSize = serialBlockSize(layers);
  self.inputLatency = serialInputLatency(layers);
  self.outputLatency = serialOutputLatency(layers);
  self.supportsStep = layers.every((l) => l.supportsStep);
  self.receptiveFieldPerStep = rfSerial(layers);
}

// ---------------------------------------------------------------------------------------------
// Serial

const serialFields = {
  /** Child layers, applied in order. */
  layers: f.layers(),
};

export class SerialLayer extends Layer {
  constructor(config: Resolved<typeof serialFields>, ctx: BuildContext) {
    super(config, ctx);
    let spec = ctx.input;
    config.layers.forEach((c, i) => {
      spec = this.child(c, `layers.${i}`, spec).output;
    });
    this.output = spec;
    setSerialMetadata(this, this.children);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    for (const l of this.children) x = l.runLayer(x, ctx);
    return x;
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    for (const l of this.children) x = l.runStep(x, ctx);
    return x;
  }
}

// ---------------------------------------------------------------------------------------------
// Combination of several branches (CombinationMode in the reference's utils)

export const COMBINATIONS = ['stack', 'concat', 'add', 'mean', 'product'] as const;
export type Combination = (typeof COMBINATIONS)[number];

/** A combination mode; the reference's enum spellings ('STACK', 'CombinationMode.STACK') load too. */
export const combinationField = () =>
  f
    .custom<Combination>(`one of ${COMBINATIONS.map((c) => JSON.stringify(c)).join(', ')}`, (v) => {
      const s = typeof v === 'string' ? v.replace(/^CombinationMode\./, '').toLowerCase() : v;
      return COMBINATIONS.includes(s as Combination) ? (s as Combination) : undefined;
    })
    .default('stack');

/** Output channel shape of combining branches of these channel shapes. */
export function combinedShape(mode: Combination, shapes: readonly (readonly number[])[], who: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const padded = shapes.map((s) => [...Array(rank - s.length).fill(1), ...s] as number[]);
  switch (mode) {
    case 'stack':
      return [shapes.length, ...broadcastOrThrow(padded, who)];
    case 'concat': {
      const outer = broadcastOrThrow(padded.map((s) => s.slice(0, -1)), who);
      const last = padded.reduce((a, s) => a + (s.length ? s[s.length - 1]! : 1), 0);
      return [...outer, last];
    }
    default:
      return broadcastOrThrow(padded, who);
  }
}

/**
 * Combines branch outputs [rows, ...shape_i] into [rows, ...outShape] with one strided kernel
 * call per branch; masks are AND-ed. Plans are made once at build time.
 */
export class Combiner {
  readonly outShape: number[];
  private readonly plans: BroadcastPlan[] = [];
  private readonly offsets: number[] = [];

  constructor(
    readonly mode: Combination,
    shapes: readonly (readonly number[])[],
    who: string,
  ) {
    this.outShape = combinedShape(mode, shapes, who);
    const out = this.outShape;
    const rows = product(out);
    const perRow = (shape: readonly number[]) => ({ shape, perRow: true });
    if (mode === 'stack') {
      const inner = out.slice(1);
      shapes.forEach((s, i) => {
        this.plans.push(new BroadcastPlan(inner, perRow(s), perRow(s), { strides: contiguousStrides(inner), rowStride: rows }));
        this.offsets.push(i * product(inner));
      });
    } else if (mode === 'concat') {
      const strides = contiguousStrides(out);
      let at = 0;
      for (const s of shapes) {
        const last = s.length ? s[s.length - 1]! : 1;
        const target = [...out.slice(0, -1), last];
        const own = s.length ? s : [1];
        this.plans.push(new BroadcastPlan(target, perRow(own), perRow(own), { strides, rowStride: rows }));
        this.offsets.push(at);
        at += last;
      }
    } else {
      shapes.forEach((s, i) => {
        this.plans.push(i === 0 ? new BroadcastPlan(out, perRow(s), perRow(s)) : new BroadcastPlan(out, perRow(out), perRow(s)));
        this.offsets.push(0);
      });
    }
  }

  /** y = combine(inputs) over `rows` rows; y must hold rows * product(outShape) floats. */
  run(ctx: RunContext, rows: number, inputs: readonly number[], y: number): void {
    const mode = this.mode;
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i]!;
      if (mode === 'stack' || mode === 'concat' || i === 0) {
        this.plans[i]!.run(ctx, Op.copy, rows, x, x, y + 4 * this.offsets[i]!);
      } else {
        this.plans[i]!.run(ctx, mode === 'product' ? Op.mul : Op.add, rows, y, x, y);
      }
    }
    if (mode === 'mean') {
      const n = rows * product(this.outShape);
      ctx.rt.k.f32_vscale_shift(n, y, 1 / inputs.length, 0, y);
    }
  }
}

/** mask = AND of the given masks into a new scratch mask of n steps. */
function andMasks(ctx: RunContext, masks: readonly number[], n: number): number {
  if (masks.length === 1) return masks[0]!;
  const out = ctx.alloc(n);
  ctx.rt.k.mask_and(n, masks[0]!, masks[1]!, out);
  for (let i = 2; i < masks.length; i++) ctx.rt.k.mask_and(n, out, masks[i]!, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parallel

const parallelFields = {
  /** Branches, all fed the same input. */
  layers: f.layers(),
  /** How branch outputs are combined: stack (new first channel axis), concat (last axis), add, mean, product. */
  combination: combinationField(),
};

export class ParallelLayer extends Layer {
  private readonly combiner: Combiner | null;
  private readonly ptrs: number[];
  private readonly masks: number[];

  constructor(config: Resolved<typeof parallelFields>, ctx: BuildContext) {
    super(config, ctx);
    const mode = config.combination;
    config.layers.forEach((c, i) => this.child(c, `layers.${i}`, ctx.input));
    const ls = this.children;
    this.ptrs = ls.map(() => 0);
    this.masks = ls.map(() => 0);
    if (!ls.length) {
      this.combiner = null;
      return;
    }
    const first = ls[0]!;
    for (const l of ls) {
      if (!l.outputRatio.equals(first.outputRatio)) {
        throw this.error('BAD_CONFIG', `expected every branch to have the same output ratio, got ${ls.map((b) => b.outputRatio.toString()).join(', ')}`);
      }
      if (l.inputLatency !== first.inputLatency || l.outputLatency !== first.outputLatency) {
        throw this.error('BAD_CONFIG', `expected every branch to have the same input/output latency, got ${ls.map((b) => `${b.inputLatency}/${b.outputLatency}`).join(', ')}`);
      }
      if (l.output.dtype !== first.output.dtype) throw this.error('BAD_CONFIG', `expected every branch to output the same dtype, got ${ls.map((b) => b.output.dtype).join(', ')}`);
    }
    this.combiner = new Combiner(mode, ls.map((l) => l.output.shape), this.where);
    this.output = { shape: this.combiner.outShape, dtype: first.output.dtype };
    this.outputRatio = first.outputRatio;
    this.blockSize = ls.reduce((b, l) => lcm(b, l.blockSize), 1);
    this.inputLatency = first.inputLatency;
    this.outputLatency = first.outputLatency;
    this.supportsStep = ls.every((l) => l.supportsStep);
    this.receptiveFieldPerStep = rfAggregate(ls.map((l) => l.receptiveFieldPerStep));
  }

  private combine(x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    if (!this.combiner) return x;
    let time = 0;
    const ls = this.children;
    for (let i = 0; i < ls.length; i++) {
      const y = stepping ? ls[i]!.runStep(x, ctx) : ls[i]!.runLayer(x, ctx);
      if (i === 0) time = y.time;
      else if (y.time !== time) throw this.error('BAD_INPUT', `branches produced different lengths (${time} and ${y.time} steps)`);
      this.ptrs[i] = y.values;
      this.masks[i] = y.mask;
    }
    const out = this.allocOutput(ctx, x.batch, time);
    this.combiner.run(ctx, x.batch * time, this.ptrs, out);
    return this.result(out, andMasks(ctx, this.masks, x.batch * time), x.batch, time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.combine(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.combine(x, ctx, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Residual

const residualFields = {
  /** The body, applied in series. */
  layers: f.layers(),
  /** The shortcut, applied in series (null: identity). */
  shortcutLayers: f.layers().opt(),
};

export class ResidualLayer extends Layer {
  private readonly body: Layer[];
  private readonly shortcut: Layer[];

  constructor(config: Resolved<typeof residualFields>, ctx: BuildContext) {
    super(config, ctx);
    const chain = (configs: readonly LayerConfig[], field: string): Layer[] => {
      let spec: ChannelSpec = ctx.input;
      return configs.map((c, i) => {
        const l = this.child(c, `${field}.${i}`, spec);
        spec = l.output;
        return l;
      });
    };
    this.body = chain(config.layers, 'layers');
    this.shortcut = chain(config.shortcutLayers ?? [], 'shortcut_layers');
    const bodySpec = this.body.at(-1)?.output ?? ctx.input;
    const spec = this.shortcut.at(-1)?.output ?? ctx.input;
    if (bodySpec.dtype !== spec.dtype || bodySpec.shape.join() !== spec.shape.join()) {
      throw this.error('BAD_CONFIG', `expected the body and the shortcut to output the same channel shape, got ${show(bodySpec.shape)} and ${show(spec.shape)}`);
    }
    this.output = bodySpec;
    const s = this.shortcut;
    const bodyRatio = this.body.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
    const shortRatio = s.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
    if (!bodyRatio.equals(shortRatio)) throw this.error('BAD_CONFIG', `expected body and shortcut output ratios to match, got ${bodyRatio} and ${shortRatio}`);
    const lat = [serialInputLatency(this.body), serialInputLatency(s)];
    const outLat = [serialOutputLatency(this.body), serialOutputLatency(s)];
    if (lat[0] !== lat[1] || outLat[0] !== outLat[1]) {
      throw this.error('BAD_CONFIG', `expected body and shortcut latencies to match, got input ${lat[0]}/${lat[1]} and output ${outLat[0]}/${outLat[1]}; add a Delay to the shortcut`);
    }
    this.outputRatio = bodyRatio;
    this.blockSize = lcm(serialBlockSize(this.body), serialBlockSize(s));
    this.inputLatency = lat[0]!;
    this.outputLatency = outLat[0]!;
    this.supportsStep = [...this.body, ...s].every((l) => l.supportsStep);
    const rfBody = rfSerial(this.body);
    const rfShort = rfSerial(s);
    const steps = lcm(rfBody.size, rfShort.size);
    const rf = new Map<number, ReceptiveField>();
    for (let k = 0; k < steps; k++) {
      const u = rfUnion(rfAt(rfBody, bodyRatio, k), rfAt(rfShort, bodyRatio, k));
      const o = bodyRatio.floorDiv(k);
      rf.set(k, u && [u[0] - o, u[1] - o]);
    }
    this.receptiveFieldPerStep = rf;
  }

  private apply(x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    let y = x;
    for (const l of this.body) y = stepping ? l.runStep(y, ctx) : l.runLayer(y, ctx);
    const yv = y.values, ym = y.mask, yt = y.time;
    let s = x;
    for (const l of this.shortcut) s = stepping ? l.runStep(s, ctx) : l.runLayer(s, ctx);
    if (s.time !== yt) throw this.error('BAD_INPUT', `body and shortcut produced different lengths (${yt} and ${s.time} steps)`);
    const rows = x.batch * yt;
    const n = rows * product(this.output.shape);
    const out = this.allocOutput(ctx, x.batch, yt);
    ctx.rt.k.f32_vadd(n, yv, s.values, out);
    const mask = ctx.alloc(rows);
    ctx.rt.k.mask_and(rows, ym, s.mask, mask);
    return this.result(out, mask, x.batch, yt);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, true);
  }
}

export const combinatorDefs = [
  defineLayer({ type: 'Serial', fields: serialFields, create: (c, ctx) => new SerialLayer(c, ctx) }),
  defineLayer({ type: 'Parallel', fields: parallelFields, create: (c, ctx) => new ParallelLayer(c, ctx) }),
  defineLayer({ type: 'Residual', fields: residualFields, create: (c, ctx) => new ResidualLayer(c, ctx) }),
];

/** `Serial([a, b, c])`: the layers applied in order. */
export function Serial(layers: LayerConfig[], opts: { name?: string } = {}): LayerConfig {
  return { type: 'Serial', layers, ...opts };
}

/** `Parallel([a, b], { combination: 'add' })`: every branch sees the input; outputs combined. */
export function Parallel(layers: LayerConfig[], opts: { combination?: Combination; name?: string } = {}): LayerConfig {
  return { type: 'Parallel', layers, ...opts };
}

/** `Residual([a, b])`: body(x) + x, or body(x) + shortcut(x) with `shortcutLayers`. */
export function Residual(layers: LayerConfig[], opts: { shortcutLayers?: LayerConfig[]; name?: string } = {}): LayerConfig {
  return { type: 'Residual', layers, ...opts };
}
