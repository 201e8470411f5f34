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
import { SelfAttentionLayer } from './dot-product-self-attention.js';
import { flashAttentionFields, NO_SINKS } from './dot-product-self-attention-v2.js';

const blockwiseFields = {
  /** Steps per block: the layer's block size, and the span of bidirectional attention (>= 1). */
  blockSize: f.int(1),
  /** Past blocks each block sees: -1 all of them, 0 none (required). */
  maxPastHorizonBlocks: f.int(-1),
  /** Future blocks each block sees: -1 all of them (then not steppable), 0 none (default 0). */
  maxFutureHorizonBlocks: f.int(-1).default(0),
  ...flashAttentionFields,
};

/**
 * Blockwise dot-product self attention (no output projection). Block size `block_size`;
 * steppable when max_future_horizon_blocks >= 0 (the reference also needs
 * max_past_horizon_blocks >= 0; an unlimited past steps here with a growing cache, as
 * DotProductSelfAttention's); latency max(0, future blocks) * block_size; receptive field of
 * step i of a block (-past * W - i, future * W + W - 1 - i) (W = block_size; ±inf for -1).
 * After a latency whose warm-up is not whole blocks it does not step (the reference steps it
 * with its blocks shifted from layer()'s; see SelfAttentionLayer.seesWarmUp).
 *
 * Parameters: the input projection's (see InputProjection) and `per_dim_scale`, as
 * DotProductSelfAttention's.
 */
export class BlockwiseDotProductSelfAttentionLayer extends SelfAttentionLayer {
  constructor(config: Resolved<typeof blockwiseFields>, ctx: BuildContext) {
    const w = config.blockSize, steps = (blocks: number) => (blocks < 0 ? -1 : blocks * w);
    super(
      { ...config, ...NO_SINKS, maxPastHorizon: steps(config.maxPastHorizonBlocks), maxFutureHorizon: steps(config.maxFutureHorizonBlocks) },
      ctx,
      { kvHeads: config.numKvHeads ?? config.numHeads, kvHeadCycle: true, relativePositions: [], block: w },
    );
  }
}

export const BlockwiseDotProductSelfAttentionDef = defineLayer({
  type: 'BlockwiseDotProductSelfAttention',
  fields: blockwiseFields,
  create: (c, ctx) => new BlockwiseDotProductSelfAttentionLayer(c, ctx),
});
export const BlockwiseDotProductSelfAttention = builder(BlockwiseDotProductSelfAttentionDef);
