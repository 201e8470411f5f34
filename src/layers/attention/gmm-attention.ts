// Multi-headed Gaussian-mixture (location-based) cross attention. Port of
// sequence_layers/jax/attention/gmm_attention.py.
//
// Exports (sorted): GmmAttention, gmmAttentionDefs, GmmAttentionLayer.
//
// Each query step predicts, per head, a mixture of Gaussians over source POSITIONS (not source
// content): weights from a softmax, means from softplus offsets, widths from a softplus scale.
// The attention weights are the mixture's density at every source index; the context vector
// is the weighted sum of the source's values (no value projection). With `monotonic`, the
// means are running sums of the offsets (they only move forward): a state [batch, 1, heads,
// components] that layer() also runs through step by step (inside one kernel call).
import { builder, defineLayer, f, normalizeConfig, ref, type Resolved } from '../../config.js';
import { fromWasm, inputChannels, Layer, type BuildContext, type RunContext, type StateSpec, type WSeq } from '../../layer.js';
import { rfMap } from '../../receptive-field.js';
import { EinsumDense } from '../dense.js';
import { getSource, sourceChannelsAtBuild } from './common.js';

const gmmAttentionFields = {
  /** Key of the source Sequence [batch, source_time, channels] in the constants. */
  sourceName: f.str(),
  /** Attention heads. */
  numHeads: f.int(1),
  /** Hidden units per head of the query MLP. */
  unitsPerHead: f.int(1),
  /** Gaussian components per head. */
  numComponents: f.int(1),
  /** Means only move forward: each step adds its offsets to the previous means. */
  monotonic: f.bool(),
  /** Learn a bias in the output projection (default true). */
  outputUseBias: f.bool().default(true),
  /** Added to the offset logits (default 0). */
  initOffsetBias: f.num().default(0),
  /** Added to the scale logits (default 0). */
  initScaleBias: f.num().default(0),
  /** > 0: offsets saturate at this many source steps (softplus(o) - softplus(o - maxOffset)); else unbounded (default -1). */
  maxOffset: f.num().default(-1),
  /** precision: any, no effect (float32 products; see `ref` in config.ts for these reference fields). */
  precision: ref.precision(),
  /** hidden_kernel_init: null only. */
  hiddenKernelInit: ref.init(),
  /** hidden_kernel_sharding: any, no effect. */
  hiddenKernelSharding: ref.sharding(),
  /** output_kernel_init: null only. */
  outputKernelInit: ref.init(),
  /** output_bias_init: null only. */
  outputBiasInit: ref.init(),
  /** output_bias_sharding: any, no effect. */
  outputBiasSharding: ref.sharding(),
  /** output_kernel_sharding: any, no effect. */
  outputKernelSharding: ref.sharding(),
};

/**
 * GMM attention over the source positions. Per query step and head h: hidden = relu(x ·
 * hidden.kernel[:, h]) [U], logits = hidden · output.kernel[h] + output.bias[h] [M, 3] (prior,
 * offset, scale per component m); prior = softmax(prior logits), var = softplus(scale +
 * initScaleBias)^2, offset = softplus(offset + initOffsetBias) (saturating at maxOffset when
 * > 0), mean = offset (or previous mean + offset when monotonic); the weight of source step s
 * is sum_m prior_m sqrt(2π var_m + 1e-8) exp(-(s - mean_m)^2 / (2 var_m + 1e-9)) (0 at invalid
 * source steps; the reference's unnormalised density, ported as is), and the output is
 * sum_s weight_s source[s]. Output [heads, source channels], mask = x's. The weights are
 * emitted as [batch, time, heads, source_time] under the layer's path.
 *
 * Invalid query steps enter the monotonic running means as zero queries (as the reference's
 * masked inputs do), so NaN padding cannot reach later steps.
 *
 * Parameters: `hidden.kernel` [in, heads, units_per_head], `output.kernel` [heads,
 * units_per_head, components, 3], `output.bias` [heads, components, 3] (when outputUseBias;
 * zeros). State: `position` float32 [batch, 1, heads, components] when monotonic (the means,
 * from 0), else none. The source must be in build()'s constants (its channels set the output
 * shape).
 */
export class GmmAttentionLayer extends Layer {
  private readonly sourceName: string;
  private readonly sourceChannels: number;
  private readonly heads: number;
  private readonly components: number;
  private readonly monotonic: boolean;
  private readonly offsetBias: number;
  private readonly scaleBias: number;
  private readonly maxOffset: number;
  private readonly hidden: Layer;
  private readonly logits: Layer;
  /** The query as the hidden projection sees it (reused descriptor). */
  private readonly query: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };

  /** The mixture weights over the source, emitted under the layer's path. */
  override writesEmits = true;

  constructor(config: Resolved<typeof gmmAttentionFields>, ctx: BuildContext) {
    super(config, ctx);
    inputChannels(this, ' (the reference needs rank 3)');
    if (!config.sourceName) throw this.error('BAD_CONFIG', 'source_name: expected a non-empty constants key, got ""');
    this.sourceName = config.sourceName;
    this.sourceChannels = sourceChannelsAtBuild(config.type, ctx.where, ctx.constants, config.sourceName);
    this.heads = config.numHeads;
    this.components = config.numComponents;
    this.monotonic = config.monotonic;
    this.skipsWarmUp = config.monotonic;
    this.offsetBias = config.initOffsetBias;
    this.scaleBias = config.initScaleBias;
    this.maxOffset = config.maxOffset;
    const { numHeads: h, unitsPerHead: u, numComponents: m } = config;
    const hidden = EinsumDense({ equation: '...c,cnu->...nu', outputShape: [h, u], activation: 'relu' });
    this.hidden = this.child(normalizeConfig(hidden, `${this.where}.hidden`), 'hidden', this.input);
    const output = EinsumDense({ equation: '...nu,nucl->...ncl', outputShape: [h, m, 3], biasAxes: config.outputUseBias ? 'ncl' : '' });
    this.logits = this.child(normalizeConfig(output, `${this.where}.output`), 'output', this.hidden.output);
    this.output = { shape: [h, this.sourceChannels], dtype: 'float32' };
    if (this.monotonic) this.receptiveFieldPerStep = rfMap([[-Infinity, 0]]);
    this.checksStep = true;
  }

  validateStep(batch: number, _time: number, ctx: RunContext): void {
    getSource(this, ctx.constants, this.sourceName, this.sourceChannels, batch);
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.monotonic ? [{ name: 'position', dtype: 'float32', shape: [batch, 1, this.heads, this.components] }] : [];
  }

  private run(x: WSeq, ctx: RunContext, position: number): WSeq {
    const rt = ctx.rt, k = rt.k;
    const source = getSource(this, ctx.constants, this.sourceName, this.sourceChannels, x.batch);
    const s = source.time, d = this.sourceChannels;
    // The source, once per call, with invalid steps zeroed (their weight is 0, and 0 * NaN is not).
    const values = ctx.alloc(Math.max(1, source.values.length) * 4);
    const mask = ctx.alloc(Math.max(1, source.mask.length));
    rt.f32.set(source.values, values >> 2);
    rt.u8.set(source.mask, mask);
    k.f32_mask_invalid(x.batch * s, d, mask, values, values, 0);

    const q = this.query;
    q.values = x.values;
    q.mask = x.mask;
    q.batch = x.batch;
    q.time = x.time;
    if (this.monotonic) {
      q.values = ctx.alloc(x.batch * x.time * this.input.shape[0]! * 4);
      k.f32_mask_invalid(x.batch * x.time, this.input.shape[0]!, x.mask, x.values, q.values, 0);
    }
    const logits = this.logits.runLayer(this.hidden.runLayer(q, ctx), ctx).values;

    const h = this.heads, m = this.components;
    const weights = ctx.alloc(Math.max(1, x.batch * x.time * h * s) * 4);
    const y = this.allocOutput(ctx, x.batch, x.time);
    k.f32_gmm_attention(
      x.batch, x.time, h, m, s, d, logits, this.offsetBias, this.scaleBias, this.maxOffset, position, values, mask, ctx.alloc(3 * m * 4), weights, y,
    );
    if (ctx.emits) ctx.emit(this.emitKey, fromWasm(rt, { values: weights, mask: x.mask, batch: x.batch, time: x.time }, { shape: [h, s], dtype: 'float32' }));
    return this.result(y, x.mask, x.batch, x.time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    let position = 0;
    if (this.monotonic) {
      const bytes = x.batch * this.heads * this.components * 4;
      position = ctx.alloc(bytes);
      ctx.rt.k.mem_fill(position, 0, bytes);
    }
    return this.run(x, ctx, position);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.run(x, ctx, this.monotonic ? this.stateOf(ctx)[0]!.ptr : 0);
  }
}

const GmmAttentionDef = defineLayer({ type: 'GmmAttention', fields: gmmAttentionFields, create: (c, ctx) => new GmmAttentionLayer(c, ctx) });

export const gmmAttentionDefs = [GmmAttentionDef];

export const GmmAttention = builder(GmmAttentionDef);
