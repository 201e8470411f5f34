// Multi-headed dot-product cross attention to several sources at once. Port of
// sequence_layers/jax/attention/multi_source_dot_product_attention.py.
//
// Exports (sorted): MultiSourceDotProductAttention, MultiSourceDotProductAttentionDef,
// MultiSourceDotProductAttentionLayer.
//
// Every query sees the valid steps of every source (with segment ids, those of its own
// segment), all in one softmax: the keys and values
// of the sources, projected by one shared key/value projection or one per source
// (use_separate_kv_projections), are laid end to end in source order, and the fused kernel
// attends over them as over one source. step() projects the sources once (at initialState
// when the constants are given there, else at the first step) and keeps them in its state.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import { show } from '../../errors.js';
import { toWasm, writeStepConstant, type BuildContext, type ConstantArray, type RunContext, type StateBuffer, type StateSpec, type WSeq } from '../../layer.js';
import type { Sequence } from '../../sequence.js';
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
  /**
   * Constants key of the queries' segment ids [batch, time] (int32, or float32 holding whole
   * numbers; batch and time may be 1), each step's with it: a query sees only the source steps
   * of its own segment id (default null: all of them). Needs source_segment_ids_names.
   */
  querySegmentIdsName: f.str().opt(),
  /**
   * Constants keys of the sources' segment ids [batch, source_time] (likewise), one for all
   * sources or one per source; read with the sources and kept with them. Without
   * query_segment_ids_name they have no effect, as in the reference.
   */
  sourceSegmentIdsNames: names('source segment ids names').opt(),
  flashAttentionQueryBlockSize,
  /** flash_attention_source_block_sizes: any, no effect (the fused kernel needs no blocks). */
  flashAttentionSourceBlockSizes: f.any('a block size, a list of them, or null').opt(),
  ...flashNetworkAndReferenceFields,
};

/** The sources' keys, values, mask and segment ids (0: not read), [batch, steps, ...] each. */
interface SourceKeys {
  keys: number;
  values: number;
  mask: number;
  segments: number;
  steps: number;
}

/**
 * Multi-source dot-product cross attention (no output projection). Output [H, U] per query
 * step, mask = query mask; receptive field (0, 0). A query whose sources have no valid step
 * gets zeros. Parameters: the query projection and `per_dim_scale` at the layer's path, and the
 * key/value projection there too (shared; sources of equal channels) or under
 * `<source name>_projection.` for each source (see InputProjection for the names).
 *
 * State: `keys` and `values` [B, S, KVH, U] and `mask` [B, S], S the sources' steps together
 * (sized from the sources, so growable), `projected` u8 [1] (1 once they hold the sources,
 * which may have no steps), and with query_segment_ids_name the sources' `segment_ids` i32
 * [B, S]; the reference also keeps a time_step, which only its query positions (not used by
 * any mask here) read.
 */
export class MultiSourceDotProductAttentionLayer extends AttentionLayer {
  private readonly sources: { name: string; channels: number; projection: InputProjection; segmentIds?: string }[];
  /** Constants key of the queries' segment ids, when attention stays within segments. */
  private readonly querySegmentIds: string | undefined;
  /** runStep's view of the sources in the state, reused by every step. */
  private readonly stateKeys: SourceKeys = { keys: 0, values: 0, mask: 0, segments: 0, steps: 0 };

  constructor(config: Resolved<typeof multiSourceFields>, ctx: BuildContext) {
    const channels = config.sourceNames.map((name) => sourceChannelsAtBuild(config.type, ctx.where, ctx.constants, name));
    const separate = config.useSeparateKvProjections;
    super({ ...config, ...NO_SINKS }, ctx, {
      kvHeads: config.numKvHeads ?? config.numHeads,
      kvHeadCycle: true,
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
    this.querySegmentIds = config.querySegmentIdsName;
    if (this.querySegmentIds !== undefined) {
      const ids = config.sourceSegmentIdsNames, n = this.sources.length;
      if (!ids || (ids.length !== 1 && ids.length !== n)) {
        const expected = n === 1 ? '1 name' : `1 or ${n} names (one per source)`;
        throw this.error('BAD_CONFIG', `source_segment_ids_names: expected ${expected} with query_segment_ids_name ${show(this.querySegmentIds)}, got ${ids ? JSON.stringify(ids) : 'none'}`);
      }
      this.sources.forEach((s, i) => (s.segmentIds = ids[ids.length === 1 ? 0 : i]));
    }
    const a = this.call.i32;
    a[ATT.PAST] = a[ATT.FUTURE] = -1;
    a[ATT.SEGMENTS] = this.querySegmentIds !== undefined ? 1 : 0;
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

  /** The queries' segment ids with every step; the sources (and theirs) whenever runStep will read them: at the first step. */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    if (this.querySegmentIds !== undefined) this.idsConstant(ctx.constants, this.querySegmentIds, 'query segment ids', batch, time);
    if (!SourceState.projected(ctx.rt, this.stateOf(ctx))) this.givenSources(ctx, batch);
    this.networks.query?.validateStep(batch, time, ctx); // the key and value networks run over the sources, not the step
  }

  /** The sources from the constants, each with its segment ids where the layer reads them; MISSING_CONSTANT when one is missing or mis-shaped. */
  private givenSources(ctx: RunContext, batch: number): { source: Sequence; segmentIds?: Sequence | ConstantArray }[] {
    return this.sources.map((s) => {
      const source = getSource(this, ctx.constants, s.name, s.channels, batch);
      return { source, segmentIds: s.segmentIds === undefined ? undefined : this.idsConstant(ctx.constants, s.segmentIds, `segment ids of source ${show(s.name)}`, batch, source.time) };
    });
  }

  /** Not spared a warm-up: only the query network steps. */
  seesWarmUp(steps: number): void {
    this.networks.query?.seesWarmUp(steps);
  }

  stateSpecs(batch: number): StateSpec[] {
    return SourceState.specs(batch, this.kvHeads, this.units, this.querySegmentIds !== undefined);
  }

  /** Projects the sources now when initialState got them all; otherwise at the first step. */
  initState(bufs: StateBuffer[], batch: number, ctx: RunContext): void {
    if (this.sources.every((s) => ctx.constants[s.name])) this.project(ctx, batch, bufs);
  }

  /**
   * Projects every source into keys, values [batch, S, KVH, U] and mask [batch, S], source
   * after source (keys and values zero at invalid steps), with their segment ids [batch, S]
   * where the layer reads them: into the state's buffers, resized, or (no `bufs`) into scratch.
   * Returns the buffers' pointers (segments 0 when not read) and S.
   */
  private project(ctx: RunContext, batch: number, bufs?: StateBuffer[]): SourceKeys {
    const rt = ctx.rt, k = rt.k, row = this.kvHeads * this.units;
    const given = this.givenSources(ctx, batch);
    const steps = given.reduce((n, g) => n + g.source.time, 0);
    const reads = this.querySegmentIds !== undefined;
    let keys: number, values: number, mask: number, segments: number;
    if (bufs) ({ keys, values, mask, segments } = SourceState.resize(rt, bufs, batch, steps, this.kvHeads, this.units, reads));
    else {
      const n = Math.max(1, batch * steps);
      [keys, values, mask, segments] = [ctx.alloc(n * row * 4), ctx.alloc(n * row * 4), ctx.alloc(n), reads ? ctx.alloc(n * 4) : 0];
    }
    let at = 0;
    this.sources.forEach(({ projection: p }, i) => {
      const { source, segmentIds } = given[i]!, n = source.time;
      // Each source through the key and value networks on its own.
      const kv = this.projectSource(p, toWasm(rt, source), ctx);
      // Each item's n rows go to its steps at..at+n of S (a ring write that does not wrap).
      k.seq_ring_write(batch, n, steps, at, row * 4, kv.stride * 4, kv.keys, keys);
      k.seq_ring_write(batch, n, steps, at, row * 4, kv.stride * 4, kv.values, values);
      k.seq_ring_write(batch, n, steps, at, 1, 1, kv.mask, mask);
      if (segmentIds) {
        const ids = ctx.alloc(Math.max(1, batch * n) * 4);
        writeStepConstant(segmentIds, batch, n, rt.i32, ids >> 2);
        k.seq_ring_write(batch, n, steps, at, 4, 4, ids, segments);
      }
      at += n;
    });
    k.f32_mask_invalid(batch * steps, row, mask, keys, keys, 0);
    k.f32_mask_invalid(batch * steps, row, mask, values, values, 0);
    return { keys, values, mask, segments, steps };
  }

  /** Attends the queries of x to the sources' keys, values, mask and segment ids laid out [batch, steps, ...]. */
  private attendQueries(x: WSeq, ctx: RunContext, kv: SourceKeys, stepping: boolean): WSeq {
    this.bindKeyValues(kv.keys, kv.values, this.kvHeads * this.units, kv.mask, kv.steps);
    const a = this.call.i32;
    a[ATT.KV_LIN_SEG] = kv.segments;
    if (this.querySegmentIds !== undefined) a[ATT.Q_LIN_SEG] = this.idsInScratch(ctx, this.querySegmentIds, 'query segment ids', x.batch, x.time);
    const { mask } = this.bindCrossQueries(x, ctx, stepping);
    return this.result(this.attend(ctx, x.batch, x.time, mask), mask, x.batch, x.time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.attendQueries(x, ctx, this.project(ctx, x.batch), false);
  }

  /** The sources from the state, projected into it at the first step (no allocation after that). */
  runStep(x: WSeq, ctx: RunContext): WSeq {
    const bufs = this.stateOf(ctx);
    if (!SourceState.projected(ctx.rt, bufs)) this.project(ctx, x.batch, bufs);
    const kv = this.stateKeys;
    kv.keys = bufs[0]!.ptr;
    kv.values = bufs[1]!.ptr;
    kv.mask = bufs[2]!.ptr;
    kv.segments = this.querySegmentIds !== undefined ? bufs[4]!.ptr : 0;
    kv.steps = bufs[0]!.shape[1]!;
    return this.attendQueries(x, ctx, kv, true);
  }
}

export const MultiSourceDotProductAttentionDef = defineLayer({
  type: 'MultiSourceDotProductAttention',
  fields: multiSourceFields,
  create: (c, ctx) => new MultiSourceDotProductAttentionLayer(c, ctx),
});
export const MultiSourceDotProductAttention = builder(MultiSourceDotProductAttentionDef);
