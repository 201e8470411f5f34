// Multi-headed dot-product cross attention to several sources at once. Port of
// sequence_layers/jax/attention/multi_source_dot_product_attention.py.
//
// Exports (sorted): MultiSourceDotProductAttention, MultiSourceDotProductAttentionDef,
// MultiSourceDotProductAttentionLayer.
//
// Every query sees the valid steps of every source, all in one softmax: the keys and values
// of the sources, projected by one shared key/value projection or one per source
// (use_separate_kv_projections), are laid end to end in source order, and the fused kernel
// attends over them as over one source. step() projects the sources once (at initialState
// when the constants are given there, else at the first step) and keeps them in its state.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import { toWasm, type BuildContext, type RunContext, type StateBuffer, type StateSpec, type WSeq } from '../../layer.js';
import { AttentionLayer } from './base.js';
import { ATT, getSource, InputProjection, inputProjectionField, sourceChannelsAtBuild, SourceState } from './common.js';
import { flashAttentionFields, flashNetworkAndReferenceFields, NO_SINKS } from './dot-product-self-attention-v2.js';

const names = (what: string) =>
  f.custom<string[]>(`${what}: a non-empty string or a non-empty list of them`, (v) => {
    const list = typeof v === 'string' ? [v] : v;
    return Array.isArray(list) && list.length > 0 && list.every((s) => typeof s === 'string' && s.length > 0) ? [...list] : undefined;
  });

const { numHeads, unitsPerHead, numKvHeads, useBias, attentionLogitsSoftCap, perDimScale, queryScale, weightStorage, flashAttentionQueryBlockSize } = flashAttentionFields;

const multiSourceFields = {
  /** Keys of the source Sequences [batch, source_time, channels] in the constants, attended together in this order. */
  sourceNames: names('source names'),
  numHeads,
  unitsPerHead,
  numKvHeads,
  useBias,
  /** Query/key/value projections (default {"type": "QueryAndKeyValueProjection"}; not Combined). */
  inputProjection: inputProjectionField('QueryAndKeyValueProjection'),
  /**
   * One key/value projection per source, under `<source name>_projection.` (its kernels sized
   * to that source's channels), instead of one shared by sources of equal channels (default false).
   */
  useSeparateKvProjections: f.bool().default(false),
  attentionLogitsSoftCap,
  perDimScale,
  queryScale,
  weightStorage,
  /** query_positions_name: any, no effect (positions matter only to masks this layer does not have). */
  queryPositionsName: f.str().opt(),
  /** source_position_names: any, no effect (as query_positions_name). */
  sourcePositionNames: names('source position names').opt(),
  /** query_segment_ids_name: null only (attention within segments is not implemented). */
  querySegmentIdsName: f.only([null], 'segment ids from the constants are not implemented'),
  /** source_segment_ids_names: null only (as query_segment_ids_name). */
  sourceSegmentIdsNames: f.only([null], 'segment ids from the constants are not implemented'),
  flashAttentionQueryBlockSize,
  /** flash_attention_source_block_sizes: any, no effect (the fused kernel needs no blocks). */
  flashAttentionSourceBlockSizes: f.any('a block size, a list of them, or null').opt(),
  ...flashNetworkAndReferenceFields,
};

/**
 * Multi-source dot-product cross attention (no output projection). Output [H, U] per query
 * step, mask = query mask; receptive field (0, 0). A query whose sources have no valid step
 * gets zeros. Parameters: the query projection and `per_dim_scale` at the layer's path, and the
 * key/value projection there too (shared; sources of equal channels) or under
 * `<source name>_projection.` for each source (see InputProjection for the names).
 *
 * State: `keys` and `values` [B, S, KVH, U] and `mask` [B, S], S the sources' steps together
 * (sized from the sources, so growable), and `projected` u8 [1] (1 once they hold the sources,
 * which may have no steps); the reference also keeps a time_step, which only its query
 * positions (not used by any mask here) read.
 */
export class MultiSourceDotProductAttentionLayer extends AttentionLayer {
  private readonly sources: { name: string; channels: number; projection: InputProjection }[];

  constructor(config: Resolved<typeof multiSourceFields>, ctx: BuildContext) {
    const channels = config.sourceNames.map((name) => sourceChannelsAtBuild(config.type, ctx.where, ctx.constants, name));
    const separate = config.useSeparateKvProjections;
    super({ ...config, ...NO_SINKS }, ctx, {
      kvHeads: config.numKvHeads ?? config.numHeads,
      sourceChannels: channels[0]!,
      relativePosition: { allowed: [], past: -1, future: -1 },
      projection: separate ? 'query' : 'both',
    });
    if (new Set(config.sourceNames).size !== config.sourceNames.length) throw this.error('BAD_CONFIG', `source_names: expected distinct names, got ${JSON.stringify(config.sourceNames)}`);
    if (!separate && channels.some((c) => c !== channels[0])) {
      throw this.error('BAD_CONFIG', `expected sources of the same channels for a shared key/value projection, got ${JSON.stringify(channels)} for ${JSON.stringify(config.sourceNames)}; set use_separate_kv_projections`);
    }
    const host = this.paramHost;
    this.sources = config.sourceNames.map((name, i) => ({
      name,
      channels: channels[i]!,
      projection: separate
        ? new InputProjection({ ...host, param: (p, s, init) => host.param(`${name}_projection.${p}`, s, init) }, config.inputProjection, 0, channels[i]!,
          this.heads, this.kvHeads, this.units, config.useBias, config.weightStorage, 'keyValue')
        : this.projection,
    }));
    const a = this.call.i32;
    a[ATT.PAST] = a[ATT.FUTURE] = -1;
    this.clearCache();
    this.checksStep = true;
    this.readsStepConstants = true; // the sources may come with the first step
    this.buildNetworks(config, true);
    // x only makes queries: the query network's field is the layer's.
    if (this.networks.query) this.receptiveFieldPerStep = this.networks.query.receptiveFieldPerStep;
  }

  prepare(): void {
    super.prepare();
    for (const s of this.sources) if (s.projection !== this.projection) s.projection.prepare();
  }

  /** The sources, whenever runStep will read them: at the first step. */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    if (!SourceState.projected(ctx.rt, this.stateOf(ctx))) for (const s of this.sources) getSource(this, ctx.constants, s.name, s.channels, batch);
    this.networks.query?.validateStep(batch, time, ctx); // the key and value networks run over the sources, not the step
  }

  /** Not spared a warm-up: only the query network steps. */
  seesWarmUp(steps: number): void {
    this.networks.query?.seesWarmUp(steps);
  }

  stateSpecs(batch: number): StateSpec[] {
    return SourceState.specs(batch, this.kvHeads, this.units);
  }

  /** Projects the sources now when initialState got them all; otherwise at the first step. */
  initState(bufs: StateBuffer[], batch: number, ctx: RunContext): void {
    if (this.sources.every((s) => ctx.constants[s.name])) this.project(ctx, batch, bufs);
  }

  /**
   * Projects every source into keys, values [batch, S, KVH, U] and mask [batch, S], source
   * after source (keys and values zero at invalid steps): into the state's buffers, resized,
   * or (no `bufs`) into scratch. Returns the buffers' pointers and S.
   */
  private project(ctx: RunContext, batch: number, bufs?: StateBuffer[]): { keys: number; values: number; mask: number; steps: number } {
    const rt = ctx.rt, k = rt.k, row = this.kvHeads * this.units;
    const given = this.sources.map((s) => getSource(this, ctx.constants, s.name, s.channels, batch));
    const steps = given.reduce((n, x) => n + x.time, 0);
    let keys: number, values: number, mask: number;
    if (bufs) ({ keys, values, mask } = SourceState.resize(rt, bufs, batch, steps, this.kvHeads, this.units));
    else {
      [keys, values, mask] = [ctx.alloc(Math.max(1, batch * steps * row) * 4), ctx.alloc(Math.max(1, batch * steps * row) * 4), ctx.alloc(Math.max(1, batch * steps))];
    }
    let at = 0;
    this.sources.forEach(({ projection: p }, i) => {
      const n = given[i]!.time;
      // Each source through the key and value networks on its own.
      const kv = this.projectSource(p, toWasm(rt, given[i]!), ctx);
      // Each item's n rows go to its steps at..at+n of S (a ring write that does not wrap).
      k.seq_ring_write(batch, n, steps, at, row * 4, kv.stride * 4, kv.keys, keys);
      k.seq_ring_write(batch, n, steps, at, row * 4, kv.stride * 4, kv.values, values);
      k.seq_ring_write(batch, n, steps, at, 1, 1, kv.mask, mask);
      at += n;
    });
    k.f32_mask_invalid(batch * steps, row, mask, keys, keys, 0);
    k.f32_mask_invalid(batch * steps, row, mask, values, values, 0);
    return { keys, values, mask, steps };
  }

  /** Attends the queries of x to keys, values and mask laid out [batch, steps, KVH, U]. */
  private attendQueries(x: WSeq, ctx: RunContext, keys: number, values: number, kvMask: number, steps: number, stepping: boolean): WSeq {
    this.bindKeyValues(keys, values, this.kvHeads * this.units, kvMask, steps);
    const { mask } = this.bindCrossQueries(x, ctx, stepping);
    return this.result(this.attend(ctx, x.batch, x.time, mask), mask, x.batch, x.time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const kv = this.project(ctx, x.batch);
    return this.attendQueries(x, ctx, kv.keys, kv.values, kv.mask, kv.steps, false);
  }

  /** The sources from the state, projected into it at the first step (no allocation after that). */
  runStep(x: WSeq, ctx: RunContext): WSeq {
    const bufs = this.stateOf(ctx);
    if (!SourceState.projected(ctx.rt, bufs)) this.project(ctx, x.batch, bufs);
    const [keys, values, mask] = bufs as [StateBuffer, StateBuffer, StateBuffer];
    return this.attendQueries(x, ctx, keys.ptr, values.ptr, mask.ptr, keys.shape[1]!, true);
  }
}

export const MultiSourceDotProductAttentionDef = defineLayer({
  type: 'MultiSourceDotProductAttention',
  fields: multiSourceFields,
  create: (c, ctx) => new MultiSourceDotProductAttentionLayer(c, ctx),
});
export const MultiSourceDotProductAttention = builder(MultiSourceDotProductAttentionDef);
