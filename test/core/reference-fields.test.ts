// Reference config fields that seqlayers accepts only for compatibility (f.only and ref in
// src/config.ts): reference JSON that spells them out at their defaults loads, builds the same
// parameters and gives the same outputs; values that would change the result here are
// BAD_CONFIG errors naming the field; values of fields with no effect here load and change
// nothing either.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as sl from '../../src/index.js';
import { show } from '../../src/errors.js';
import { codedError as error } from '../errors.js';
import { randomizeWeights } from '../layers/helpers.js';

beforeAll(async () => {
  await sl.init();
});

// Logging prints each call; keep the test output clean.
const log = vi.spyOn(console, 'log').mockImplementation(() => {});
afterAll(() => log.mockRestore());

interface Case {
  name: string;
  /** The config with `extra` fields at `at` (snake_case, as reference JSON spells them). */
  make: (extra: Record<string, unknown>) => sl.LayerConfig;
  /** Path of the fields in error messages. */
  at?: string;
  inputShape: number[];
  inputDtype?: 'int32';
  /** Source sequence in constants (cross attention), [batch, time, 3]. */
  source?: boolean;
  /** Every reference field the case adds at its reference default. */
  defaults: Record<string, unknown>;
  /** Other values of fields that make no difference here. */
  noEffect?: Record<string, unknown>;
  /** Values we do not support, each a BAD_CONFIG error. */
  rejected: Record<string, unknown>;
}

const conv = { compute_dtype: null, param_dtype: 'float32', precision: null, kernel_init: null, kernel_constraint: null, kernel_sharding: null, bias_init: null, bias_sharding: null };
const convNoEffect = { compute_dtype: 'float32', precision: 'highest', kernel_sharding: [null, 'data', ['model', 'replica']], bias_sharding: ['model'] };
const convRejected = { kernel_init: 'zeros', bias_init: 'ones', param_dtype: 'bfloat16', compute_dtype: 'bfloat16' };
const noFactories = { weight_factory: null, input_factory: null, output_factory: null };

const attention = {
  query_network: null, key_network: null, value_network: null, experimental_accumulate_logits_in_float32: false, per_dim_scale_sharding: null,
  precision: null, compute_dtype: null, param_dtype: 'float32', sink_embeddings_init: null, sink_embeddings_sharding: null, sink_scalars_init: null,
};
const attentionNoEffect = { experimental_accumulate_logits_in_float32: true, precision: ['highest', 'highest'], per_dim_scale_sharding: ['model'] };
/** Every dot-product attention layer takes query/key/value networks. */
const attentionRejected = { param_dtype: 'bfloat16', sink_embeddings_init: 'zeros' };
const kvCache = { ...attention, use_kv_cache_ringbuffer: false };
const kvCacheNoEffect = { ...attentionNoEffect, use_kv_cache_ringbuffer: true };
/** share_scope is implemented (test/reference.test.ts checks it against the reference); false is its default. */
const shareScope = { defaults: { share_scope: false }, rejected: {} };
/** The flash-attention layers (DotProductSelfAttentionV2, BlockwiseDotProductSelfAttention): no sinks. */
const flash = {
  query_network: null, key_network: null, value_network: null, experimental_accumulate_logits_in_float32: false, per_dim_scale_sharding: null,
  precision: null, compute_dtype: null, param_dtype: 'float32', use_kv_cache_ringbuffer: false, segment_ids_name: null, position_name: null,
  flash_attention_query_block_size: null, flash_attention_key_block_size: null,
};
const flashNoEffect = { ...kvCacheNoEffect, flash_attention_query_block_size: 128, flash_attention_key_block_size: 64 };
const flashRejected = { param_dtype: 'bfloat16' };
const heads = { num_heads: 2, units_per_head: 3 };

const dense = {
  compute_dtype: null, param_dtype: 'float32', precision: null, kernel_init: null, kernel_sharding: null, bias_init: null, bias_sharding: null,
  einsum_factory: null, quantization_provider: null,
};
const denseNoEffect = { compute_dtype: 'float32', precision: 'bfloat16_3x', kernel_sharding: ['data', 'model'], bias_sharding: [['model', 'replica']] };
const denseRejected = { kernel_init: 'lecun_normal', bias_init: 'zeros', param_dtype: 'bfloat16', compute_dtype: 'float16', einsum_factory: 'int8_einsum', quantization_provider: { type: 'aqt' } };
const timeVarying = { compute_dtype: null, param_dtype: 'float32', precision: null, kernel_init: null, kernel_sharding: null, bias_init: null, bias_sharding: null };
const timeVaryingRejected = { kernel_init: 'zeros', bias_init: 'ones', param_dtype: 'bfloat16', compute_dtype: 'bfloat16' };
const norm = { scale_init: null, bias_init: null, sharding: null, param_dtype: 'float32', guard_against_excess_precision: false };
const normNoEffect = { sharding: ['model'], guard_against_excess_precision: true };
const normRejected = { scale_init: 'zeros', bias_init: 'ones', param_dtype: 'bfloat16' };
const projectionOf = (type: string) => (e: Record<string, unknown>) => ({ type: 'DotProductSelfAttention', ...heads, max_past_horizon: 2, use_bias: true, input_projection: { type, ...e } });
const projection = { einsum_factory: null, quantization_provider: null };
const projectionRejected = { einsum_factory: 'int8_einsum', quantization_provider: 'aqt' };
const queryAndKeyValue = {
  ...projection, q_kernel_init: null, q_kernel_sharding: null, q_bias_init: null, q_bias_sharding: null,
  kv_kernel_init: null, kv_kernel_sharding: null, kv_bias_init: null, kv_bias_sharding: null,
};
const queryAndKeyValueNoEffect = { q_kernel_sharding: ['data', 'model', null], kv_bias_sharding: [null, 'model'] };
const queryAndKeyValueRejected = { ...projectionRejected, q_kernel_init: 'zeros', q_bias_init: 'ones', kv_kernel_init: 'zeros', kv_bias_init: 'ones' };

const cases: Case[] = [
  { name: 'Conv1D', make: (e) => ({ type: 'Conv1D', filters: 2, kernel_size: 3, ...e }), inputShape: [3], defaults: conv, noEffect: convNoEffect, rejected: convRejected },
  {
    name: 'DepthwiseConv1D', make: (e) => ({ type: 'DepthwiseConv1D', kernel_size: 3, padding: 'causal', ...e }), inputShape: [3],
    defaults: { ...conv, array_factory: null }, noEffect: { array_factory: noFactories }, rejected: { ...convRejected, array_factory: { weight_factory: { type: 'Int8' } } },
  },
  {
    name: 'Conv2D', make: (e) => ({ type: 'Conv2D', filters: 2, kernel_size: 3, ...e }), inputShape: [5, 2],
    defaults: { ...conv, array_factory: null }, noEffect: { ...convNoEffect, array_factory: noFactories }, rejected: { ...convRejected, array_factory: { input_factory: 'quantize' } },
  },
  { name: 'Conv3D', make: (e) => ({ type: 'Conv3D', filters: 2, kernel_size: 2, ...e }), inputShape: [3, 3, 2], defaults: conv, noEffect: convNoEffect, rejected: convRejected },
  { name: 'Conv1DTranspose', make: (e) => ({ type: 'Conv1DTranspose', filters: 2, kernel_size: 3, strides: 2, ...e }), inputShape: [3], defaults: conv, noEffect: convNoEffect, rejected: convRejected },
  { name: 'Conv2DTranspose', make: (e) => ({ type: 'Conv2DTranspose', filters: 2, kernel_size: 2, strides: 2, ...e }), inputShape: [3, 2], defaults: conv, noEffect: convNoEffect, rejected: convRejected },
  { name: 'Serial', make: (e) => ({ type: 'Serial', layers: [{ type: 'Conv1D', filters: 2, kernel_size: 1 }, { type: 'Relu' }], ...e }), inputShape: [3], ...shareScope },
  { name: 'Parallel', make: (e) => ({ type: 'Parallel', layers: [{ type: 'Conv1D', filters: 3, kernel_size: 1 }, { type: 'Identity' }], combination: 'add', ...e }), inputShape: [3], ...shareScope },
  { name: 'Residual', make: (e) => ({ type: 'Residual', layers: [{ type: 'Conv1D', filters: 3, kernel_size: 1 }], ...e }), inputShape: [3], ...shareScope },
  {
    name: 'DotProductSelfAttention', make: (e) => ({ type: 'DotProductSelfAttention', ...heads, max_past_horizon: 2, ...e }), inputShape: [4],
    defaults: kvCache, noEffect: kvCacheNoEffect, rejected: attentionRejected,
  },
  {
    name: 'LocalDotProductSelfAttention', make: (e) => ({ type: 'LocalDotProductSelfAttention', ...heads, max_past_horizon: 2, block_size: 2, ...e }), inputShape: [4],
    defaults: kvCache, noEffect: kvCacheNoEffect, rejected: attentionRejected,
  },
  {
    name: 'BlockwiseDotProductSelfAttention', make: (e) => ({ type: 'BlockwiseDotProductSelfAttention', ...heads, block_size: 2, max_past_horizon_blocks: 1, ...e }), inputShape: [4],
    defaults: flash, noEffect: flashNoEffect, rejected: flashRejected,
  },
  {
    name: 'DotProductSelfAttentionV2', make: (e) => ({ type: 'DotProductSelfAttentionV2', ...heads, max_past_horizon: 2, ...e }), inputShape: [4],
    defaults: { ...flash, experimental_remat_outer: false, experimental_remat_inner: false },
    noEffect: { ...flashNoEffect, experimental_remat_outer: true, experimental_remat_inner: true }, rejected: flashRejected,
  },
  {
    name: 'DotProductAttention', make: (e) => ({ type: 'DotProductAttention', source_name: 'source', ...heads, ...e }), inputShape: [4], source: true,
    defaults: { ...attention, query_positions_name: null }, noEffect: { ...attentionNoEffect, query_positions_name: 'positions' }, rejected: attentionRejected,
  },
  {
    name: 'MultiSourceDotProductAttention', make: (e) => ({ type: 'MultiSourceDotProductAttention', source_names: ['source'], ...heads, ...e }), inputShape: [4], source: true,
    defaults: {
      query_network: null, key_network: null, value_network: null, experimental_accumulate_logits_in_float32: false, per_dim_scale_sharding: null,
      precision: null, compute_dtype: null, param_dtype: 'float32', query_positions_name: null, source_position_names: null, query_segment_ids_name: null,
      source_segment_ids_names: null, flash_attention_query_block_size: null, flash_attention_source_block_sizes: null,
    },
    noEffect: { ...attentionNoEffect, query_positions_name: 'positions', source_position_names: ['source_positions'], source_segment_ids_names: ['source_segments'], flash_attention_source_block_sizes: [128] },
    rejected: { param_dtype: 'bfloat16' },
  },
  {
    name: 'StreamingDotProductAttention', make: (e) => ({ type: 'StreamingDotProductAttention', source_name: 'source', ...heads, max_past_horizon: 2, ...e }), inputShape: [4],
    source: true, defaults: kvCache, noEffect: kvCacheNoEffect, rejected: attentionRejected,
  },
  {
    name: 'StreamingLocalDotProductAttention', make: (e) => ({ type: 'StreamingLocalDotProductAttention', source_name: 'source', ...heads, max_past_horizon: 2, block_size: 2, ...e }),
    inputShape: [4], source: true, defaults: kvCache, noEffect: kvCacheNoEffect, rejected: attentionRejected,
  },
  {
    name: 'GmmAttention', make: (e) => ({ type: 'GmmAttention', source_name: 'source', ...heads, num_components: 2, monotonic: true, ...e }), inputShape: [4], source: true,
    defaults: { precision: null, hidden_kernel_init: null, hidden_kernel_sharding: null, output_kernel_init: null, output_bias_init: null, output_bias_sharding: null, output_kernel_sharding: null },
    noEffect: { precision: 'float32', hidden_kernel_sharding: ['data', 'model'] }, rejected: { hidden_kernel_init: 'zeros', output_bias_init: 'ones' },
  },
  {
    name: 'ShawRelativePositionEmbedding', at: 'config.relative_position_embedding', inputShape: [4],
    make: (e) => ({ type: 'DotProductSelfAttention', ...heads, max_past_horizon: 2, relative_position_embedding: { type: 'ShawRelativePositionEmbedding', max_backward: 2, max_forward: 0, ...heads, ...e } }),
    defaults: { embedding_init: null, embedding_sharding: null, param_dtype: 'float32', compute_dtype: 'float32' }, noEffect: { embedding_sharding: [null, 'model'] },
    rejected: { embedding_init: 'zeros', param_dtype: 'bfloat16', compute_dtype: 'bfloat16' },
  },
  {
    name: 'T5RelativePositionEmbedding', at: 'config.relative_position_embedding', inputShape: [4],
    make: (e) => ({ type: 'DotProductSelfAttention', ...heads, max_past_horizon: 2, relative_position_embedding: { type: 'T5RelativePositionEmbedding', num_buckets: 4, num_heads: 2, bidirectional: false, ...e } }),
    defaults: { bias_matrix_init: null, bias_matrix_sharding: null, param_dtype: 'float32', compute_dtype: null }, noEffect: { compute_dtype: 'float32' },
    rejected: { bias_matrix_init: 'zeros', compute_dtype: 'bfloat16' },
  },
  {
    name: 'TransformerXLRelativePositionEmbedding', at: 'config.relative_position_embedding', inputShape: [4],
    make: (e) => ({
      type: 'LocalDotProductSelfAttention', ...heads, max_past_horizon: 2, block_size: 2,
      relative_position_embedding: { type: 'TransformerXLRelativePositionEmbedding', ...heads, max_backward: 2, max_forward: 0, position_bias_dim: 4, ...e },
    }),
    defaults: { u_sharding: null, v_sharding: null, pos_proj_sharding: null, param_dtype: 'float32', einsum_factory: null }, noEffect: { u_sharding: ['model'] },
    rejected: { einsum_factory: 'int8_einsum', param_dtype: 'float16' },
  },
  {
    name: 'Affine', make: (e) => ({ type: 'Affine', shape: [3], ...e }), inputShape: [3],
    defaults: { param_dtype: 'float32', scale_init: null, bias_init: null, scale_sharding: null, bias_sharding: null }, noEffect: { scale_sharding: ['model'] },
    rejected: { param_dtype: 'bfloat16', scale_init: 'zeros' },
  },
  {
    name: 'Embedding', make: (e) => ({ type: 'Embedding', dimension: 3, num_embeddings: 5, ...e }), inputShape: [2], inputDtype: 'int32',
    defaults: { compute_dtype: null, param_dtype: 'float32', embedding_init: null, embedding_sharding: null }, noEffect: { compute_dtype: 'float32', embedding_sharding: ['model', null] },
    rejected: { embedding_init: 'uniform', param_dtype: 'int8' },
  },
  {
    name: 'EmbeddingTranspose', make: (e) => ({ type: 'EmbeddingTranspose', num_embeddings: 5, dimension: 3, ...e }), inputShape: [3],
    defaults: { bias_init: null, bias_sharding: null, compute_dtype: null, param_dtype: null }, noEffect: { param_dtype: 'float32', compute_dtype: 'float32' },
    rejected: { bias_init: 'ones', param_dtype: 'bfloat16' },
  },
  { name: 'OneHot', make: (e) => ({ type: 'OneHot', depth: 4, ...e }), inputShape: [2], inputDtype: 'int32', defaults: { compute_dtype: 'float32' }, rejected: { compute_dtype: 'int32' } },
  { name: 'PRelu', make: (e) => ({ type: 'PRelu', ...e }), inputShape: [3], defaults: { param_dtype: 'float32' }, rejected: { param_dtype: 'bfloat16' } },
  { name: 'Snake', make: (e) => ({ type: 'Snake', separate_beta: true, ...e }), inputShape: [3], defaults: { param_dtype: 'float32' }, rejected: { param_dtype: 'float16' } },
  {
    name: 'Dense', make: (e) => ({ type: 'Dense', features: 2, ...e }), inputShape: [3],
    defaults: { ...dense, projectable: true }, noEffect: { ...denseNoEffect, projectable: false }, rejected: denseRejected,
  },
  {
    name: 'DenseShaped', make: (e) => ({ type: 'DenseShaped', output_shape: [2, 2], ...e }), inputShape: [3],
    defaults: { ...dense, projectable: true }, noEffect: { ...denseNoEffect, projectable: false }, rejected: denseRejected,
  },
  {
    name: 'EinsumDense', make: (e) => ({ type: 'EinsumDense', equation: '...ab,bc->...ac', output_shape: [null, 4], bias_axes: 'c', ...e }), inputShape: [2, 3],
    defaults: dense, noEffect: denseNoEffect, rejected: denseRejected,
  },
  { name: 'LayerNormalization', make: (e) => ({ type: 'LayerNormalization', ...e }), inputShape: [4], defaults: norm, noEffect: normNoEffect, rejected: normRejected },
  {
    name: 'RMSNormalization', make: (e) => ({ type: 'RMSNormalization', ...e }), inputShape: [4],
    defaults: { scale_init: null, sharding: null, param_dtype: 'float32', guard_against_excess_precision: false }, noEffect: normNoEffect,
    rejected: { scale_init: 'zeros', param_dtype: 'float16' },
  },
  { name: 'GroupNormalization', make: (e) => ({ type: 'GroupNormalization', num_groups: 2, cumulative: true, ...e }), inputShape: [4], defaults: norm, noEffect: normNoEffect, rejected: normRejected },
  { name: 'BatchNormalization', make: (e) => ({ type: 'BatchNormalization', ...e }), inputShape: [4], defaults: norm, noEffect: normNoEffect, rejected: normRejected },
  {
    name: 'LSTM', make: (e) => ({ type: 'LSTM', units: 3, ...e }), inputShape: [2],
    defaults: {
      compute_dtype: null, param_dtype: 'float32', precision: null, kernel_init: null, kernel_sharding: null, recurrent_kernel_init: null,
      recurrent_kernel_sharding: null, bias_init: null, bias_sharding: null,
    },
    noEffect: { compute_dtype: 'float32', precision: 'highest', kernel_sharding: [null, 'model'], recurrent_kernel_sharding: ['model', null], bias_sharding: ['model'] },
    rejected: { kernel_init: 'zeros', recurrent_kernel_init: 'orthogonal', bias_init: 'zeros', param_dtype: 'float16', compute_dtype: 'bfloat16' },
  },
  {
    name: 'RGLRU', make: (e) => ({ type: 'RGLRU', units: 4, num_heads: 2, ...e }), inputShape: [4],
    defaults: { scan_sharding: null, a_sharding: null, gate_kernel_sharding: null, gate_bias_sharding: null, compute_dtype: null, param_dtype: 'float32' },
    noEffect: { scan_sharding: ['data', null, 'model'], a_sharding: ['model'], gate_kernel_sharding: ['model', null, null], gate_bias_sharding: ['model', null], compute_dtype: 'float32' },
    rejected: { param_dtype: 'bfloat16', compute_dtype: 'bfloat16' },
  },
  {
    name: 'AddTimingSignal', make: (e) => ({ type: 'AddTimingSignal', trainable_scale: true, ...e }), inputShape: [4],
    defaults: { sharding: null, param_dtype: 'float32' }, noEffect: { sharding: [] }, rejected: { param_dtype: 'bfloat16' },
  },
  {
    name: 'Conditioning', make: (e) => ({ type: 'Conditioning', conditioning_name: 'source', projection: 'linear', combination: 'add', ...e }), inputShape: [3], source: true,
    defaults: { compute_dtype: null, param_dtype: 'float32', kernel_init: null, kernel_sharding: null, bias_init: null, bias_sharding: null },
    noEffect: { compute_dtype: 'float32', kernel_sharding: ['data', null], bias_sharding: ['model'] },
    rejected: { kernel_init: 'zeros', bias_init: 'ones', param_dtype: 'bfloat16', compute_dtype: 'bfloat16' },
  },
  {
    name: 'SequenceDense', make: (e) => ({ type: 'SequenceDense', features: 2, num_steps: 6, ...e }), inputShape: [3],
    defaults: timeVarying, noEffect: { compute_dtype: 'float32', precision: 'highest', kernel_sharding: [null, null, 'model'] }, rejected: timeVaryingRejected,
  },
  {
    name: 'MaskedDense', make: (e) => ({ type: 'MaskedDense', features: 2, num_steps: 6, ...e }), inputShape: [3],
    defaults: timeVarying, noEffect: { compute_dtype: 'float32', precision: 'default', bias_sharding: [null, 'model'] }, rejected: timeVaryingRejected,
  },
  {
    name: 'SequenceEmbedding', make: (e) => ({ type: 'SequenceEmbedding', dimension: 3, num_embeddings_per_step: 5, num_steps: 6, ...e }), inputShape: [2], inputDtype: 'int32',
    defaults: { compute_dtype: null, param_dtype: 'float32', embedding_init: null, embedding_sharding: null }, noEffect: { compute_dtype: 'float32', embedding_sharding: ['model', null] },
    rejected: { embedding_init: 'uniform', param_dtype: 'int8', compute_dtype: 'int32' },
  },
  {
    name: 'CombinedQueryKeyValueProjection', at: 'config.input_projection', make: projectionOf('CombinedQueryKeyValueProjection'), inputShape: [4],
    defaults: { ...projection, qkv_kernel_init: null, qkv_kernel_sharding: null, bias_init: null, bias_sharding: null },
    noEffect: { qkv_kernel_sharding: [null, null, 'model', null], bias_sharding: [null, 'model', null] },
    rejected: { ...projectionRejected, qkv_kernel_init: 'zeros', bias_init: 'ones' },
  },
  {
    name: 'SeparateQueryKeyValueProjection', at: 'config.input_projection', make: projectionOf('SeparateQueryKeyValueProjection'), inputShape: [4],
    defaults: { ...projection, q_kernel_init: null, k_kernel_init: null, v_kernel_init: null, q_kernel_sharding: null, k_kernel_sharding: null, v_kernel_sharding: null, bias_init: null, bias_sharding: null },
    noEffect: { k_kernel_sharding: ['data', 'model', null], bias_sharding: ['model', null] },
    rejected: { ...projectionRejected, q_kernel_init: 'zeros', k_kernel_init: 'zeros', v_kernel_init: 'zeros', bias_init: 'ones' },
  },
  {
    name: 'QueryAndKeyValueProjection', at: 'config.input_projection', make: projectionOf('QueryAndKeyValueProjection'), inputShape: [4],
    defaults: queryAndKeyValue, noEffect: queryAndKeyValueNoEffect, rejected: queryAndKeyValueRejected,
  },
  {
    name: 'QueryAndSharedKeyValueProjection', at: 'config.input_projection', make: projectionOf('QueryAndSharedKeyValueProjection'), inputShape: [4],
    defaults: queryAndKeyValue, noEffect: queryAndKeyValueNoEffect, rejected: queryAndKeyValueRejected,
  },
  {
    name: 'Logging', make: (e) => ({ type: 'Logging', prefix: 'test', ...e }), inputShape: [3],
    defaults: { layer_format_str: '{prefix} layer():\n\tx={x}\n\ttraining={training}\n\tconstants={constants}', get_initial_state_format_str: '{prefix} get_initial_state()', step_format_str: '{prefix} step():\n\tx={x}' },
    noEffect: { layer_format_str: '{prefix}: {x}', step_format_str: '' }, rejected: {},
  },
];

const source = sl.randomSequence([2, 6, 3], { seed: 7 });

function build(c: Case, config: sl.LayerConfig): sl.Model {
  return sl.build(config, { inputShape: c.inputShape, inputDtype: c.inputDtype, constants: c.source ? { source } : undefined, seed: 0 });
}

/** The output of `config` with `weights` loaded (strictly: same parameter names and shapes). */
function run(c: Case, config: sl.LayerConfig, weights: ReturnType<sl.Model['getWeights']>): sl.Sequence {
  const m = build(c, config);
  try {
    m.loadWeights(weights);
    const shape = [2, 6, ...c.inputShape];
    const x = c.inputDtype ? sl.randomSequence(shape, { seed: 3, dtype: 'int32', low: 0, high: 5 }) : sl.randomSequence(shape, { seed: 3 });
    return m.layer(x, { constants: c.source ? { source } : undefined });
  } finally {
    m.dispose();
  }
}

describe('reference fields accepted for compatibility', () => {
  for (const c of cases) {
    describe(c.name, () => {
      const base = c.make({});
      let weights: ReturnType<sl.Model['getWeights']>;
      let want: sl.Sequence;
      beforeAll(() => {
        const m = randomizeWeights(build(c, base), 1, 0.5);
        weights = m.getWeights();
        m.dispose();
        want = run(c, base, weights);
      });

      it('at their reference defaults: load, same parameters, same output, round-trip', () => {
        const config = c.make(c.defaults);
        const y = run(c, config, weights);
        expect(y.values).toEqual(want.values);
        expect(y.mask).toEqual(want.mask);
        const m = build(c, config);
        const again = build(c, sl.toSnakeCase(m.toConfig()));
        expect(again.toConfig()).toEqual(m.toConfig());
        // null-valued fields are dropped like omitted ones, so only the others change the normalised config.
        const nonNull = Object.entries(c.defaults).filter(([, v]) => v !== null);
        const want2 = build(c, c.make(Object.fromEntries(nonNull)));
        expect(m.toConfig()).toEqual(want2.toConfig());
        for (const model of [m, again, want2]) model.dispose();
      });

      for (const [field, value] of Object.entries(c.noEffect ?? {})) {
        it(`${field}: ${JSON.stringify(value)} loads and changes nothing`, () => {
          const y = run(c, c.make({ [field]: value }), weights);
          expect(y.values).toEqual(want.values);
          expect(y.mask).toEqual(want.mask);
        });
      }

      for (const [field, value] of Object.entries(c.rejected)) {
        it(`${field}: ${JSON.stringify(value)} is BAD_CONFIG`, () => {
          const e = error(() => build(c, c.make({ [field]: value })));
          expect(e.code).toBe('BAD_CONFIG');
          const at = (c.at ?? 'config').replace(/[.[\]]/g, '\\$&');
          const only = JSON.stringify(c.defaults[field]).replace(/[.[\]]/g, '\\$&');
          expect(e.message).toMatch(new RegExp(`${at}\\.${field}: only ${only}( or .+)? is supported \\(.+\\), got `));
          expect(e.message).toContain(`got ${show(value).slice(0, 40)}`);
        });
      }
    });
  }

  it('fields with no effect still check their values', () => {
    const dpsa = { type: 'DotProductSelfAttention', num_heads: 2, units_per_head: 3, max_past_horizon: 2 };
    const bad = (extra: object) => error(() => sl.build({ ...dpsa, ...extra }, { inputShape: [4] })).message;
    expect(bad({ use_kv_cache_ringbuffer: 1 })).toMatch(/config\.use_kv_cache_ringbuffer: expected true or false or null, got 1/);
    expect(bad({ precision: 'fast' })).toMatch(/config\.precision: expected a jax\.lax\.Precision name .*, got "fast"/);
    expect(bad({ per_dim_scale_sharding: 'model' })).toMatch(/config\.per_dim_scale_sharding: expected a sharding.*, got "model"/);
    expect(error(() => sl.build({ type: 'Logging', step_format_str: 3 }, { inputShape: [1] })).message).toMatch(/config\.step_format_str: expected a string or null, got 3/);
    expect(error(() => sl.build({ type: 'Serial', layers: [], share_scope: [false] }, { inputShape: [1] })).message).toBe(
      '[BAD_CONFIG] Serial at config: share_scope: expected a boolean or a list of 0 (one per layer), got 1 booleans',
    );
    expect(error(() => sl.build({ type: 'Serial', layers: [], share_scope: 'yes' }, { inputShape: [1] })).message).toMatch(
      /config\.share_scope: expected true, false or a list of booleans \(one per layer\), got "yes"/,
    );
    expect(error(() => sl.build({ type: 'Dense', features: 2, projectable: 1 }, { inputShape: [3] })).message).toMatch(/config\.projectable: expected true or false or null, got 1/);
    expect(error(() => sl.build({ type: 'LayerNormalization', guard_against_excess_precision: 'yes' }, { inputShape: [3] })).message).toMatch(
      /config\.guard_against_excess_precision: expected true or false or null, got "yes"/,
    );
    expect(error(() => sl.build({ type: 'RGLRU', units: 4, num_heads: 2, scan_sharding: 'model' }, { inputShape: [4] })).message).toMatch(/config\.scan_sharding: expected a sharding.*, got "model"/);
    expect(bad({ input_projection: { type: 'SeparateQueryKeyValueProjection', q_kernel_sharding: [1] } })).toMatch(/config\.input_projection\.q_kernel_sharding: expected a sharding.*, got \[1\]/);
  });

  it('GRU, not in the reference, has none of its LSTM fields', () => {
    const e = error(() => sl.build({ type: 'GRU', units: 3, kernel_init: null }, { inputShape: [2] }));
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toMatch(/config\.kernel_init: GRU has no field "kernel_init"/);
  });

  it('sub-configs check null and repeated fields as layer configs do', () => {
    const dpsa = { type: 'DotProductSelfAttention', num_heads: 2, units_per_head: 3, max_past_horizon: 2 };
    const shaw = { type: 'ShawRelativePositionEmbedding', max_backward: 2, max_forward: 0, num_heads: 2, units_per_head: 3 };
    const bad = (extra: object) => error(() => sl.build({ ...dpsa, ...extra }, { inputShape: [4] }));
    // null is checked, not skipped: a field supported only at other values refuses it.
    let e = bad({ relative_position_embedding: { ...shaw, param_dtype: null } });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toMatch(/config\.relative_position_embedding\.param_dtype: only "float32" is supported \(parameters are float32 here\), got null/);
    e = bad({ input_projection: { type: 'CombinedQueryKeyValueProjection', share_kv_projection: true, shareKvProjection: false } });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toMatch(/config\.input_projection\.shareKvProjection: field given twice \("share_kv_projection" and "shareKvProjection"\)/);
    // null still stands for an omitted optional field where the field allows it.
    const m = sl.build({ ...dpsa, input_projection: { type: 'CombinedQueryKeyValueProjection', share_kv_projection: null, einsum_factory: null }, relative_position_embedding: { ...shaw, embedding_sharding: null } }, { inputShape: [4] });
    expect(m.toConfig()).toMatchObject({ inputProjection: { type: 'CombinedQueryKeyValueProjection', shareKvProjection: false } });
    expect(m.toConfig().inputProjection).not.toHaveProperty('einsumFactory');
    m.dispose();
  });

  it('loads a reference-style snake_case JSON that spells the defaults out', () => {
    const json = `{
      "type": "Serial", "share_scope": false, "name": "encoder",
      "layers": [
        {"type": "Conv1D", "filters": 4, "kernel_size": 3, "padding": "causal", "compute_dtype": null, "param_dtype": "float32",
         "precision": null, "kernel_init": null, "kernel_constraint": null, "kernel_sharding": null, "bias_init": null, "bias_sharding": null},
        {"type": "Logging", "prefix": "conv", "layer_format_str": "{prefix} layer(): x={x}", "step_format_str": "{prefix} step(): x={x}"},
        {"type": "Residual", "share_scope": false, "layers": [
          {"type": "DotProductSelfAttention", "num_heads": 2, "units_per_head": 2, "max_past_horizon": 4, "query_network": null,
           "key_network": null, "value_network": null, "use_kv_cache_ringbuffer": false, "experimental_accumulate_logits_in_float32": false,
           "compute_dtype": null, "param_dtype": "float32", "per_dim_scale_sharding": null, "sink_embeddings_init": null},
          {"type": "Reshape", "output_shape": [4]}
        ]},
        {"type": "Parallel", "share_scope": false, "combination": "add", "layers": [{"type": "Identity"}, {"type": "Relu"}]}
      ]
    }`;
    const plain = {
      type: 'Serial', name: 'encoder',
      layers: [
        { type: 'Conv1D', filters: 4, kernel_size: 3, padding: 'causal' },
        { type: 'Logging', prefix: 'conv' },
        { type: 'Residual', layers: [{ type: 'DotProductSelfAttention', num_heads: 2, units_per_head: 2, max_past_horizon: 4 }, { type: 'Reshape', output_shape: [4] }] },
        { type: 'Parallel', combination: 'add', layers: [{ type: 'Identity' }, { type: 'Relu' }] },
      ],
    };
    const m = randomizeWeights(sl.build(JSON.parse(json), { inputShape: [3] }));
    const p = sl.build(plain, { inputShape: [3] });
    p.loadWeights(m.getWeights());
    const x = sl.randomSequence([2, 8, 3], { seed: 5 });
    const y = m.layer(x);
    expect(y.values).toEqual(p.layer(x).values);
    expect(sl.stepByStep(m, x, 2).values).toEqual(sl.stepByStep(p, x, 2).values);
    // The normalised config keeps the non-null fields and loads again from its snake_case form.
    const again = sl.build(JSON.parse(JSON.stringify(sl.toSnakeCase(m.toConfig()))), { inputShape: [3] });
    expect(again.toConfig()).toEqual(m.toConfig());
    expect(m.toConfig()).toMatchObject({ shareScope: false, layers: [{ paramDtype: 'float32' }, {}, { layers: [{ useKvCacheRingbuffer: false }, {}] }, {}] });
    expect(m.toConfig().layers).not.toHaveProperty('0.kernelConstraint');
    for (const model of [m, p, again]) model.dispose();
  });

  it('loads a reference-style JSON of dense, normalization, recurrent and position layers spelling the defaults out', () => {
    const json = `{
      "type": "Serial",
      "layers": [
        {"type": "Dense", "features": 4, "use_bias": true, "compute_dtype": null, "param_dtype": "float32", "precision": null, "kernel_init": null,
         "kernel_sharding": null, "bias_init": null, "bias_sharding": null, "einsum_factory": null, "projectable": true, "quantization_provider": null},
        {"type": "LayerNormalization", "scale_init": null, "bias_init": null, "sharding": null, "reductions_in_at_least_fp32": true,
         "param_dtype": "float32", "guard_against_excess_precision": false},
        {"type": "AddTimingSignal", "trainable_scale": true, "axes": null, "sharding": null, "param_dtype": "float32"},
        {"type": "DotProductSelfAttention", "num_heads": 2, "units_per_head": 2, "max_past_horizon": 4, "use_bias": true,
         "input_projection": {"type": "QueryAndKeyValueProjection", "q_kernel_init": null, "q_kernel_sharding": null, "q_bias_init": null,
          "q_bias_sharding": null, "kv_kernel_init": null, "kv_kernel_sharding": null, "kv_bias_init": null, "kv_bias_sharding": null,
          "einsum_factory": null, "quantization_provider": null}},
        {"type": "EinsumDense", "equation": "...hu,huo->...o", "output_shape": [4], "bias_axes": "o", "compute_dtype": null, "param_dtype": "float32",
         "precision": null, "kernel_init": null, "kernel_sharding": null, "bias_init": null, "bias_sharding": null, "einsum_factory": null,
         "quantization_provider": null},
        {"type": "LSTM", "units": 4, "compute_dtype": null, "param_dtype": "float32", "precision": null, "use_bias": true, "kernel_init": null,
         "kernel_sharding": null, "recurrent_kernel_init": null, "recurrent_kernel_sharding": null, "bias_init": null, "bias_sharding": null},
        {"type": "RGLRU", "units": 4, "num_heads": 2, "scan_type": "auto", "scan_sharding": null, "a_sharding": null, "gate_kernel_sharding": null,
         "gate_bias_sharding": null, "compute_dtype": null, "param_dtype": "float32"},
        {"type": "RMSNormalization", "scale_init": null, "sharding": null, "param_dtype": "float32", "guard_against_excess_precision": false}
      ]
    }`;
    const plain = {
      type: 'Serial',
      layers: [
        { type: 'Dense', features: 4 },
        { type: 'LayerNormalization' },
        { type: 'AddTimingSignal', trainable_scale: true },
        { type: 'DotProductSelfAttention', num_heads: 2, units_per_head: 2, max_past_horizon: 4, use_bias: true, input_projection: { type: 'QueryAndKeyValueProjection' } },
        { type: 'EinsumDense', equation: '...hu,huo->...o', output_shape: [4], bias_axes: 'o' },
        { type: 'LSTM', units: 4 },
        { type: 'RGLRU', units: 4, num_heads: 2 },
        { type: 'RMSNormalization' },
      ],
    };
    const m = randomizeWeights(sl.build(JSON.parse(json), { inputShape: [3] }));
    const p = sl.build(plain, { inputShape: [3] });
    p.loadWeights(m.getWeights());
    const x = sl.randomSequence([2, 8, 3], { seed: 5 });
    expect(m.layer(x).values).toEqual(p.layer(x).values);
    expect(sl.stepByStep(m, x, 2).values).toEqual(sl.stepByStep(p, x, 2).values);
    const again = sl.build(JSON.parse(JSON.stringify(sl.toSnakeCase(m.toConfig()))), { inputShape: [3] });
    expect(again.toConfig()).toEqual(m.toConfig());
    expect(m.toConfig()).toMatchObject({ layers: [{ paramDtype: 'float32', projectable: true }, { guardAgainstExcessPrecision: false }, {}, {}, {}, {}, {}, {}] });
    expect(m.toConfig().layers).not.toHaveProperty('0.kernelInit');
    for (const model of [m, p, again]) model.dispose();
  });
});
