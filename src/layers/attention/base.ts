// The base of every attention layer: the fields they share, the input projections, the
// per-dim scales, sinks and relative positions, and the call of the fused kernel.
//
// Exports (sorted): AttentionConfig, AttentionLayer, attentionFields, attentionNetworkFields,
// AttentionOptions, KeyValues, kvCacheFields, Queries.
import { f, ref, type LayerConfig } from '../../config.js';
import { show } from '../../errors.js';
import { Fraction } from '../../fraction.js';
import { gaussian, zeros } from '../../initializers.js';
import { fromWasm, inputChannels, Layer, writeStepConstant, type BuildContext, type ConstantArray, type Constants, type Derived, type Param, type RunContext, type WSeq } from '../../layer.js';
import { firstNonInt32, Sequence } from '../../sequence.js';
import { weightStorageField, type WeightStorage } from '../weight-storage.js';
import { ATT, AttentionCall, InputProjection, type InputProjectionConfig, type ParamHost } from './common.js';
import { RelativePosition, relativePositionField, type RelativePositionConfig } from './relative-position.js';

/**
 * The reference's query/key/value networks, layers over the projected queries [H, U], keys and
 * values [KVH, U] before the attention (e.g. ApplyRotaryPositionalEncoding, RMSNormalization):
 * each must keep its input's shape, with one output step per input step, block size 1 and no
 * latency (other layers are a BAD_CONFIG error). The query network steps with the queries; the
 * key and value networks run over the keys and values as they are made (a self attention's
 * and a streamed source's block by block, another cross attention's source whole, in layer()
 * as in step()). Every dot-product attention layer takes them (attentionFields).
 */
export const attentionNetworkFields = {
  /** A layer over the queries [H, U] (default null: none); parameters under `query_network.`. */
  queryNetwork: f.layer().opt(),
  /** A layer over the keys [KVH, U] (default null: none); parameters under `key_network.`. */
  keyNetwork: f.layer().opt(),
  /** A layer over the values [KVH, U] (default null: none); parameters under `value_network.`. */
  valueNetwork: f.layer().opt(),
};

/** Fields every attention layer has (the reference's names; see each layer for the rest). */
export const attentionFields = {
  /** Number of attention heads H. */
  numHeads: f.int(1),
  /** Units per head U; the output channel shape is [H, U] (no output projection). */
  unitsPerHead: f.int(1),
  /** Learn biases in the query/key/value projections (default false). */
  useBias: f.bool().default(false),
  /** If set (> 0), logits become cap * tanh(logits / cap) before masking (default null: none). */
  attentionLogitsSoftCap: f.num(0).opt(),
  /** Learn a [U] query scale: queries times query_scale * 1.442695041 * softplus(p) (p = 0 gives query_scale; default false). */
  perDimScale: f.bool().default(false),
  /** Learn a [U] key scale: keys times 1.442695041 * softplus(p) (default false). */
  perDimKeyScale: f.bool().default(false),
  /** Query scale (default null: 1/sqrt(units_per_head)). */
  queryScale: f.num().opt(),
  /** A query with no visible key gets zero probabilities (default false; its output is zero either way). */
  zeroFullyMasked: f.bool().default(false),
  /** Learned sink keys and values put in front of the keys (default 0: none). */
  numSinkEmbeddings: f.int(0).default(0),
  /** A learned sink logit per head with a zero value (gpt-oss style; default false). */
  useSinkScalars: f.bool().default(false),
  /** Dropout on the probabilities when training; inference ignores it (default 0). */
  attentionProbabilitiesDropoutRate: f.num(0, 1).default(0),
  /** Whether training's dropout is shared across queries; ignored at inference (default false). */
  broadcastDropoutAcrossQueries: f.bool().default(false),
  /** Relative position embedding config (default null: none); see relative-position.ts. */
  relativePositionEmbedding: relativePositionField().opt(),
  /** How the query/key/value projection kernels are stored: 'float32' (default) or 'int8' (WEIGHT_STORAGES in weight-storage.ts; not in the reference). */
  weightStorage: weightStorageField(),
  ...attentionNetworkFields,
  /** experimental_accumulate_logits_in_float32: any boolean, no effect (logits are always computed and summed in float32 here). */
  experimentalAccumulateLogitsInFloat32: f.bool().opt(),
  /** per_dim_scale_sharding: any, no effect (see `ref` in config.ts for these reference fields). */
  perDimScaleSharding: ref.sharding(),
  /** precision: any, no effect (float32 products). */
  precision: ref.precision(),
  /** compute_dtype: null or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** sink_embeddings_init: null only. */
  sinkEmbeddingsInit: ref.init(),
  /** sink_embeddings_sharding: any, no effect. */
  sinkEmbeddingsSharding: ref.sharding(),
  /** sink_scalars_init: null only. */
  sinkScalarsInit: ref.init(),
};


/** The three networks of attentionNetworkFields. */
type NetworkRole = 'query' | 'key' | 'value';

/** Keys and values as the kernel reads them: rows `stride` floats apart, with their mask. */
export interface KeyValues {
  keys: number;
  values: number;
  stride: number;
  mask: number;
}

/** Queries as the kernel reads them: rows `stride` floats apart, with their mask. */
export interface Queries {
  queries: number;
  stride: number;
  mask: number;
}

/** The reference's use_kv_cache_ringbuffer, a field of the attention layers that keep a KV cache (all but DotProductAttention). */
export const kvCacheFields = {
  /**
   * use_kv_cache_ringbuffer: any boolean, no effect. In the reference it picks a KV-cache update
   * that is faster on TPU (a ring buffer written in place; blocks of one step, no GQA, sinks or
   * relative positions) with the same outputs up to float rounding; our cache is a ring buffer
   * either way. Only the reference's step emits differ with it (cached keys in ring order; here
   * in time order).
   */
  useKvCacheRingbuffer: f.bool().opt(),
};

/** The resolved common fields. */
export interface AttentionConfig extends LayerConfig {
  queryNetwork?: LayerConfig;
  keyNetwork?: LayerConfig;
  valueNetwork?: LayerConfig;
  numHeads: number;
  unitsPerHead: number;
  useBias: boolean;
  attentionLogitsSoftCap?: number;
  perDimScale: boolean;
  perDimKeyScale: boolean;
  queryScale?: number;
  zeroFullyMasked: boolean;
  numSinkEmbeddings: number;
  useSinkScalars: boolean;
  relativePositionEmbedding?: RelativePositionConfig;
  inputProjection: InputProjectionConfig;
  weightStorage: WeightStorage;
}

/** Which relative position embeddings a layer accepts, and the horizons they must match. */
export interface AttentionOptions {
  kvHeads: number;
  /**
   * Which kv head query head h reads with fewer kv heads than heads: h % kvHeads where the
   * reference runs its flash attention (DotProductSelfAttentionV2, Blockwise, MultiSource),
   * else h / (heads / kvHeads) (its multi_key_value_dot_product_attention).
   */
  kvHeadCycle?: boolean;
  /** Channels of the cross-attention source (null: self attention). */
  sourceChannels: number | null;
  relativePosition: { allowed: readonly RelativePositionConfig['type'][]; past: number; future: number };
  /** Which projections the layer's own input projection holds (default both; see InputProjection). */
  projection?: 'both' | 'query';
}

/**
 * The layer-mode emit of the reference's local attention (local_dot_product_attention): each
 * query's probabilities over the window of its block, [B, T, H, S + past + block + future],
 * column S + c of query t for key (t - t % block) - past + c (0 where no such key), made from
 * `emit` [B, T, H, S + keys] (the kernel's, by key index).
 */
export function blockedLocalEmit(emit: Sequence, sinks: number, block: number, past: number, future: number): Sequence {
  const [batch, time, heads, row] = emit.shape as [number, number, number, number];
  const keys = row - sinks, width = past + block + future, out = new Float32Array(batch * time * heads * (sinks + width));
  const v = emit.values as Float32Array;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      const first = t - (t % block) - past;
      for (let h = 0; h < heads; h++) {
        const i = ((b * time + t) * heads + h) * row, o = ((b * time + t) * heads + h) * (sinks + width);
        out.set(v.subarray(i, i + sinks), o);
        for (let c = Math.max(0, -first); c < width && first + c < keys; c++) out[o + sinks + c] = v[i + sinks + first + c]!;
      }
    }
  }
  return new Sequence(out, emit.mask, [batch, time, heads, sinks + width]);
}

/** softplus(0) inverse: the per-dim scales are 1 at p = 0 (the reference's r_softplus_0). */
const R_SOFTPLUS_0 = 1.442695041;
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/**
 * Base of the attention layers: checks the input ([channels], float32), builds the
 * projections and the parameters every variant shares, and owns the kernel descriptor.
 *
 * Parameters beyond the projections: `per_dim_scale` [U] and `per_dim_key_scale` [U] (zeros),
 * `sink_key_embeddings` [S, H, U] and `sink_value_embeddings` [S, KVH, U] (normal,
 * std 1/sqrt(U)), `sink_scalars` [H] (zeros), relative position parameters under
 * `relative_position_embedding.` (relative-position.ts).
 */
export abstract class AttentionLayer extends Layer {
  protected readonly heads: number;
  protected readonly kvHeads: number;
  protected readonly units: number;
  protected readonly sinks: number;
  protected readonly projection: InputProjection;
  /** How this layer declares parameters and derived buffers (for projections beyond `projection`). */
  protected readonly paramHost: ParamHost;
  protected readonly call = new AttentionCall();
  protected readonly relativePosition: RelativePosition | null;
  /** The query/key/value networks (attentionNetworkFields), built by buildNetworks. */
  protected networks: Record<NetworkRole, Layer | null> = { query: null, key: null, value: null };
  /** runNetwork()'s inputs, one per network, reused by every call. */
  private readonly networkInputs: Record<NetworkRole, WSeq> = {
    query: { values: 0, mask: 0, batch: 0, time: 0 },
    key: { values: 0, mask: 0, batch: 0, time: 0 },
    value: { values: 0, mask: 0, batch: 0, time: 0 },
  };
  /** keyValueNetworks()'s result, reused by every call. */
  private readonly networkKv: KeyValues = { keys: 0, values: 0, stride: 0, mask: 0 };
  /** projectSource()'s projection before the networks, reused by every call. */
  private readonly sourceKv: KeyValues = { keys: 0, values: 0, stride: 0, mask: 0 };
  /** bindCrossQueries()'s result, reused by every call. */
  private readonly crossQueries: Queries = { queries: 0, stride: 0, mask: 0 };
  private readonly perDimScale: Param | null;
  private readonly perDimKeyScale: Param | null;
  private readonly sinkKeys: Param | null;
  private readonly sinkValues: Param | null;
  private readonly sinkScalars: Param | null;
  /** [2, U]: the query scale, then the key scale. */
  private readonly scales: Derived;
  private readonly queryScale: number;
  /** Channels of the cross-attention source (null: self attention). */
  protected readonly sourceChannels: number | null;
  /** The attention probabilities, emitted under the layer's path. */
  override writesEmits = true;

  constructor(cfg: AttentionConfig, ctx: BuildContext, opts: AttentionOptions) {
    super(cfg, ctx);
    const channels = inputChannels(this, ' (rank 3 [batch, time, channels])');
    this.heads = cfg.numHeads;
    this.kvHeads = opts.kvHeads;
    this.units = cfg.unitsPerHead;
    if (this.heads % this.kvHeads !== 0) throw this.error('BAD_CONFIG', `num_heads: expected a multiple of num_kv_heads=${this.kvHeads}, got ${this.heads}`);
    if (cfg.numSinkEmbeddings > 0 && cfg.useSinkScalars) throw this.error('BAD_CONFIG', `expected num_sink_embeddings or use_sink_scalars, not both (got ${cfg.numSinkEmbeddings} and true)`);
    if (cfg.zeroFullyMasked && (cfg.numSinkEmbeddings > 0 || cfg.useSinkScalars)) throw this.error('BAD_CONFIG', 'zero_fully_masked: incompatible with attention sinks (a query always sees its sinks)');
    this.sinks = cfg.useSinkScalars ? 1 : cfg.numSinkEmbeddings;
    this.output = { shape: [this.heads, this.units], dtype: 'float32' };
    this.queryScale = cfg.queryScale ?? 1 / Math.sqrt(this.units);
    this.sourceChannels = opts.sourceChannels;

    const host: ParamHost = (this.paramHost = {
      rt: this.rt,
      param: (name, s, init) => this.param(name, s, init),
      derive: (bytes) => this.derive(bytes),
      error: (code, message) => this.error(code, message),
    });
    this.projection = new InputProjection(host, cfg.inputProjection, channels, opts.sourceChannels, this.heads, this.kvHeads, this.units, cfg.useBias, cfg.weightStorage, opts.projection);
    const U = this.units;
    this.perDimScale = cfg.perDimScale ? this.param('per_dim_scale', [U], zeros) : null;
    this.perDimKeyScale = cfg.perDimKeyScale ? this.param('per_dim_key_scale', [U], zeros) : null;
    const embed = gaussian(1 / Math.sqrt(U));
    this.sinkKeys = cfg.numSinkEmbeddings > 0 ? this.param('sink_key_embeddings', [cfg.numSinkEmbeddings, this.heads, U], embed) : null;
    this.sinkValues = cfg.numSinkEmbeddings > 0 ? this.param('sink_value_embeddings', [cfg.numSinkEmbeddings, this.kvHeads, U], embed) : null;
    this.sinkScalars = cfg.useSinkScalars ? this.param('sink_scalars', [this.heads], zeros) : null;
    const rp = cfg.relativePositionEmbedding;
    if (rp && !opts.relativePosition.allowed.includes(rp.type)) {
      const ok = opts.relativePosition.allowed;
      throw this.error(
        'BAD_CONFIG',
        `relative_position_embedding: ${this.type} supports ${ok.length ? ok.map((t) => show(t)).join(' or ') : 'none'}, got ${show(rp.type)}`,
      );
    }
    this.relativePosition = rp ? new RelativePosition(host, rp, this.heads, U, opts.relativePosition.past, opts.relativePosition.future) : null;
    this.scales = this.derive(2 * U * 4);

    const a = this.call.i32;
    a[ATT.HEADS] = this.heads;
    a[ATT.KV_HEADS] = this.kvHeads;
    a[ATT.KV_CYCLE] = opts.kvHeadCycle ? 1 : 0;
    a[ATT.UNITS] = U;
    a[ATT.SINKS] = this.sinks;
    a[ATT.ZERO_FULLY_MASKED] = cfg.zeroFullyMasked ? 1 : 0;
    this.call.setFloat(ATT.SOFT_CAP, cfg.attentionLogitsSoftCap ?? 0);
  }

  prepare(): void {
    this.projection.prepare();
    const U = this.units, rt = this.rt;
    // Query scale and key scale per unit, as _scale_query / _scale_key compute them.
    const s = new Float32Array(2 * U);
    const pq = this.perDimScale?.view(), pk = this.perDimKeyScale?.view();
    const base = pq ? Math.fround(R_SOFTPLUS_0 * this.queryScale) : this.queryScale;
    for (let u = 0; u < U; u++) {
      s[u] = pq ? base * Math.fround(softplus(pq[u]!)) : base;
      s[U + u] = pk ? Math.fround(R_SOFTPLUS_0) * Math.fround(softplus(pk[u]!)) : 1;
    }
    rt.f32.set(s, this.scales.ptr >> 2);
    const a = this.call.i32;
    a[ATT.Q_SCALE] = this.scales.ptr;
    a[ATT.K_SCALE] = this.perDimKeyScale ? this.scales.ptr + U * 4 : 0;
    a[ATT.SINK_KEYS] = this.sinkKeys?.ptr ?? 0;
    a[ATT.SINK_VALUES] = this.sinkValues?.ptr ?? 0;
    a[ATT.SINK_SCALARS] = this.sinkScalars?.ptr ?? 0;
    a[ATT.Q_BIAS] = 0;
    a[ATT.REL_MODE] = 0;
    this.relativePosition?.prepare(this.call);
  }

  /**
   * Builds the networks `cfg` names (attentionNetworkFields), after the layer's own parameters;
   * one that cannot step makes the layer not steppable, except a cross attention's key and value
   * networks (`source`), which only ever run layer() over the source.
   */
  protected buildNetworks(cfg: Pick<AttentionConfig, 'queryNetwork' | 'keyNetwork' | 'valueNetwork'>, source = false): void {
    const network = (config: LayerConfig | undefined, field: string, heads: number, steps = true): Layer | null => {
      if (!config) return null;
      const input = { shape: [heads, this.units], dtype: 'float32' } as const;
      const l = this.child(config, field, input);
      const sameSteps = l.outputRatio.equals(Fraction.ONE) && l.blockSize === 1 && l.inputLatency === 0 && l.outputLatency === 0 && l.receptiveFieldPerStep.size === 1;
      if (!sameSteps || l.output.dtype !== 'float32' || l.output.shape.join() !== input.shape.join()) {
        throw this.error(
          'BAD_CONFIG',
          `${field}: expected a layer that keeps the shape [${input.shape}] float32, with one output step per input step, block size 1 and no latency; ` +
            `${l.type} gives [${l.output.shape}] ${l.output.dtype}, ratio ${l.outputRatio}, block size ${l.blockSize}, latency ${l.inputLatency}/${l.outputLatency}`,
        );
      }
      if (steps && !l.supportsStep) this.supportsStep = false;
      return l;
    };
    this.networks = {
      query: network(cfg.queryNetwork, 'query_network', this.heads),
      key: network(cfg.keyNetwork, 'key_network', this.kvHeads, !source),
      value: network(cfg.valueNetwork, 'value_network', this.kvHeads, !source),
    };
  }

  /**
   * Rows of `width` floats at `from` (`stride` apart) for `of`'s batch x time steps and mask,
   * copied out to contiguous rows and run through the `role` network (none: the copy), layer()
   * or step().
   */
  protected runNetwork(role: NetworkRole, from: number, stride: number, width: number, of: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    const rows = of.batch * of.time, seq = this.networkInputs[role], l = this.networks[role];
    seq.values = ctx.alloc(Math.max(1, rows * width) * 4);
    seq.mask = of.mask;
    seq.batch = of.batch;
    seq.time = of.time;
    ctx.rt.k.seq_ring_write(1, rows, rows, 0, width * 4, stride * 4, from, seq.values);
    if (!l) return seq;
    const y = stepping ? l.runStep(seq, ctx) : l.runLayer(seq, ctx);
    // The metadata cannot tell a layer that drops steps in layer() (a 'valid' convolution).
    if (y.time !== of.time) throw this.error('BAD_CONFIG', `${l.where.slice(this.where.length + 1)}: expected a network that keeps the number of steps, but ${l.type} gave ${y.time} for ${of.time}`);
    return y;
  }

  /**
   * `kv` (of `of`'s steps) through the key and value networks, when the layer has either:
   * contiguous rows of KVH * U floats and the two outputs' masks combined. Else `kv` itself.
   */
  protected keyValueNetworks(kv: KeyValues, of: WSeq, ctx: RunContext, stepping: boolean): KeyValues {
    const { key, value } = this.networks;
    if (!key && !value) return kv;
    const out = this.networkKv, width = this.kvHeads * this.units, rows = of.batch * of.time;
    const keys = this.runNetwork('key', kv.keys, kv.stride, width, of, ctx, stepping);
    const values = this.runNetwork('value', kv.values, kv.stride, width, of, ctx, stepping);
    out.keys = keys.values;
    out.values = values.values;
    out.stride = width;
    out.mask = keys.mask;
    if (keys.mask !== values.mask) ctx.rt.k.mask_and(rows, keys.mask, values.mask, (out.mask = ctx.alloc(rows)));
    return out;
  }

  /**
   * A cross attention's source (in WebAssembly memory) projected by `p`, then through the key
   * and value networks: layer() over all of it, or step() over a block of a streamed source.
   * The result is reused by the next call.
   */
  protected projectSource(p: InputProjection, source: WSeq, ctx: RunContext, stepping = false): KeyValues {
    const kv = p.runKeyValue(ctx, source.batch * source.time, source.values), own = this.sourceKv;
    own.keys = kv + 4 * p.kOffset;
    own.values = kv + 4 * p.vOffset;
    own.stride = p.kvStride;
    own.mask = source.mask;
    return this.keyValueNetworks(own, source, ctx, stepping);
  }

  /**
   * A cross attention's queries: x projected, then through the query network (layer() or
   * step()), bound as the descriptor's linear queries. Returns them (an object reused by every call).
   */
  protected bindCrossQueries(x: WSeq, ctx: RunContext, stepping: boolean): Queries {
    const p = this.projection, query = this.networks.query, out = this.crossQueries;
    out.queries = p.runQuery(ctx, x.batch * x.time, x.values);
    out.stride = p.qStride;
    out.mask = x.mask;
    if (query) {
      const width = this.heads * this.units;
      ({ values: out.queries, mask: out.mask } = this.runNetwork('query', out.queries, p.qStride, width, x, ctx, stepping));
      out.stride = width;
    }
    this.bindQueries(out.queries, out.stride, out.mask, x.time);
    return out;
  }

  /**
   * The constant `name` of one id per step (segment ids, positions: [batch or 1, time or 1],
   * see Layer.stepConstant), whole numbers in int32's range: the kernel compares them as int32,
   * and float32 ids of any other value would be truncated (0.25 and 0.75 one segment), so they
   * are BAD_INPUT.
   */
  protected idsConstant(constants: Constants, name: string, what: string, batch: number, time: number): Sequence | ConstantArray {
    const c = this.stepConstant(constants, name, what, batch, time);
    if (c.values instanceof Float32Array) {
      const i = firstNonInt32(c.values);
      if (i >= 0) {
        const t = c.shape[1]!;
        throw this.error('BAD_INPUT', `constants.${name}: expected ${what} that are whole numbers in int32's range, got ${c.values[i]} at [${Math.floor(i / t)}, ${i % t}]`);
      }
    }
    return c;
  }

  /** idsConstant() as int32 [batch, time] in scratch. */
  protected idsInScratch(ctx: RunContext, name: string, what: string, batch: number, time: number): number {
    const at = ctx.alloc(Math.max(1, batch * time) * 4);
    writeStepConstant(this.idsConstant(ctx.constants, name, what, batch, time), batch, time, ctx.rt.i32, at >> 2);
    return at;
  }

  /** Points the descriptor's linear queries at `q`: n rows of `stride` floats per item, with mask [batch, n]. */
  protected bindQueries(q: number, stride: number, mask: number, n: number): void {
    const a = this.call.i32;
    a[ATT.Q_LIN] = q;
    a[ATT.Q_STRIDE] = stride;
    a[ATT.Q_BATCH_STRIDE] = n * stride;
    a[ATT.Q_LIN_MASK] = mask;
    a[ATT.Q_LIN_COUNT] = n;
  }

  /** Points the descriptor's linear keys and values at `k` and `v`: n rows of `stride` floats per item, with mask [batch, n]. */
  protected bindKeyValues(k: number, v: number, stride: number, mask: number, n: number): void {
    const a = this.call.i32;
    a[ATT.K_LIN] = k;
    a[ATT.V_LIN] = v;
    a[ATT.KV_STRIDE] = stride;
    a[ATT.KV_BATCH_STRIDE] = n * stride;
    a[ATT.KV_LIN_MASK] = mask;
    a[ATT.KV_LIN_COUNT] = n;
  }

  /** Empties the descriptor's cache (ring) slots, query offset and delayed-output mask, so the kernel reads the linear parts only. */
  protected clearCache(): void {
    const a = this.call.i32;
    a[ATT.Q_CAP] = a[ATT.Q_RING] = a[ATT.Q_RING_MASK] = a[ATT.Q_HEAD] = 0;
    a[ATT.KV_CAP] = a[ATT.K_RING] = a[ATT.V_RING] = a[ATT.KV_RING_MASK] = a[ATT.KV_HEAD] = 0;
    a[ATT.KV_FIRST] = a[ATT.Q_OFFSET] = a[ATT.OUT_MASK] = 0;
  }

  /**
   * Runs the kernel for nq queries per item with the per-call slots the caller set; returns
   * the output [batch, nq, H, U]. When emits are asked for, the probabilities [batch, nq, H,
   * sinks + keys] become this layer's emit, with `outMask` (the answered queries' mask).
   */
  protected attend(ctx: RunContext, batch: number, nq: number, outMask: number): number {
    const a = this.call.i32;
    const keys = a[ATT.KV_CAP]! + a[ATT.KV_LIN_COUNT]!;
    const out = this.allocOutput(ctx, batch, nq);
    const probRow = this.sinks + keys;
    const probs = ctx.emits ? ctx.alloc(Math.max(1, batch * nq * this.heads * probRow) * 4) : 0;
    a[ATT.BATCH] = batch;
    a[ATT.QUERIES] = nq;
    a[ATT.OUT] = out;
    a[ATT.PROBS] = probs;
    // Effective queries [H, U], the relative-position query [U], rel, 1 / Σe [H], logits [H, sinks + keys],
    // then three lists of sinks + keys (assembly/attention.ts).
    const H = this.heads;
    a[ATT.SCRATCH] = ctx.alloc(((H + 1) * this.units + (this.relativePosition?.buckets ?? 0) + H + (H + 3) * probRow) * 4);
    this.call.run(ctx);
    if (ctx.emits) {
      ctx.emit(this.emitKey, fromWasm(ctx.rt, { values: probs, mask: outMask, batch, time: nq }, { shape: [this.heads, probRow], dtype: 'float32' }));
    }
    return out;
  }
}
