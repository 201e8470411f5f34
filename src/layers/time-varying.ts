// Time-varying layers: a different projection or embedding table for every absolute step.
// Port of sequence_layers/jax/time_varying.py.
//
// Exports (sorted): MaskedDense, SequenceDense, SequenceEmbedding.
//
// Each layer indexes its parameters by the absolute (physical) step t of the stream, valid or
// not: layer() starts at t = 0, step() keeps t in an int32 state of shape [1] (UNbatched, as
// the reference: every item of a batch is at the same step). Steps t >= numSteps have no
// parameters and give NaN, as in the reference. Fixed-length sequences set numSteps to their
// length; variable-length ones to the longest.
import { builder, defineLayer, f, ref, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { lecunNormal, zeros } from '../initializers.js';
import { inputChannels, MAX_STEP_COUNT, product, SharedRunLayer, type BuildContext, type Derived, type Param, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { rfMap } from '../receptive-field.js';
import { activationField, activationKernel, type UnaryKernel } from './simple.js';
import { kernelReferenceFields } from './dense.js';

/** Base: the step-counter state, and the first absolute step of a call. */
abstract class StepIndexedLayer extends SharedRunLayer {
  constructor(config: LayerConfig, ctx: BuildContext, protected readonly numSteps: number) {
    super(config, ctx);
    this.skipsWarmUp = true;
  }

  stateSpecs(_batch: number): StateSpec[] {
    return [{ name: 'step', dtype: 'int32', shape: [1], min: 0 }];
  }

  /** The absolute step of x's first row: 0 in layer(), the counter in step() (advanced by x.time). */
  protected start(x: WSeq, ctx: RunContext, step: boolean): number {
    if (!step) return 0;
    const i = this.stateOf(ctx)[0]!.ptr >> 2;
    const t0 = ctx.rt.i32[i]!;
    ctx.rt.i32[i] = Math.min(t0 + x.time, MAX_STEP_COUNT);
    return t0;
  }

  /** Rows of a call starting at step t0 that have parameters (the rest are NaN). */
  protected stepsInRange(t0: number, time: number): number {
    return Math.max(0, Math.min(time, this.numSteps - t0));
  }
}

const denseFields = {
  /** Output features per step. */
  features: f.int(1),
  /** Steps with their own parameters; later steps give NaN. */
  numSteps: f.int(1),
  /** Add the learned per-step `bias` (default true). */
  useBias: f.bool().default(true),
  /** Activation applied after the bias: a name such as 'relu' (ACTIVATION_NAMES), or null for none (default). */
  activation: activationField(),
  /** The reference's training and JAX fields, at their defaults (see dense.ts). */
  ...kernelReferenceFields,
};

/**
 * Base of SequenceDense and MaskedDense: y[b, t] = activation(A_t(x) · K_t + bias[t]) as ONE
 * batched packed GEMM over the steps of a call (batch index = step), the [depth, features]
 * kernels K_t packed per step in prepare(), then NaN rows past numSteps.
 */
abstract class TimeVaryingDense extends StepIndexedLayer {
  protected readonly din: number;
  protected readonly features: number;
  protected readonly kernel: Param;
  private readonly bias: Param | null;
  protected readonly packed: Derived;
  private readonly activation: UnaryKernel | null;

  constructor(config: Resolved<typeof denseFields>, ctx: BuildContext, kernelShape: readonly number[], private readonly depth: number) {
    super(config, ctx, config.numSteps);
    this.din = inputChannels(this, ' (the reference needs rank 3)');
    this.features = config.features;
    this.output = { shape: [config.features], dtype: 'float32' };
    this.kernel = this.param('kernel', kernelShape, lecunNormal(product(kernelShape.slice(0, -1))));
    this.bias = config.useBias ? this.param('bias', [config.numSteps, config.features], zeros) : null;
    this.packed = this.derive(config.numSteps * this.rt.k.f32_gemm_packed_len(depth, config.features) * 4);
    this.activation = activationKernel(config.activation);
  }

  /**
   * y [batch, time, features] for x's rows from absolute step t0: a [batch, *, k] rows of the
   * GEMM with row stride lda and step stride strideA (elements).
   */
  protected project(ctx: RunContext, x: WSeq, t0: number, a: number, lda: number, strideA: number): WSeq {
    const o = this.features, y = this.allocOutput(ctx, x.batch, x.time), n = this.stepsInRange(t0, x.time);
    if (n > 0) ctx.rt.k.f32_gemm_batch(n, x.batch, o, this.depth, a, lda, strideA, this.packedAt(t0), y, x.time * o, o, this.biasAt(t0), false);
    return this.finish(ctx, x, y, n);
  }

  /** Step t's packed kernel (each packed as [depth, features], one after another). */
  protected packedAt(t: number): number {
    return this.packed.ptr + t * this.rt.k.f32_gemm_packed_len(this.depth, this.features) * 4;
  }

  /** Step t's bias, or 0 without one. */
  protected biasAt(t: number): number {
    return this.bias ? this.bias.ptr + t * this.features * 4 : 0;
  }

  /** The output y [batch, time, features] whose first n steps were projected: the activation, then NaN past numSteps. */
  protected finish(ctx: RunContext, x: WSeq, y: number, n: number): WSeq {
    const k = ctx.rt.k, o = this.features;
    this.activation?.(k, x.batch * x.time * o, y, y);
    if (n < x.time) k.f32_fill_steps(x.batch, x.time, n, x.time - n, o, NaN, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/**
 * y[b, t] = activation(x[b, t] · kernel[t] + bias[t]): a separate Dense for every absolute
 * step t < numSteps (NaN beyond). Input [channels] only.
 *
 * Parameters: `kernel` [numSteps, in, features], `bias` [numSteps, features] (when useBias;
 * zeros). State: `step` int32 [1].
 */
export class SequenceDenseLayer extends TimeVaryingDense {
  constructor(config: Resolved<typeof denseFields>, ctx: BuildContext) {
    super(config, ctx, [config.numSteps, ctx.input.shape[0] ?? 0, config.features], ctx.input.shape[0] ?? 0);
  }

  prepare(): void {
    const k = this.rt.k;
    const [steps, din, o] = this.kernel.shape as [number, number, number];
    const packedBytes = k.f32_gemm_packed_len(din, o) * 4;
    for (let t = 0; t < steps; t++) k.f32_gemm_pack_b(din, o, this.kernel.ptr + t * din * o * 4, o, this.packed.ptr + t * packedBytes);
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    const t0 = this.start(x, ctx, step);
    return this.project(ctx, x, t0, x.values, x.time * this.din, this.din);
  }
}

/**
 * Causally masked time-varying Dense: y[b, t] = activation(sum_{s <= t} x[b, s] · kernel[s, t]
 * + bias[t]) for t < numSteps (NaN beyond, where the reference's slices clamp silently), so an
 * output sees the inputs of every earlier step (receptive field (-(numSteps - 1), 0)). Invalid
 * input steps count as zeros. Input [channels] only. The kernel's entries with s > t are unused
 * (masked out, as in the reference): output t's product runs over the inputs of steps s <= t
 * only, so a NaN or Inf at a later step cannot reach it in layer() or in a longer block.
 *
 * Parameters: `kernel` [numSteps (input step s), numSteps (output step t), in, features],
 * `bias` [numSteps, features] (when useBias; zeros). State: `step` int32 [1] and `inputs`
 * [batch, numSteps, in] (the inputs so far, by absolute step; invalid ones zero).
 */
export class MaskedDenseLayer extends TimeVaryingDense {
  constructor(config: Resolved<typeof denseFields>, ctx: BuildContext) {
    const din = ctx.input.shape[0] ?? 0;
    super(config, ctx, [config.numSteps, config.numSteps, din, config.features], config.numSteps * din);
    this.receptiveFieldPerStep = rfMap([[-(config.numSteps - 1), 0]]);
  }

  stateSpecs(batch: number): StateSpec[] {
    return [...super.stateSpecs(batch), { name: 'inputs', dtype: 'float32', shape: [batch, this.numSteps, this.din] }];
  }

  /** Packs, for every output step t, the [(t + 1) * in, features] kernel[0..t, t] (in the room of a [numSteps * in, features] packing). */
  prepare(): void {
    const rt = this.rt;
    const n = this.numSteps, din = this.din, o = this.features;
    const block = din * o; // kernel[s, t] is [in, features]
    const gathered = new Float32Array(n * block);
    rt.arena.begin();
    try {
      const tmp = rt.arena.alloc(gathered.length * 4);
      for (let t = 0; t < n; t++) {
        const kernel = rt.f32.subarray(this.kernel.ptr >> 2);
        for (let s = 0; s <= t; s++) gathered.set(kernel.subarray((s * n + t) * block, (s * n + t + 1) * block), s * block);
        rt.f32.set(gathered.subarray(0, (t + 1) * block), tmp >> 2);
        rt.k.f32_gemm_pack_b((t + 1) * din, o, tmp, o, this.packedAt(t));
      }
    } finally {
      rt.arena.end();
    }
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    let inputs: number;
    if (step) inputs = this.stateOf(ctx)[1]!.ptr;
    else {
      const bytes = x.batch * this.numSteps * this.din * 4;
      inputs = ctx.alloc(bytes);
      ctx.rt.k.mem_fill(inputs, 0, bytes);
    }
    const t0 = this.start(x, ctx, step);
    const n = this.stepsInRange(t0, x.time);
    const k = ctx.rt.k, o = this.features, din = this.din;
    k.f32_place_masked(x.batch, n, x.time, this.numSteps, t0, din, x.mask, x.values, inputs);
    // Output step t reads the buffer's first t + 1 steps, the same sums in layer() and step().
    const y = this.allocOutput(ctx, x.batch, x.time);
    for (let j = 0; j < n; j++) {
      const t = t0 + j;
      k.f32_gemm(x.batch, o, (t + 1) * din, inputs, this.numSteps * din, this.packedAt(t), y + j * o * 4, x.time * o, this.biasAt(t), false);
    }
    return this.finish(ctx, x, y, n);
  }
}

// ---------------------------------------------------------------------------------------------
// SequenceEmbedding

const embeddingFields = {
  /** Size of each embedding vector. */
  dimension: f.int(1),
  /** Table rows per step: one count for all steps, or a list with one count per step. */
  numEmbeddingsPerStep: f.custom<number | number[]>('an integer >= 1 or a list of them', (v) =>
    (Number.isInteger(v) && (v as number) >= 1) || (Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n) && n >= 1)) ? (v as number | number[]) : undefined,
  ),
  /** Steps with their own table; later steps give NaN. */
  numSteps: f.int(1),
  /** Round the table's rows up to a multiple of this (e.g. 128); null = no rounding (default). */
  roundNumEmbeddingsToMultipleOf: f.int(1).opt(),
  /** compute_dtype, the output dtype: null or "float32" only (see `ref` in config.ts for these reference fields). */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** embedding_init: null only (the reference's default). */
  embeddingInit: ref.init(),
  /** embedding_sharding: any, no effect. */
  embeddingSharding: ref.sharding(),
};

/**
 * y[b, t, ...] = embedding[offset[t] + x[b, t, ...]]: a separate embedding table for every
 * absolute step t < numSteps, stored as one table (step t's rows start at offset[t], the sum
 * of the earlier steps' counts). An id outside [0, numEmbeddingsPerStep[t]) or a step past
 * numSteps gives NaN. int32 ids in, channel shape [...C, dimension] out.
 *
 * Parameters: `embedding` [sum of the per-step counts (rounded up), dimension] (normal,
 * std 1/√dimension). State: `step` int32 [1].
 */
export class SequenceEmbeddingLayer extends StepIndexedLayer {
  private readonly table: Param;
  private readonly stepTables: Derived;
  private readonly offsets: Int32Array;
  private readonly limits: Int32Array;

  constructor(config: Resolved<typeof embeddingFields>, ctx: BuildContext) {
    super(config, ctx, config.numSteps);
    if (this.input.dtype !== 'int32') throw this.error('BAD_CONFIG', `expected an int32 input (ids), got ${this.input.dtype}`);
    const per = config.numEmbeddingsPerStep;
    if (Array.isArray(per) && per.length !== config.numSteps) {
      throw this.error('BAD_CONFIG', `num_embeddings_per_step: expected one count per step (${config.numSteps}), got ${per.length}: ${show(per)}`);
    }
    this.limits = Int32Array.from({ length: config.numSteps }, (_, t) => (Array.isArray(per) ? per[t]! : per));
    this.offsets = new Int32Array(config.numSteps);
    for (let t = 1; t < config.numSteps; t++) this.offsets[t] = this.offsets[t - 1]! + this.limits[t - 1]!;
    let rows = this.offsets[config.numSteps - 1]! + this.limits[config.numSteps - 1]!;
    const multiple = config.roundNumEmbeddingsToMultipleOf;
    if (multiple) rows = Math.ceil(rows / multiple) * multiple;
    this.output = { shape: [...this.input.shape, config.dimension], dtype: 'float32' };
    this.table = this.param('embedding', [rows, config.dimension], lecunNormal(config.dimension));
    this.stepTables = this.derive(2 * config.numSteps * 4);
  }

  prepare(): void {
    const at = this.stepTables.ptr >> 2;
    this.rt.i32.set(this.offsets, at);
    this.rt.i32.set(this.limits, at + this.numSteps);
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    const k = ctx.rt.k;
    const [rows, d] = this.table.shape as [number, number];
    const c = product(this.input.shape);
    const n = x.batch * x.time * c;
    const ids = ctx.alloc(n * 4);
    const tables = this.stepTables.ptr;
    k.seq_step_ids(x.batch, x.time, c, this.start(x, ctx, step), this.numSteps, tables, tables + this.numSteps * 4, rows, x.values, ids);
    const y = this.allocOutput(ctx, x.batch, x.time);
    k.f32_embedding_lookup(n, rows, d, ids, this.table.ptr, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

const SequenceDenseDef = defineLayer({ type: 'SequenceDense', fields: denseFields, create: (c, ctx) => new SequenceDenseLayer(c, ctx) });
const MaskedDenseDef = defineLayer({ type: 'MaskedDense', fields: denseFields, create: (c, ctx) => new MaskedDenseLayer(c, ctx) });
const SequenceEmbeddingDef = defineLayer({ type: 'SequenceEmbedding', fields: embeddingFields, create: (c, ctx) => new SequenceEmbeddingLayer(c, ctx) });

export const timeVaryingDefs = [SequenceDenseDef, MaskedDenseDef, SequenceEmbeddingDef];

export const SequenceDense = builder(SequenceDenseDef);
export const MaskedDense = builder(MaskedDenseDef);
export const SequenceEmbedding = builder(SequenceEmbeddingDef);
