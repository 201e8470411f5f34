// Multi-headed dot-product cross attention to a source sequence in the constants. Port of
// sequence_layers/jax/attention/dot_product_attention.py.
//
// Exports (sorted): DotProductAttention, DotProductAttentionDef, DotProductAttentionLayer.
//
// Queries come from x, keys and values from constants[source_name], a Sequence [batch,
// source_time, source_channels] whose channel count the layer learns at build time
// (build(config, { inputShape, constants })). Every query sees every valid source step, so
// the layer is pointwise in x (receptive field (0, 0)). step() projects the source once
// (at initialState when the constants are given there, else at the first step) and keeps the
// keys and values in its state; with recompute_kv_per_step it projects the step's source
// every step instead.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import { MAX_STEP_COUNT, toWasm, type BuildContext, type RunContext, type StateBuffer, type StateSpec, type WSeq } from '../../layer.js';
import type { Sequence } from '../../sequence.js';
import { AttentionLayer, attentionFields } from './base.js';
import { ATT, getSource, inputProjectionField, sourceChannelsAtBuild, SourceState } from './common.js';

const dotProductAttentionFields = {
  /** Key of the source Sequence [batch, source_time, channels] in the constants. */
  sourceName: f.str({ nonEmpty: true }),
  ...attentionFields,
  /** Query/key/value projections (default {"type": "QueryAndKeyValueProjection"}; not Combined). */
  inputProjection: inputProjectionField('QueryAndKeyValueProjection'),
  /** Re-read the source and project it every step instead of once (default false). */
  recomputeKvPerStep: f.bool().default(false),
  /**
   * Constants key of the query positions [batch, time] (int32, or float32 holding whole numbers;
   * batch and time may be 1), each step's with it, for the relative position embedding:
   * distance = source index - query position (default null: the query's step index, counted across steps). Without a
   * relative position embedding they have no effect, as in the reference.
   */
  queryPositionsName: f.str().opt(),
};

/**
 * Dot-product cross attention. Output [H, U] per query step, mask = query mask; a query
 * whose source item has no valid step gets zeros (or the sinks' values). Relative position
 * embeddings (Shaw or T5) use query position = step index (counted across steps when
 * stepping), or the constants' query_positions_name, and key position = source index.
 *
 * State: `keys` and `values` [B, source_time, H, U] and `mask` [B, source_time] (sized from
 * the source, so growable), `projected` u8 [1] (1 once they hold the source, which may have no
 * steps), and `time_step` i32 [B] (the next query's position: it starts at
 * minus the warm-up steps of a latency before the layer that a chain cannot withhold, as the
 * source may come with the first step, so that query positions match layer()'s; the reference
 * starts it at 0); only `time_step` with recompute_kv_per_step. Parameters as AttentionLayer
 * documents (projections of x and of the source).
 */
export class DotProductAttentionLayer extends AttentionLayer {
  private readonly sourceName: string;
  private readonly recompute: boolean;
  /** Constants key of the query positions, when a relative position embedding reads them. */
  private readonly queryPositions: string | undefined;

  constructor(config: Resolved<typeof dotProductAttentionFields>, ctx: BuildContext) {
    const channels = sourceChannelsAtBuild(config.type, ctx.where, ctx.constants, config.sourceName);
    super(config, ctx, {
      kvHeads: config.numHeads,
      sourceChannels: channels,
      relativePosition: { allowed: ['ShawRelativePositionEmbedding', 'T5RelativePositionEmbedding'], past: -1, future: -1 },
    });
    this.sourceName = config.sourceName;
    this.recompute = config.recomputeKvPerStep;
    this.queryPositions = config.relativePositionEmbedding ? config.queryPositionsName : undefined;
    const a = this.call.i32;
    a[ATT.PAST] = a[ATT.FUTURE] = -1;
    // Given query positions against the source's indices (the kernel's KV positions 0).
    a[ATT.POSITIONS] = this.queryPositions !== undefined ? 1 : 0;
    this.clearCache();
    this.checksStep = true;
    // The source is taken at the first step when initialState did not get it, and query
    // positions come with each step: no step can be withheld; relative positions counted here
    // count query steps (see Layer.skipsWarmUp), from minus the warm-up a chain could not
    // withhold (seesWarmUp).
    this.readsStepConstants = !this.recompute || this.queryPositions !== undefined;
    this.skipsWarmUp = config.relativePositionEmbedding != null && this.queryPositions === undefined;
    this.buildNetworks(config, true);
    // x only makes queries: the query network's field is the layer's.
    if (this.networks.query) this.receptiveFieldPerStep = this.networks.query.receptiveFieldPerStep;
  }

  /** Query positions of the warm-up steps before it, counted from -steps so the first valid step is at 0. */
  private warmUp = 0;

  /** Not spared `steps` warm-up steps (the whole of them: see Layer.seesWarmUp): the query positions start at -steps. */
  seesWarmUp(steps: number): void {
    if (this.skipsWarmUp) this.warmUp = steps;
    this.networks.query?.seesWarmUp(steps);
  }

  /** The source, whenever runStep will read it: every step with recompute, else the first; the query positions every step. */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    if (this.queryPositions !== undefined) this.idsConstant(ctx.constants, this.queryPositions, 'query positions', batch, time);
    if (this.recompute || !SourceState.projected(ctx.rt, this.stateOf(ctx))) getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, batch);
    this.networks.query?.validateStep(batch, time, ctx); // the key and value networks run over the source, not the step
  }

  stateSpecs(batch: number): StateSpec[] {
    const step: StateSpec = { name: 'time_step', dtype: 'int32', shape: [batch], fill: -this.warmUp, min: -this.warmUp };
    if (this.recompute) return [step];
    return [...SourceState.specs(batch, this.kvHeads, this.units), step];
  }

  /** Projects the source now when initialState got it; a missing one waits for the first step. */
  initState(bufs: StateBuffer[], batch: number, ctx: RunContext): void {
    if (this.recompute || !ctx.constants[this.sourceName]) return;
    this.projectIntoState(ctx, bufs, getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, batch));
  }

  /** keys, values: the projected source, masked (zeros at invalid steps); mask: the source's; projected: 1. */
  private projectIntoState(ctx: RunContext, bufs: StateBuffer[], source: Sequence): void {
    const rt = ctx.rt, b = source.batch, s = source.time, row = this.kvHeads * this.units;
    const { keys, values, mask } = SourceState.resize(rt, bufs, b, s, this.kvHeads, this.units);
    const kv = this.projectSource(this.projection, toWasm(rt, source), ctx);
    // A strided copy of every row (a ring write of capacity s from slot 0).
    rt.k.seq_ring_write(b, s, s, 0, row * 4, kv.stride * 4, kv.keys, keys);
    rt.k.seq_ring_write(b, s, s, 0, row * 4, kv.stride * 4, kv.values, values);
    rt.k.mem_copy(mask, kv.mask, b * s);
    rt.k.f32_mask_invalid(b * s, row, mask, keys, keys, 0);
    rt.k.f32_mask_invalid(b * s, row, mask, values, values, 0);
  }

  /** Projects the source into scratch and points the descriptor's keys at it. */
  private bindSource(ctx: RunContext, source: Sequence): void {
    const kv = this.projectSource(this.projection, toWasm(ctx.rt, source), ctx);
    this.bindKeyValues(kv.keys, kv.values, kv.stride, kv.mask, source.time);
  }

  /** Projects and attends the queries of x; query i sits at position i + offset, or at its given position. */
  private attendQueries(x: WSeq, ctx: RunContext, offset: number, stepping: boolean): WSeq {
    const { mask } = this.bindCrossQueries(x, ctx, stepping);
    const a = this.call.i32;
    a[ATT.Q_OFFSET] = offset;
    if (this.queryPositions !== undefined) a[ATT.Q_LIN_POS] = this.idsInScratch(ctx, this.queryPositions, 'query positions', x.batch, x.time);
    return this.result(this.attend(ctx, x.batch, x.time, mask), mask, x.batch, x.time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    this.bindSource(ctx, getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, x.batch));
    return this.attendQueries(x, ctx, 0, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const rt = ctx.rt, bufs = this.stateOf(ctx);
    const stepBuf = bufs[bufs.length - 1]!;
    const pos = rt.i32[stepBuf.ptr >> 2]!;
    if (this.recompute) {
      this.bindSource(ctx, getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, x.batch));
    } else {
      const [keys, values, mask] = bufs as [StateBuffer, StateBuffer, StateBuffer];
      if (!SourceState.projected(rt, bufs)) this.projectIntoState(ctx, bufs, getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, x.batch));
      this.bindKeyValues(keys.ptr, values.ptr, this.heads * this.units, mask.ptr, keys.shape[1]!);
    }
    const y = this.attendQueries(x, ctx, pos, true);
    rt.i32.fill(Math.min(pos + x.time, MAX_STEP_COUNT), stepBuf.ptr >> 2, (stepBuf.ptr >> 2) + x.batch);
    return y;
  }
}

export const DotProductAttentionDef = defineLayer({
  type: 'DotProductAttention',
  fields: dotProductAttentionFields,
  create: (c, ctx) => new DotProductAttentionLayer(c, ctx),
});
export const DotProductAttention = builder(DotProductAttentionDef);
