// Multi-headed dot-product self attention. Port of
// sequence_layers/jax/attention/dot_product_self_attention.py.
//
// Exports (sorted): DotProductSelfAttention, DotProductSelfAttentionDef,
// DotProductSelfAttentionLayer, SelfAttentionLayer, selfAttentionFields.
//
// Query t sees the keys t - max_past_horizon .. t + max_future_horizon (-1: unbounded on that
// side) that are valid. layer() runs the fused kernel once over the projected sequence (each
// query scans only its window). step() keeps the last past + future keys and values in ring
// buffers (KvCache) and, with a future horizon F > 0, delays the queries by F steps so each is
// answered once its future keys have arrived: input and output latency F. The window, the key
// order and the arithmetic are the same in both modes, so step() equals layer() bit for bit.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import { rfMap, rfUnion, type ReceptiveField } from '../../receptive-field.js';
import type { BuildContext, Layer, RunContext, StateSpec, WSeq } from '../../layer.js';
import { AttentionLayer, attentionFields, kvCacheFields, type AttentionConfig, type KeyValues, type Queries } from './base.js';
import { ATT, inputProjectionField, KvCache, type StepIds } from './common.js';
import type { RelativePositionConfig } from './relative-position.js';

/** Fields of the self-attention layers (DotProductSelfAttention, LocalDotProductSelfAttention). */
export const selfAttentionFields = {
  ...attentionFields,
  /** Past steps each step sees: -1 all of them, 0 none (required). */
  maxPastHorizon: f.int(-1),
  /** Future steps each step sees: -1 all of them (then not steppable), 0 none (default 0). */
  maxFutureHorizon: f.int(-1).default(0),
  /** Query/key/value projections (default {"type": "CombinedQueryKeyValueProjection"}). */
  inputProjection: inputProjectionField('CombinedQueryKeyValueProjection'),
  /**
   * With max_past_horizon = -1, the most steps the KV cache may hold when stepping (default
   * 4096): it starts at 256 steps and doubles as needed; a block past this is a CACHE_FULL
   * error. Unused with a finite past (the cache then holds exactly past + future steps).
   */
  maxCacheSteps: f.int(1).default(4096),
  ...kvCacheFields,
};

interface SelfAttentionConfig extends AttentionConfig {
  maxPastHorizon: number;
  maxFutureHorizon: number;
  maxCacheSteps: number;
  /** Constants key of the segment ids [batch, time] (the flash-attention layers' segment_ids_name). */
  segmentIdsName?: string;
  /** Constants key of the positions [batch, time] (their position_name). */
  positionName?: string;
  /** step() without the positions counts steps instead, as the reference's V2 does (default: they are required). */
  countsMissingPositions?: boolean;
}

/** Queries of a block as the kernel reads them (rows `stride` floats apart), and its keys and values. */
interface Projected {
  q: Queries;
  kv: KeyValues;
}

/**
 * Base of the self-attention layers: metadata from the horizons, the KV cache, layer() and
 * step() over the fused kernel. Output channel shape [H, U]; the output mask is the (delayed)
 * query mask; outputs at invalid steps are zero.
 *
 * With `block` W > 1 (blockwise attention) the steps form blocks of W, the layer's block size,
 * and a step sees the keys from `past` steps before its block's first step to `future` steps
 * after its block's last (the horizons are then whole blocks).
 */
export abstract class SelfAttentionLayer extends AttentionLayer {
  protected readonly past: number;
  protected readonly future: number;
  private readonly block: number;
  private readonly cache: KvCache | null;
  /** project()'s result, reused by every call. */
  private readonly projected: Projected = { q: { queries: 0, stride: 0, mask: 0 }, kv: { keys: 0, values: 0, stride: 0, mask: 0 } };
  /** The keys and values of the projection itself, reused by every call. */
  private readonly ownKv: KeyValues = { keys: 0, values: 0, stride: 0, mask: 0 };
  /** Constants keys of the segment ids and positions, when the layer reads them. */
  private readonly idNames: { segments?: string; positions?: string };
  /** bindIds()'s result, reused by every call. */
  private readonly ids: StepIds = { segments: 0, positions: 0 };
  private readonly countsMissingPositions: boolean;

  constructor(
    cfg: SelfAttentionConfig,
    ctx: BuildContext,
    opts: { kvHeads: number; kvHeadCycle?: boolean; relativePositions: readonly RelativePositionConfig['type'][]; block?: number },
  ) {
    const past = cfg.maxPastHorizon, future = cfg.maxFutureHorizon, block = opts.block ?? 1;
    super(cfg, ctx, { kvHeads: opts.kvHeads, kvHeadCycle: opts.kvHeadCycle, sourceChannels: null, relativePosition: { allowed: opts.relativePositions, past, future } });
    if (past === 0 && future === 0 && !opts.block) throw this.error('BAD_CONFIG', 'max_past_horizon and max_future_horizon are both 0: no step would see any key');
    this.past = past;
    this.future = future;
    this.block = block;
    this.blockSize = block;
    // An unlimited past steps with a growing cache (the reference cannot step it); an
    // unlimited future never can, nor a relative position embedding with a future horizon.
    this.supportsStep = future >= 0 && !(future > 0 && this.relativePosition);
    this.inputLatency = Math.max(0, future);
    // Step i of a block sees i more steps before it than the block's first, and i fewer after.
    this.receptiveFieldPerStep = rfMap(Array.from({ length: block }, (_, i) => [past < 0 ? -Infinity : -past - i, future < 0 ? Infinity : future + block - 1 - i]));
    if (past < 0 && cfg.maxCacheSteps < block) {
      throw this.error('BAD_CONFIG', `max_cache_steps: expected at least one block (${block} steps), got ${cfg.maxCacheSteps}: every step would be CACHE_FULL`);
    }
    this.idNames = { segments: cfg.segmentIdsName, positions: cfg.positionName };
    this.countsMissingPositions = cfg.countsMissingPositions ?? false;
    const tags = { segments: cfg.segmentIdsName !== undefined, positions: cfg.positionName !== undefined };
    this.cache = this.supportsStep ? new KvCache(this, this.heads, this.kvHeads, this.units, past, future, future, cfg.maxCacheSteps, tags) : null;
    this.call.i32[ATT.SEGMENTS] = tags.segments ? 1 : 0;
    this.call.i32[ATT.POSITIONS] = tags.positions ? 1 : 0;
    // Segment ids and positions come with each call, each step's with it.
    this.readsStepConstants = tags.segments || tags.positions;
    this.checksStep = past < 0 || this.readsStepConstants;
    // Blocks are a grid on the steps (unless on the positions): a warm-up before the layer must be whole blocks.
    this.skipsWarmUp = block > 1 && !tags.positions;
    this.buildNetworks(cfg);
    const networks = this.networks;
    // A query reads its own step of the query network, and the keys and values of its window
    // their steps of theirs: the fields add up.
    if (networks.query || networks.key || networks.value) {
      const field = (l: Layer | null): ReceptiveField => (l ? l.receptiveFieldPerStep.get(0)! : [0, 0]);
      const [q, k, v] = [field(networks.query), field(networks.key), field(networks.value)];
      const widened = (w: ReceptiveField): ReceptiveField =>
        rfUnion(q, w && rfUnion(k && [w[0] + k[0], w[1] + k[1]], v && [w[0] + v[0], w[1] + v[1]]));
      this.receptiveFieldPerStep = new Map([...this.receptiveFieldPerStep].map(([i, w]) => [i, widened(w)]));
    }
  }

  /**
   * A warm-up of whole blocks leaves the blocks where layer() has them; any other would shift
   * them in step() (as in the reference, where such a stack steps differently from layer()),
   * so the layer then does not step (the last call, with the whole warm-up, decides).
   */
  seesWarmUp(steps: number): void {
    super.seesWarmUp(steps); // the networks
    const rest = steps % this.block;
    this.stepRefusal = !rest ? null :
      `a latency before it first emits ${steps} warm-up steps, not whole blocks of ${this.block}, so step() would shift its blocks from layer()'s; ` +
      `insert a Delay(${this.block - rest}, delayLayerOutput: false) before it`;
  }

  /** The segment ids and positions must come with the block; a growing cache makes room for it, or refuses it with CACHE_FULL; then the networks check theirs. */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    const { segments, positions } = this.idNames;
    if (segments !== undefined) this.idsConstant(ctx.constants, segments, 'segment ids', batch, time);
    if (positions !== undefined && !this.countsPositions(ctx)) this.idsConstant(ctx.constants, positions, 'positions', batch, time);
    this.cache!.reserve(ctx, this.stateOf(ctx), time);
    super.validateStep(batch, time, ctx);
  }

  /** keys, values, mask, time_step, query_delay + query_delay_mask when max_future_horizon > 0, and the ids kept with them (see KvCache). */
  stateSpecs(batch: number): StateSpec[] {
    return this.cache?.specs(batch) ?? [];
  }

  /** Whether this step counts its positions: they are not among the constants, and the layer may count (V2). */
  private countsPositions(ctx: RunContext): boolean {
    return this.countsMissingPositions && !Object.hasOwn(ctx.constants, this.idNames.positions!);
  }

  /**
   * The block's segment ids and positions from the constants, as int32 [batch, time] in scratch,
   * bound as the linear queries' and keys' (the same steps); in step() without positions
   * where the layer counts them, steps since the initial state (`steps`). Returns them (reused
   * by every call).
   */
  private bindIds(ctx: RunContext, batch: number, time: number, steps?: number): StepIds {
    const a = this.call.i32, ids = this.ids, { segments, positions } = this.idNames;
    ids.segments = a[ATT.Q_LIN_SEG] = a[ATT.KV_LIN_SEG] = segments === undefined ? 0 : this.idsInScratch(ctx, segments, 'segment ids', batch, time);
    let at = 0;
    if (positions !== undefined && steps !== undefined && this.countsPositions(ctx)) {
      at = ctx.alloc(Math.max(1, batch * time) * 4);
      for (let i = 0; i < batch * time; i++) ctx.rt.i32[(at >> 2) + i] = steps + (i % time);
    } else if (positions !== undefined) at = this.idsInScratch(ctx, positions, 'positions', batch, time);
    ids.positions = a[ATT.Q_LIN_POS] = a[ATT.KV_LIN_POS] = at;
    return ids;
  }

  /**
   * The block's queries, keys and values from its projection `qkv` (rows [q | k | v]), through
   * the networks (layer() or step() of each) where the layer has them: a part a network runs on
   * is copied out to contiguous rows first, keys and values together (they share a stride).
   */
  private project(qkv: number, x: WSeq, ctx: RunContext, stepping: boolean): Projected {
    const p = this.projection, out = this.projected, q = out.q, own = this.ownKv, query = this.networks.query;
    q.queries = qkv + 4 * p.qOffset;
    q.stride = p.qStride;
    q.mask = x.mask;
    if (query) {
      const y = this.runNetwork('query', q.queries, p.qStride, this.heads * this.units, x, ctx, stepping);
      q.queries = y.values;
      q.stride = this.heads * this.units;
      q.mask = y.mask;
    }
    own.keys = qkv + 4 * p.kOffset;
    own.values = qkv + 4 * p.vOffset;
    own.stride = p.kvStride;
    own.mask = x.mask;
    out.kv = this.keyValueNetworks(own, x, ctx, stepping);
    return out;
  }

  /** Points the descriptor's linear queries, keys and values at a block of n steps. */
  private bindLinear(pr: Projected, n: number): void {
    this.bindQueries(pr.q.queries, pr.q.stride, pr.q.mask, n);
    this.bindKeyValues(pr.kv.keys, pr.kv.values, pr.kv.stride, pr.kv.mask, n);
  }

  /** The descriptor's window; logical key j is step j + phase of the blocks' grid. */
  private bindWindow(phase: number): void {
    const a = this.call.i32;
    a[ATT.PAST] = this.past;
    a[ATT.FUTURE] = this.future < 0 ? -1 : this.future + this.block - 1;
    a[ATT.WINDOW_BLOCK] = this.block;
    a[ATT.WINDOW_PHASE] = phase;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const pr = this.project(this.projection.runQuery(ctx, batch * time, x.values), x, ctx, false);
    this.clearCache();
    this.bindWindow(0);
    this.bindLinear(pr, time);
    this.bindIds(ctx, batch, time);
    const out = this.attend(ctx, batch, time, pr.q.mask);
    return this.result(out, pr.q.mask, batch, time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const rt = ctx.rt, bufs = this.stateOf(ctx), cache = this.cache!, p = this.projection;
    cache.reserve(ctx, bufs, time);
    const pr = this.project(p.runQuery(ctx, batch * time, x.values), x, ctx, true);
    cache.bind(this.call, rt, bufs, time);
    // The ring's oldest slot holds step time_step - capacity: whole blocks back, but for a
    // growing cache whose capacity the block size need not divide.
    const b = this.block, oldest = rt.i32[bufs[3]!.ptr >> 2]! - bufs[0]!.shape[1]!;
    this.bindWindow(((oldest % b) + b) % b);
    this.bindLinear(pr, time);
    const ids = this.bindIds(ctx, batch, time, rt.i32[bufs[3]!.ptr >> 2]!);
    // With a future horizon the answered queries are delayed ones: the kernel writes their mask.
    const outMask = this.future > 0 ? ctx.alloc(batch * time) : pr.q.mask;
    this.call.i32[ATT.OUT_MASK] = this.future > 0 ? outMask : 0;
    const out = this.attend(ctx, batch, time, outMask);
    cache.write(rt, bufs, batch, time, pr.kv, pr.q, ids);
    return this.result(out, outMask, batch, time);
  }
}

const dotProductSelfAttentionFields = {
  ...selfAttentionFields,
  /** Key/value heads for grouped-query attention (default null: num_heads); query head h uses kv head h / (num_heads / num_kv_heads). */
  numKvHeads: f.int(1).opt(),
};

/**
 * Multi-headed dot-product self attention (no output projection: add DenseShaped yourself).
 * Steppable when max_future_horizon >= 0 (and 0 with a relative position embedding);
 * latency max(0, max_future_horizon); receptive field (-past or -inf, future or +inf).
 * Relative position embeddings: Shaw or T5.
 *
 * Parameters: the input projection's (see InputProjection), `per_dim_scale`,
 * `per_dim_key_scale`, sinks and relative positions as AttentionLayer documents.
 */
export class DotProductSelfAttentionLayer extends SelfAttentionLayer {
  constructor(config: Resolved<typeof dotProductSelfAttentionFields>, ctx: BuildContext) {
    super(config as SelfAttentionConfig, ctx, {
      kvHeads: config.numKvHeads ?? config.numHeads,
      relativePositions: ['ShawRelativePositionEmbedding', 'T5RelativePositionEmbedding'],
    });
  }
}

export const DotProductSelfAttentionDef = defineLayer({
  type: 'DotProductSelfAttention',
  fields: dotProductSelfAttentionFields,
  create: (c, ctx) => new DotProductSelfAttentionLayer(c, ctx),
});
export const DotProductSelfAttention = builder(DotProductSelfAttentionDef);
