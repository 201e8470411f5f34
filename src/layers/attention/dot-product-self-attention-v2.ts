// Dot-product self attention, the reference's second version. Port of
// sequence_layers/jax/attention/dot_product_self_attention_v2.py.
//
// Exports (sorted): DotProductSelfAttentionV2, DotProductSelfAttentionV2Def,
// DotProductSelfAttentionV2Layer, flashAttentionFields, flashNetworkAndReferenceFields, NO_SINKS.
//
// The reference rewrote self attention around flash attention, segment ids and external
// positions, without sinks or relative positions. Its results are DotProductSelfAttention's
// with the same horizons, except that with grouped-query attention query head h reads kv head
// h % num_kv_heads (DotProductSelfAttention's: h / (num_heads / num_kv_heads)). Here both run
// the same fused kernel (the flash block sizes do not
// change results, so they are accepted and ignored), which also takes the segment ids and
// positions from the constants (a key visible only in the query's segment; windows of
// positions).
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import type { BuildContext } from '../../layer.js';
import { attentionFields, attentionNetworkFields, kvCacheFields } from './base.js';
import { inputProjectionField } from './common.js';
import { SelfAttentionLayer } from './dot-product-self-attention.js';

const { numHeads, unitsPerHead, useBias, attentionLogitsSoftCap, perDimScale, queryScale, weightStorage } = attentionFields;
const { experimentalAccumulateLogitsInFloat32, perDimScaleSharding, precision, computeDtype, paramDtype } = attentionFields;

/** The networks, and the reference's fields of no effect here, of the flash-attention layers (and MultiSourceDotProductAttention). */
export const flashNetworkAndReferenceFields = {
  ...attentionNetworkFields,
  experimentalAccumulateLogitsInFloat32,
  perDimScaleSharding,
  precision,
  computeDtype,
  paramDtype,
};

/** The fields the flash-attention layers (DotProductSelfAttentionV2, BlockwiseDotProductSelfAttention) share beyond their horizons. */
export const flashAttentionFields = {
  numHeads,
  unitsPerHead,
  /**
   * Key/value heads for grouped-query attention (default null: num_heads); query head h uses
   * kv head h % num_kv_heads, as the reference's flash attention splits the heads
   * (DotProductSelfAttention's h / (num_heads / num_kv_heads) differs).
   */
  numKvHeads: f.int(1).opt(),
  useBias,
  /** Query/key/value projections (default {"type": "CombinedQueryKeyValueProjection"}). */
  inputProjection: inputProjectionField('CombinedQueryKeyValueProjection'),
  attentionLogitsSoftCap,
  perDimScale,
  queryScale,
  /**
   * With an unlimited past, the most steps the KV cache may hold when stepping (default 4096;
   * not in the reference, which cannot step an unlimited past): as DotProductSelfAttention's
   * max_cache_steps.
   */
  maxCacheSteps: f.int(1).default(4096),
  weightStorage,
  /**
   * Constants key of segment ids [batch, time] (int32, or float32 holding whole numbers; batch
   * and time may be 1): a step sees only the keys of its own segment id, e.g. utterances packed in one stream
   * (default null: one segment). They come with every layer() and step() call, each block's
   * with it, and stay with the cached keys.
   */
  segmentIdsName: f.str().opt(),
  /**
   * Constants key of positions [batch, time] (int32, or float32 holding whole numbers; batch and
   * time may be 1): the horizons then count positions, not steps (a key is visible when query position - key
   * position is in [-future, past]; for BlockwiseDotProductSelfAttention the blocks are
   * position / block_size), and every key held is scanned (default null: steps are counted).
   * Required with every layer() call; V2's step() counts steps since the initial state when
   * they are missing, as the reference's (Blockwise requires them there too). step() equals layer() when each key a query sees in layer() is also among the last
   * past + future steps (the KV cache), e.g. positions counting steps, or restarting at segment
   * boundaries with segment ids (for Blockwise, blocks of positions on the steps' blocks).
   */
  positionName: f.str().opt(),
  /** flash_attention_query_block_size: any, no effect (the fused kernel scans each query's window). */
  flashAttentionQueryBlockSize: f.int(1).opt(),
  /** flash_attention_key_block_size: any, no effect. */
  flashAttentionKeyBlockSize: f.int(1).opt(),
  ...flashNetworkAndReferenceFields,
  ...kvCacheFields,
};

/** What the flash-attention layers leave at the defaults of the fields every attention layer reads. */
export const NO_SINKS = { perDimKeyScale: false, zeroFullyMasked: false, numSinkEmbeddings: 0, useSinkScalars: false } as const;

const v2Fields = {
  ...flashAttentionFields,
  /** Past steps each step sees: -1 all of them, 0 none (required). */
  maxPastHorizon: f.int(-1),
  /** Future steps each step sees: -1 all of them (then not steppable), 0 none (default 0). */
  maxFutureHorizon: f.int(-1).default(0),
  /** experimental_remat_outer: any boolean, no effect (training memory). */
  experimentalRematOuter: f.bool().opt(),
  /** experimental_remat_inner: any boolean, no effect (training memory). */
  experimentalRematInner: f.bool().opt(),
};

/**
 * DotProductSelfAttentionV2 (no output projection): DotProductSelfAttention without sinks or
 * relative positions. Steppable when max_future_horizon >= 0 (the reference also needs
 * max_past_horizon >= 0; an unlimited past steps here with a growing cache); latency
 * max(0, max_future_horizon); receptive field (-past or -inf, future or +inf).
 *
 * Parameters: the input projection's (see InputProjection) and `per_dim_scale`.
 */
export class DotProductSelfAttentionV2Layer extends SelfAttentionLayer {
  constructor(config: Resolved<typeof v2Fields>, ctx: BuildContext) {
    super({ ...config, ...NO_SINKS, countsMissingPositions: true }, ctx, { kvHeads: config.numKvHeads ?? config.numHeads, kvHeadCycle: true, relativePositions: [] });
  }
}

export const DotProductSelfAttentionV2Def = defineLayer({
  type: 'DotProductSelfAttentionV2',
  fields: v2Fields,
  create: (c, ctx) => new DotProductSelfAttentionV2Layer(c, ctx),
});
export const DotProductSelfAttentionV2 = builder(DotProductSelfAttentionV2Def);
