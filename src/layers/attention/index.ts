// Attention layers. Port of sequence_layers/jax/attention/.
//
// Exports (sorted): attentionDefs, BlockwiseDotProductSelfAttention, DotProductAttention,
// DotProductSelfAttention, DotProductSelfAttentionV2, LocalDotProductSelfAttention,
// MultiSourceDotProductAttention, StreamingDotProductAttention,
// StreamingLocalDotProductAttention (config builders), their
// *Layer classes, and the input projection and relative position config types.
import { BlockwiseDotProductSelfAttentionDef } from './blockwise-dot-product-self-attention.js';
import { DotProductAttentionDef } from './dot-product-attention.js';
import { DotProductSelfAttentionDef } from './dot-product-self-attention.js';
import { DotProductSelfAttentionV2Def } from './dot-product-self-attention-v2.js';
import { LocalDotProductSelfAttentionDef } from './local-dot-product-self-attention.js';
import { MultiSourceDotProductAttentionDef } from './multi-source-dot-product-attention.js';
import { StreamingDotProductAttentionDef, StreamingLocalDotProductAttentionDef } from './streaming-dot-product-attention.js';

export { BlockwiseDotProductSelfAttention, BlockwiseDotProductSelfAttentionLayer } from './blockwise-dot-product-self-attention.js';
export { DotProductAttention, DotProductAttentionLayer } from './dot-product-attention.js';
export { DotProductSelfAttention, DotProductSelfAttentionLayer } from './dot-product-self-attention.js';
export { DotProductSelfAttentionV2, DotProductSelfAttentionV2Layer } from './dot-product-self-attention-v2.js';
export { LocalDotProductSelfAttention, LocalDotProductSelfAttentionLayer } from './local-dot-product-self-attention.js';
export { MultiSourceDotProductAttention, MultiSourceDotProductAttentionLayer } from './multi-source-dot-product-attention.js';
export {
  StreamingDotProductAttention, StreamingDotProductAttentionLayer, StreamingLocalDotProductAttention, StreamingLocalDotProductAttentionLayer,
} from './streaming-dot-product-attention.js';
export type { InputProjectionConfig } from './common.js';
export type { RelativePositionConfig } from './relative-position.js';

export const attentionDefs = [
  DotProductSelfAttentionDef, DotProductSelfAttentionV2Def, LocalDotProductSelfAttentionDef, BlockwiseDotProductSelfAttentionDef, DotProductAttentionDef,
  MultiSourceDotProductAttentionDef,
  StreamingDotProductAttentionDef, StreamingLocalDotProductAttentionDef,
];
