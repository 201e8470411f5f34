// Cross attention to a source streamed in lock-step with the input. Port of
// sequence_layers/jax/attention/streaming_dot_product_attention.py and
// streaming_local_dot_product_attention.py.
//
// Exports (sorted): StreamingDotProductAttention, StreamingDotProductAttentionDef,
// StreamingDotProductAttentionLayer, StreamingLocalDotProductAttention,
// StreamingLocalDotProductAttentionDef, StreamingLocalDotProductAttentionLayer.
//
// layer() takes the whole source from constants[source_name] and lets query t see source
// steps t - max_past_horizon .. t + max_future_horizon. step() takes, in the same constant,
// the source block of the step: as many steps as the input block (the reference's streamed
// constants). Its keys and values go through a KV cache as in self attention, and with
// use_query_delay_buffer the queries wait max_future_horizon steps for their future keys.
// The queries come from x alone, so the receptive field in x is (0, 0), or the query
// network's. The query network steps with x, the key and value networks with the source
// (layer() over all of it in layer(), step() over each block in step()).
//
// A valid query whose window holds no valid source step outputs zero here, in layer() and
// step() alike. So does the reference with zero_fully_masked; without it, its softmax is
// uniform over every key column it holds, and the output is their mean value: over the whole
// source in StreamingDotProductAttention.layer(), the query's block_size chunk with its
// context in StreamingLocalDotProductAttention.layer(), the KV buffer plus the block in
// step(). That is non-zero when valid source steps lie outside the window, and its layer() and
// step() then disagree with each other.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import { toWasm, type BuildContext, type RunContext, type StateSpec, type WSeq } from '../../layer.js';
import type { Sequence } from '../../sequence.js';
import { AttentionLayer, attentionFields, blockedLocalEmit, kvCacheFields, type AttentionConfig, type KeyValues } from './base.js';
import { ATT, getSource, inputProjectionField, KvCache, sourceChannelsAtBuild } from './common.js';
import type { RelativePositionConfig } from './relative-position.js';

const streamingFields = {
  /** Key of the source Sequence in the constants: the whole source for layer(), the step's block for step(). */
  sourceName: f.str({ nonEmpty: true }),
  ...attentionFields,
  /** Past source steps each query sees (>= 1). */
  maxPastHorizon: f.int(),
  /** Future source steps each query sees (>= 0, default 0). */
  maxFutureHorizon: f.int().default(0),
  /** Query/key/value projections (default {"type": "QueryAndKeyValueProjection"}; not Combined). */
  inputProjection: inputProjectionField('QueryAndKeyValueProjection'),
  /**
   * Delay the queries by max_future_horizon steps when stepping (latency max_future_horizon;
   * default true). Without it the caller delays x against the source itself.
   */
  useQueryDelayBuffer: f.bool().default(true),
  ...kvCacheFields,
};

interface StreamingConfig extends AttentionConfig {
  sourceName: string;
  maxPastHorizon: number;
  maxFutureHorizon: number;
  useQueryDelayBuffer: boolean;
}

/**
 * Base of the streaming cross-attention layers. Output [H, U], mask = (delayed) query mask
 * (the query network's when it changes the mask). State: as KvCache (H key/value heads; query
 * delay when use_query_delay_buffer and max_future_horizon > 0), then the networks'.
 * Parameters as AttentionLayer documents (projections of x and of the source, whose channel
 * count comes from the constants given at build time), then the networks' under
 * `query_network.`, `key_network.` and `value_network.`.
 */
export abstract class StreamingAttentionLayer extends AttentionLayer {
  private readonly sourceName: string;
  private readonly cache: KvCache;
  /** The step's source block in WebAssembly memory, reused by every call. */
  private readonly source: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };

  constructor(cfg: StreamingConfig, ctx: BuildContext, relativePositions: readonly RelativePositionConfig['type'][]) {
    const channels = sourceChannelsAtBuild(cfg.type, ctx.where, ctx.constants, cfg.sourceName);
    const past = cfg.maxPastHorizon, future = cfg.maxFutureHorizon;
    super(cfg, ctx, { kvHeads: cfg.numHeads, sourceChannels: channels, relativePosition: { allowed: relativePositions, past, future } });
    this.readsStepConstants = true;
    if (past < 1) throw this.error('BAD_CONFIG', `max_past_horizon: expected >= 1, got ${past}`);
    if (future < 0) throw this.error('BAD_CONFIG', `max_future_horizon: expected >= 0, got ${future}`);
    this.sourceName = cfg.sourceName;
    const a = this.call.i32;
    a[ATT.PAST] = past;
    a[ATT.FUTURE] = future;
    this.supportsStep = !(future > 0 && this.relativePosition);
    const delay = cfg.useQueryDelayBuffer ? future : 0;
    this.inputLatency = delay;
    this.cache = new KvCache(this, this.heads, this.heads, this.units, past, future, delay, past + future);
    this.checksStep = true;
    this.buildNetworks(cfg);
    // x only makes queries: the query network's field is the layer's.
    if (this.networks.query) this.receptiveFieldPerStep = this.networks.query.receptiveFieldPerStep;
  }

  /** The step's source block, then the networks' checks (the source's blocks are x's length). */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, batch, time);
    super.validateStep(batch, time, ctx);
  }

  /** Not spared a warm-up (the source may come with it): only the query network sees it, the source's networks step from its first block. */
  seesWarmUp(steps: number): void {
    this.networks.query?.seesWarmUp(steps);
  }

  /** keys, values, mask, time_step, and query_delay + query_delay_mask when queries are delayed (see KvCache). */
  stateSpecs(batch: number): StateSpec[] {
    return this.cache.specs(batch);
  }

  /**
   * Projects the keys and values of the source (a block of it when stepping) through their
   * networks and points the linear keys at them; returns them (reused by the next call).
   */
  private bindSource(ctx: RunContext, source: Sequence, stepping: boolean): KeyValues {
    const kv = this.projectSource(this.projection, toWasm(ctx.rt, source, this.source), ctx, stepping);
    this.bindKeyValues(kv.keys, kv.values, kv.stride, kv.mask, source.time);
    return kv;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const source = getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, x.batch);
    this.clearCache();
    this.bindSource(ctx, source, false);
    const q = this.bindCrossQueries(x, ctx, false);
    return this.result(this.attend(ctx, x.batch, x.time, q.mask), q.mask, x.batch, x.time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const source = getSource(this, ctx.constants, this.sourceName, this.sourceChannels!, batch, time);
    const rt = ctx.rt, bufs = this.stateOf(ctx);
    this.cache.bind(this.call, rt, bufs, time);
    const kv = this.bindSource(ctx, source, true);
    const q = this.bindCrossQueries(x, ctx, true);
    const delayed = this.inputLatency > 0;
    const outMask = delayed ? ctx.alloc(batch * time) : q.mask;
    this.call.i32[ATT.OUT_MASK] = delayed ? outMask : 0;
    const out = this.attend(ctx, batch, time, outMask);
    this.cache.write(rt, bufs, batch, time, kv, q);
    return this.result(out, outMask, batch, time);
  }
}

/**
 * Streaming dot-product cross attention: the source arrives block by block with x. No
 * relative position embedding (the reference accepts none that works here).
 */
export class StreamingDotProductAttentionLayer extends StreamingAttentionLayer {
  constructor(config: Resolved<typeof streamingFields>, ctx: BuildContext) {
    super(config, ctx, []);
  }
}

const streamingLocalFields = {
  ...streamingFields,
  /** The reference's layer-mode query chunk (>= 1): outputs do not depend on it, the layout of layer()'s emitted probabilities does. Not the layer's block size, which is 1. */
  blockSize: f.int(1),
};

/**
 * Streaming local dot-product cross attention: as StreamingDotProductAttention with the
 * reference's blocked layer mode (`block_size`: no effect on outputs here, the layout of
 * layer()'s emitted probabilities follows it; in the reference it also changes the output of a
 * query with no valid key in its window, see the file comment) and Transformer-XL relative positions (max_backward/max_forward equal to the
 * horizons; steppable with no future horizon).
 */
export class StreamingLocalDotProductAttentionLayer extends StreamingAttentionLayer {
  private readonly window: { block: number; past: number; future: number };

  constructor(config: Resolved<typeof streamingLocalFields>, ctx: BuildContext) {
    super(config, ctx, ['TransformerXLRelativePositionEmbedding']);
    this.window = { block: config.blockSize, past: config.maxPastHorizon, future: config.maxFutureHorizon };
  }

  /** layer(); its emitted probabilities in the reference's blocked layout ([B, T, H, sinks + past + block_size + future]). */
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = super.runLayer(x, ctx);
    const { block, past, future } = this.window;
    if (ctx.emits) ctx.emit(this.emitKey, blockedLocalEmit(ctx.emitted(this.emitKey)!, this.sinks, block, past, future));
    return y;
  }
}

export const StreamingDotProductAttentionDef = defineLayer({
  type: 'StreamingDotProductAttention',
  fields: streamingFields,
  create: (c, ctx) => new StreamingDotProductAttentionLayer(c, ctx),
});
export const StreamingLocalDotProductAttentionDef = defineLayer({
  type: 'StreamingLocalDotProductAttention',
  fields: streamingLocalFields,
  create: (c, ctx) => new StreamingLocalDotProductAttentionLayer(c, ctx),
});
export const StreamingDotProductAttention = builder(StreamingDotProductAttentionDef);
export const StreamingLocalDotProductAttention = builder(StreamingLocalDotProductAttentionDef);
