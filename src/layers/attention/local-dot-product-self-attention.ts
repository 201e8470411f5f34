// Local (sliding-window) dot-product self attention. Port of
// sequence_layers/jax/attention/local_dot_product_self_attention.py.
//
// Exports (sorted): LocalDotProductSelfAttention, LocalDotProductSelfAttentionDef,
// LocalDotProductSelfAttentionLayer.
//
// The reference computes layer() in blocks of `block_size` queries against their
// past + block + future keys instead of the full [query, key] matrix; the fused kernel always
// scans only each query's window, so `block_size` changes only the layout of layer()'s emitted
// probabilities, which follow the reference's blocks (blockedLocalEmit). Results equal DotProductSelfAttention with the same horizons, and the
// reference's, at every valid query: a valid query always sees its own key, so the
// reference's uniform softmax for a query with no visible key never reaches a valid output.
// The layer's own block size stays 1.
import { builder, defineLayer, f, type Resolved } from '../../config.js';
import type { BuildContext, RunContext, WSeq } from '../../layer.js';
import { blockedLocalEmit } from './base.js';
import { SelfAttentionLayer, selfAttentionFields } from './dot-product-self-attention.js';

const localFields = {
  ...selfAttentionFields,
  /** The reference's layer-mode query chunk (>= 1): outputs do not depend on it, the layout of layer()'s emitted probabilities does. Not the layer's block size, which is 1. */
  blockSize: f.int(1),
};

/**
 * Local dot-product self attention: max_past_horizon >= 1 and max_future_horizon >= 0 are
 * required; no grouped-query attention. Relative position embeddings: Transformer-XL (with
 * max_backward/max_forward equal to the horizons; steppable only with no future horizon).
 * Parameters as DotProductSelfAttention.
 */
export class LocalDotProductSelfAttentionLayer extends SelfAttentionLayer {
  private readonly queryBlock: number;

  constructor(config: Resolved<typeof localFields>, ctx: BuildContext) {
    super(config, ctx, { kvHeads: config.numHeads, relativePositions: ['TransformerXLRelativePositionEmbedding'] });
    if (config.maxPastHorizon < 1) throw this.error('BAD_CONFIG', `max_past_horizon: expected >= 1, got ${config.maxPastHorizon}`);
    if (config.maxFutureHorizon < 0) throw this.error('BAD_CONFIG', `max_future_horizon: expected >= 0, got ${config.maxFutureHorizon}`);
    this.queryBlock = config.blockSize;
  }

  /** layer(); its emitted probabilities in the reference's blocked layout ([B, T, H, sinks + past + block_size + future]). */
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = super.runLayer(x, ctx);
    if (ctx.emits) ctx.emit(this.emitKey, blockedLocalEmit(ctx.emitted(this.emitKey)!, this.sinks, this.queryBlock, this.past, this.future));
    return y;
  }
}

export const LocalDotProductSelfAttentionDef = defineLayer({
  type: 'LocalDotProductSelfAttention',
  fields: localFields,
  create: (c, ctx) => new LocalDotProductSelfAttentionLayer(c, ctx),
});
export const LocalDotProductSelfAttention = builder(LocalDotProductSelfAttentionDef);
