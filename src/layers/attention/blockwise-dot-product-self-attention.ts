// Blockwise dot-product self attention. Port of
// sequence_layers/jax/attention/blockwise_dot_product_self_attention.py.
//
// Exports (sorted): BlockwiseDotProductSelfAttention, BlockwiseDotProductSelfAttentionDef,
// BlockwiseDotProductSelfAttentionLayer.
//
// The steps form blocks of `block_size`; every step of a block sees the valid keys of its own
// block (both ways) and of max_past_horizon_blocks blocks before it and
// max_future_horizon_blocks after it (-1: all of them). It is the self attention of
// dot-product-self-attention.ts with a window that starts at the query's block rather than at
// the query (the kernel's WINDOW_BLOCK): the KV cache holds (past + future) blocks of steps,
// queries wait future blocks, and step() equals layer() bit for bit.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import type { BuildContext } from '../../layer.js';
import { attentionFields, kvCacheFields } from './base.js';
import { inputProjectionField } from './common.js';
import { SelfAttentionLayer } from './dot-product-self-attention.js';

const { numHeads, unitsPerHead, useBias, attentionLogitsSoftCap, perDimScale, queryScale, weightStorage } = attentionFields;
const { queryNetwork, keyNetwork, valueNetwork, experimentalAccumulateLogitsInFloat32, perDimScaleSharding, precision, computeDtype, paramDtype } = attentionFields;

const blockwiseFields = {
  /** Steps per block: the layer's block size, and the span of bidirectional attention (>= 1). */
  blockSize: f.int(1),
  numHeads,
  unitsPerHead,
  /** Past blocks each block sees: -1 all of them, 0 none (required). */
  maxPastHorizonBlocks: f.int(-1),
  /** Future blocks each block sees: -1 all of them (then not steppable), 0 none (default 0). */
  maxFutureHorizonBlocks: f.int(-1).default(0),
  /** Key/value heads for grouped-query attention (default null: num_heads); query head h uses kv head h / (num_heads / num_kv_heads). */
  numKvHeads: f.int(1).opt(),
  useBias,
  /** Query/key/value projections (default {"type": "CombinedQueryKeyValueProjection"}). */
  inputProjection: inputProjectionField('CombinedQueryKeyValueProjection'),
  attentionLogitsSoftCap,
  perDimScale,
  queryScale,
  /**
   * With max_past_horizon_blocks = -1, the most steps the KV cache may hold when stepping
   * (default 4096; not in the reference, which cannot step an unlimited past): as
   * DotProductSelfAttention's max_cache_steps.
   */
  maxCacheSteps: f.int(1).default(4096),
  weightStorage,
  /** segment_ids_name: null only (attention within segments from the constants is not implemented). */
  segmentIdsName: f.only([null], 'segment ids from the constants are not implemented'),
  /** position_name: null only (positions from the constants are not implemented; steps are counted). */
  positionName: f.only([null], 'positions from the constants are not implemented'),
  /** flash_attention_query_block_size: any, no effect (the fused kernel scans each query's window). */
  flashAttentionQueryBlockSize: f.int(1).opt(),
  /** flash_attention_key_block_size: any, no effect. */
  flashAttentionKeyBlockSize: f.int(1).opt(),
  queryNetwork,
  keyNetwork,
  valueNetwork,
  experimentalAccumulateLogitsInFloat32,
  perDimScaleSharding,
  precision,
  computeDtype,
  paramDtype,
  ...kvCacheFields,
};

/**
 * Blockwise dot-product self attention (no output projection). Block size `block_size`;
 * steppable when max_future_horizon_blocks >= 0 (the reference also needs
 * max_past_horizon_blocks >= 0; an unlimited past steps here with a growing cache, as
 * DotProductSelfAttention's); latency max(0, future blocks) * block_size; receptive field of
 * step i of a block (-past * W - i, future * W + W - 1 - i) (W = block_size; ±inf for -1).
 *
 * Parameters: the input projection's (see InputProjection) and `per_dim_scale`, as
 * DotProductSelfAttention's.
 */
export class BlockwiseDotProductSelfAttentionLayer extends SelfAttentionLayer {
  constructor(config: Resolved<typeof blockwiseFields>, ctx: BuildContext) {
    const w = config.blockSize, steps = (blocks: number) => (blocks < 0 ? -1 : blocks * w);
    super(
      {
        ...config,
        maxPastHorizon: steps(config.maxPastHorizonBlocks),
        maxFutureHorizon: steps(config.maxFutureHorizonBlocks),
        perDimKeyScale: false,
        zeroFullyMasked: false,
        numSinkEmbeddings: 0,
        useSinkScalars: false,
      },
      ctx,
      { kvHeads: config.numKvHeads ?? config.numHeads, relativePositions: [], block: w },
    );
  }
}

export const BlockwiseDotProductSelfAttentionDef = defineLayer({
  type: 'BlockwiseDotProductSelfAttention',
  fields: blockwiseFields,
  create: (c, ctx) => new BlockwiseDotProductSelfAttentionLayer(c, ctx),
});
export const BlockwiseDotProductSelfAttention = builder(BlockwiseDotProductSelfAttentionDef);
