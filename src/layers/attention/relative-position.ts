// Relative position embeddings of the attention layers. Port of
// sequence_layers/jax/attention/shaw_relative_position_embedding.py,
// t5_relative_position_embedding.py and transformer_xl_relative_position_embedding.py.
//
// Exports (sorted): RelativePosition, RelativePositionConfig, relativePositionField.
//
// They are configs of an attention layer's `relative_position_embedding` field, not layers:
//   {"type": "ShawRelativePositionEmbedding", "max_backward": 4, "max_forward": 0, "num_heads": 2, "units_per_head": 8}
//   {"type": "T5RelativePositionEmbedding", "num_buckets": 32, "num_heads": 2, "bidirectional": true, "max_distance": 128}
//   {"type": "TransformerXLRelativePositionEmbedding", "num_heads": 2, "units_per_head": 8,
//    "max_backward": 4, "max_forward": 0, "position_bias_dim": 16, "use_bias": true}
// Each adds to the logit of (query, key) a per-head term that depends on the distance
// d = key position - query position through a bucket r(d) (d clamped to a finite range, past
// which the bucket no longer changes): T5 a learned scalar E[r, h]; Shaw the raw query's dot
// with a learned E[r, h, :]; Transformer-XL (q·scale + v_h)·P[r, h] with P the projected
// sinusoid of the distance, and (q·scale + u_h) instead of q·scale in the content logits.
// The kernel (f32_attention, REL_* slots) evaluates them; this file holds the parameters, the
// bucket map and the derived tables.
import { f, ref, type Fields } from '../../config.js';
import { gaussian, lecunNormal, zeros } from '../../initializers.js';
import type { Derived, Param } from '../../layer.js';
import { ATT, type AttentionCall, type ParamHost } from './common.js';

export type RelativePositionConfig =
  | { type: 'ShawRelativePositionEmbedding'; maxBackward: number; maxForward: number; numHeads: number; unitsPerHead: number }
  | { type: 'T5RelativePositionEmbedding'; numBuckets: number; numHeads: number; bidirectional: boolean; maxDistance?: number }
  | {
      type: 'TransformerXLRelativePositionEmbedding';
      numHeads: number;
      unitsPerHead: number;
      maxBackward: number;
      maxForward: number;
      positionBiasDim: number;
      useBias?: boolean;
    };

const KINDS: Readonly<Record<RelativePositionConfig['type'], Fields>> = {
  ShawRelativePositionEmbedding: {
    /** Distances further back than this share the last bucket. */
    maxBackward: f.int(0),
    /** Distances further ahead than this share the last bucket. */
    maxForward: f.int(0),
    /** Must equal the layer's num_heads. */
    numHeads: f.int(1),
    /** Must equal the layer's units_per_head. */
    unitsPerHead: f.int(1),
    /** embedding_init: null only (see `ref` in config.ts for these reference fields). */
    embeddingInit: ref.init(),
    /** embedding_sharding: any, no effect. */
    embeddingSharding: ref.sharding(),
    /** param_dtype: "float32" only. */
    paramDtype: ref.paramDtype(),
    /** compute_dtype: "float32" only, the reference's default here. */
    computeDtype: f.only(['float32'], 'layers compute in float32 here'),
  },
  T5RelativePositionEmbedding: {
    /** Buckets of the learned bias table (halved per direction when bidirectional). */
    numBuckets: f.int(1),
    /** Must equal the layer's num_heads. */
    numHeads: f.int(1),
    /** Separate buckets for keys ahead of the query (else those share bucket 0). */
    bidirectional: f.bool(),
    /** Distance at which the log-spaced buckets end (default 128). */
    maxDistance: f.int(1).default(128),
    /** bias_matrix_init: null only (see `ref` in config.ts for these reference fields). */
    biasMatrixInit: ref.init(),
    /** bias_matrix_sharding: any, no effect. */
    biasMatrixSharding: ref.sharding(),
    /** param_dtype: "float32" only. */
    paramDtype: ref.paramDtype(),
    /** compute_dtype: null or "float32" only. */
    computeDtype: ref.computeDtype(),
  },
  TransformerXLRelativePositionEmbedding: {
    /** Must equal the layer's num_heads. */
    numHeads: f.int(1),
    /** Must equal the layer's units_per_head. */
    unitsPerHead: f.int(1),
    /** Must equal the layer's max_past_horizon. */
    maxBackward: f.int(0),
    /** Must equal the layer's max_future_horizon. */
    maxForward: f.int(0),
    /** Channels of the sinusoidal distance embedding projected by `pos_proj`. */
    positionBiasDim: f.int(1),
    /** Learn the content and position biases `u` and `v` [H, U] (default true). */
    useBias: f.bool().default(true),
    /** u_sharding: any, no effect (see `ref` in config.ts for these reference fields). */
    uSharding: ref.sharding(),
    /** v_sharding: any, no effect. */
    vSharding: ref.sharding(),
    /** pos_proj_sharding: any, no effect. */
    posProjSharding: ref.sharding(),
    /** param_dtype: "float32" only. */
    paramDtype: ref.paramDtype(),
    /** einsum_factory: null only (see ref.einsumFactory). */
    einsumFactory: ref.einsumFactory(),
  },
};

/** The `relative_position_embedding` field. */
export const relativePositionField = () => f.subConfig<RelativePositionConfig>(KINDS);

/**
 * T5's bucket of a relative position d = key - query (_relative_position_bucket, in float32 as
 * the reference): exact buckets for |d| < max_exact, log-spaced up to max_distance, and with
 * `bidirectional` the upper half of the buckets for keys ahead of the query.
 */
function t5Bucket(d: number, numBuckets: number, bidirectional: boolean, maxDistance: number): number {
  let ret = 0;
  let n = -d;
  let nb = numBuckets;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (n < 0) ret += nb;
    n = Math.abs(n);
  } else {
    n = Math.max(n, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return ret + n;
  const fr = Math.fround;
  const eps = 1.1920928955078125e-7; // float32 machine epsilon
  const ratio = fr(Math.log(fr(fr(n / maxExact) + eps)));
  const large = maxExact + Math.trunc(fr(fr(ratio / fr(Math.log(maxDistance / maxExact))) * (nb - 1 - maxExact)));
  return ret + Math.min(large, nb - 1);
}

/**
 * The parameters and tables of one layer's relative position embedding, and the kernel slots
 * that use them. Parameters (under `relative_position_embedding.`):
 * - Shaw: `embedding` [max_backward + max_forward + 1, H, U] (normal, std 1/sqrt(U));
 * - T5: `embedding` [num_buckets, H] (normal, std 1/sqrt(H));
 * - Transformer-XL: `pos_proj.kernel` [position_bias_dim, H, U] (LeCun normal), and with
 *   use_bias `u` and `v` [H, U] (zeros).
 */
export class RelativePosition {
  /** Entries of the per-query bucket table the kernel builds. */
  readonly buckets: number;
  private readonly mode: number;
  private readonly dLo: number;
  private readonly dHi: number;
  private readonly table: Param;
  private readonly u: Param | null = null;
  private readonly v: Param | null = null;
  /** Transformer-XL: the projected sinusoids P [buckets, H, U]. */
  private readonly projected: Derived | null = null;
  private readonly bucketMap: Derived;

  /** The config as the field normalised it (defaults filled in). */
  private readonly cfg: Required<RelativePositionConfig>;

  constructor(private readonly host: ParamHost, config: RelativePositionConfig, heads: number, units: number, past: number, future: number) {
    const cfg = (this.cfg = config as Required<RelativePositionConfig>);
    const where = 'relative_position_embedding';
    const p = (name: string, shape: number[], init: Parameters<ParamHost['param']>[2]) => host.param(`${where}.${name}`, shape, init);
    if (cfg.numHeads !== heads) throw host.error('BAD_CONFIG', `${where}.num_heads: expected the layer's num_heads ${heads}, got ${cfg.numHeads}`);
    if (cfg.type !== 'T5RelativePositionEmbedding' && cfg.unitsPerHead !== units) {
      throw host.error('BAD_CONFIG', `${where}.units_per_head: expected the layer's units_per_head ${units}, got ${cfg.unitsPerHead}`);
    }
    if (cfg.type === 'T5RelativePositionEmbedding') {
      // The reference's log-spaced buckets divide by log(max_distance / max_exact): with no exact
      // bucket they are NaN, and below the exact range they fall under 0 (the reference's one-hot
      // then drops the bias, or takes a bucket of the other direction).
      const perDirection = cfg.bidirectional ? Math.floor(cfg.numBuckets / 2) : cfg.numBuckets, maxExact = Math.floor(perDirection / 2);
      if (maxExact < 1) {
        throw host.error('BAD_CONFIG', `${where}.num_buckets: expected at least ${cfg.bidirectional ? 4 : 2} (2 per direction${cfg.bidirectional ? ', bidirectional' : ''}), got ${cfg.numBuckets}`);
      }
      if (cfg.maxDistance < maxExact) {
        throw host.error(
          'BAD_CONFIG',
          `${where}.max_distance: expected at least the exact range, num_buckets / ${cfg.bidirectional ? 4 : 2} = ${maxExact}, got ${cfg.maxDistance} ` +
            `(the reference's buckets go negative beyond it; if no key is that far, any max_distance >= ${maxExact} gives the same biases)`,
        );
      }
      this.mode = 1;
      this.buckets = cfg.numBuckets;
      // Past this distance the bucket is constant (the last log-spaced one, or the exact range's end).
      this.dHi = Math.max(cfg.maxDistance, cfg.numBuckets) + 1;
      this.dLo = -this.dHi;
      this.table = p('embedding', [cfg.numBuckets, heads], gaussian(1 / Math.sqrt(heads)));
    } else {
      this.buckets = cfg.maxBackward + cfg.maxForward + 1;
      this.dLo = -cfg.maxBackward;
      this.dHi = cfg.maxForward;
      if (cfg.type === 'ShawRelativePositionEmbedding') {
        this.mode = 2;
        this.table = p('embedding', [this.buckets, heads, units], gaussian(1 / Math.sqrt(units)));
      } else {
        if (cfg.maxBackward !== past || cfg.maxForward !== future) {
          throw host.error('BAD_CONFIG', `${where}: expected max_backward = max_past_horizon (${past}) and max_forward = max_future_horizon (${future}), got ${cfg.maxBackward} and ${cfg.maxForward}`);
        }
        this.mode = 3;
        this.table = p('pos_proj.kernel', [cfg.positionBiasDim, heads, units], lecunNormal(cfg.positionBiasDim));
        if (cfg.useBias) {
          this.u = p('u', [heads, units], zeros);
          this.v = p('v', [heads, units], zeros);
        }
        this.projected = host.derive(this.buckets * heads * units * 4);
      }
    }
    this.bucketMap = host.derive((this.dHi - this.dLo + 1) * 4);
  }

  /** Fills the bucket map and derived tables and sets the kernel's REL_* slots (prepare time). */
  prepare(call: AttentionCall): void {
    const rt = this.host.rt, cfg = this.cfg;
    const map = new Int32Array(this.dHi - this.dLo + 1);
    for (let d = this.dLo; d <= this.dHi; d++) {
      map[d - this.dLo] = cfg.type === 'T5RelativePositionEmbedding' ? t5Bucket(d, cfg.numBuckets, cfg.bidirectional, cfg.maxDistance) : d - this.dLo;
    }
    rt.i32.set(map, this.bucketMap.ptr >> 2);
    if (this.projected && cfg.type === 'TransformerXLRelativePositionEmbedding') rt.f32.set(this.projectSinusoids(cfg.positionBiasDim), this.projected.ptr >> 2);
    const a = call.i32;
    a[ATT.REL_MODE] = this.mode;
    a[ATT.REL_TABLE] = this.projected?.ptr ?? this.table.ptr;
    a[ATT.REL_BUCKETS] = this.buckets;
    a[ATT.REL_BUCKET_MAP] = this.bucketMap.ptr;
    a[ATT.D_LO] = this.dLo;
    a[ATT.D_HI] = this.dHi;
    a[ATT.Q_BIAS] = this.u?.ptr ?? 0;
    a[ATT.REL_Q_BIAS] = this.v?.ptr ?? 0;
  }

  /**
   * Transformer-XL's P [buckets, H, U]: bucket r is the distance d = r - max_backward, whose
   * timing signal (get_timing_signal_1d_pos of position -d, float32 as the reference: sines
   * then cosines over a geometric range of timescales 1 .. 1e4) goes through pos_proj.
   */
  private projectSinusoids(dim: number): Float32Array {
    const fr = Math.fround;
    const kernel = this.table.view();
    const hu = kernel.length / dim;
    const timescales = Math.floor(dim / 2);
    const increment = fr(-Math.log(1e4) / Math.max(timescales - 1, 1));
    const inv = Array.from({ length: timescales }, (_, i) => fr(Math.exp(fr(i * increment))));
    const out = new Float32Array(this.buckets * hu);
    const signal = new Float64Array(dim);
    for (let r = 0; r < this.buckets; r++) {
      const position = -(r + this.dLo);
      inv.forEach((v, i) => {
        const t = fr(position * v);
        signal[i] = fr(Math.sin(t));
        signal[timescales + i] = fr(Math.cos(t));
      });
      for (let j = 0; j < hu; j++) {
        let s = 0;
        for (let c = 0; c < 2 * timescales; c++) s += signal[c]! * kernel[c * hu + j]!;
        out[r * hu + j] = s;
      }
    }
    return out;
  }
}
