// Shared pieces of the attention layers. Port of sequence_layers/jax/attention/common.py.
//
// Exports (sorted): ATT, AttentionCall, getSource, InputProjection,
// InputProjectionConfig, inputProjectionField, KvCache, ParamHost, resizeState,
// sourceChannelsAtBuild, SourceState, StepIdKinds, StepIds.
//
// Every attention layer is: one packed GEMM for the input projections (query, key and value
// kernels side by side), then ONE call of the fused kernel f32_attention (assembly/attention.ts)
// for all batch items, queries and heads, then (when stepping) the ring-buffer writes that keep
// the KV cache. The kernel is told where queries, keys and values are by a descriptor (ATT),
// so the same kernel serves layer mode (keys in the projection output), step mode (keys in the
// ring buffer of the state followed by the block's own keys) and cross attention.
import { f, ref, type Fields } from '../../config.js';
import { SeqLayersError, show } from '../../errors.js';
import { lcm } from '../../fraction.js';
import { lecunNormal, zeros } from '../../initializers.js';
import { product, stateElementBytes, type Constants, type Derived, type Initializer, type Layer, type Param, type RunContext, type StateBuffer, type StateSpec } from '../../layer.js';
import type { Runtime } from '../../runtime/runtime.js';
import { Sequence } from '../../sequence.js';
import { Q8Weights, type WeightStorage } from '../weight-storage.js';

/**
 * How queries, keys and values are projected, as the reference's input_projection configs.
 * JSON: {"type": "CombinedQueryKeyValueProjection", "share_kv_projection": false},
 * {"type": "SeparateQueryKeyValueProjection"}, {"type": "QueryAndKeyValueProjection"} or
 * {"type": "QueryAndSharedKeyValueProjection"}.
 */
export type InputProjectionConfig =
  | { type: 'CombinedQueryKeyValueProjection'; shareKvProjection?: boolean }
  | { type: 'SeparateQueryKeyValueProjection' | 'QueryAndKeyValueProjection' | 'QueryAndSharedKeyValueProjection' };

/**
 * Fields of every reference projection config (QueryKeyValueProjectionConfig), accepted so
 * reference JSON loads unchanged (see `ref` in config.ts for what each takes).
 */
const projectionReferenceFields = {
  /** einsum_factory: null only. */
  einsumFactory: ref.einsumFactory(),
  /** quantization_provider: null only. */
  quantizationProvider: ref.quantizationProvider(),
};

/**
 * Fields of QueryAndKeyValueProjection and QueryAndSharedKeyValueProjection: those of every
 * projection config, and the initializers and shardings of the query (q_) and the key/value
 * (kv_) projection.
 */
const queryAndKeyValueReferenceFields = {
  ...projectionReferenceFields,
  /** q_kernel_init: null only (the reference's default). */
  qKernelInit: ref.init(),
  /** q_kernel_sharding: any, no effect. */
  qKernelSharding: ref.sharding(),
  /** q_bias_init: null only (the reference's default). */
  qBiasInit: ref.init(),
  /** q_bias_sharding: any, no effect. */
  qBiasSharding: ref.sharding(),
  /** kv_kernel_init: null only (the reference's default). */
  kvKernelInit: ref.init(),
  /** kv_kernel_sharding: any, no effect. */
  kvKernelSharding: ref.sharding(),
  /** kv_bias_init: null only (the reference's default). */
  kvBiasInit: ref.init(),
  /** kv_bias_sharding: any, no effect. */
  kvBiasSharding: ref.sharding(),
};

const PROJECTIONS: Readonly<Record<InputProjectionConfig['type'], Fields>> = {
  CombinedQueryKeyValueProjection: {
    /** Keys and values share one projection: kernel [in, 2, H, U] instead of [in, 3, H, U] (default false). */
    shareKvProjection: f.bool().default(false),
    ...projectionReferenceFields,
    /** qkv_kernel_init: null only (the reference's default). */
    qkvKernelInit: ref.init(),
    /** qkv_kernel_sharding: any, no effect. */
    qkvKernelSharding: ref.sharding(),
    /** bias_init: null only (the reference's default). */
    biasInit: ref.init(),
    /** bias_sharding: any, no effect. */
    biasSharding: ref.sharding(),
  },
  SeparateQueryKeyValueProjection: {
    ...projectionReferenceFields,
    /** q_kernel_init: null only (the reference's default). */
    qKernelInit: ref.init(),
    /** k_kernel_init: null only (the reference's default). */
    kKernelInit: ref.init(),
    /** v_kernel_init: null only (the reference's default). */
    vKernelInit: ref.init(),
    /** q_kernel_sharding: any, no effect. */
    qKernelSharding: ref.sharding(),
    /** k_kernel_sharding: any, no effect. */
    kKernelSharding: ref.sharding(),
    /** v_kernel_sharding: any, no effect. */
    vKernelSharding: ref.sharding(),
    /** bias_init (of all three): null only (the reference's default). */
    biasInit: ref.init(),
    /** bias_sharding: any, no effect. */
    biasSharding: ref.sharding(),
  },
  QueryAndKeyValueProjection: queryAndKeyValueReferenceFields,
  QueryAndSharedKeyValueProjection: queryAndKeyValueReferenceFields,
};

/** The `input_projection` field, defaulting to `{type: defaultType}`. */
export const inputProjectionField = (defaultType: InputProjectionConfig['type']) =>
  f.subConfig<InputProjectionConfig>(PROJECTIONS).default(
    (defaultType === 'CombinedQueryKeyValueProjection' ? { type: defaultType, shareKvProjection: false } : { type: defaultType }) as InputProjectionConfig,
  );

// ---------------------------------------------------------------------------------------------
// Input projections: one packed GEMM per input (x, or x and the cross-attention source).

/** What a layer helper needs from its layer: parameters, derived buffers, errors. */
export interface ParamHost {
  readonly rt: Runtime;
  param(name: string, shape: readonly number[], init: Initializer): Param;
  derive(bytes: number): Derived;
  error(code: ConstructorParameters<typeof SeqLayersError>[0], message: string): SeqLayersError;
}

/** One projection's kernel [in, ...] and bias (null without use_bias). */
interface ProjectionBlock {
  kernel: Param;
  bias: Param | null;
}

/**
 * y [rows, n] = x [rows, in] · [W_1 | W_2 | ...] + [b_1 | b_2 | ...]: several kernels [in, ...]
 * side by side as the columns of one packed matrix, so one f32_gemm call projects them all.
 * A single row (a batch-1 decode step) runs f32_gemv on a second packing of the same matrix,
 * which streams the weights faster (assembly/gemm/f32-gemv.ts) and gives the same bits. With
 * weightStorage 'int8' the matrix is packed once for q8_gemm instead, which every row runs.
 */
class PackedProjection {
  readonly n: number;
  private readonly f32: { packed: Derived; gemv: Derived } | null;
  private readonly q8: Q8Weights | null;
  private readonly bias: Derived | null;

  constructor(private readonly host: ParamHost, readonly inputs: number, private readonly blocks: readonly ProjectionBlock[], weightStorage: WeightStorage) {
    const k = host.rt.k, n = (this.n = blocks.reduce((s, b) => s + b.kernel.size / inputs, 0));
    if (weightStorage === 'int8') {
      this.q8 = new Q8Weights(host, [inputs], n);
      this.f32 = null;
    } else {
      this.f32 = { packed: host.derive(k.f32_gemm_packed_len(inputs, n) * 4), gemv: host.derive(k.f32_gemv_packed_len(inputs, n) * 4) };
      this.q8 = null;
    }
    this.bias = blocks[0]!.bias ? host.derive(n * 4) : null;
  }

  /** Gathers the kernels (and biases) into [in, n] and packs it (prepare time). */
  prepare(): void {
    const rt = this.host.rt, { inputs, n } = this;
    const w = new Float32Array(inputs * n);
    let col = 0;
    for (const { kernel, bias } of this.blocks) {
      const cols = kernel.size / inputs, src = kernel.view();
      for (let i = 0; i < inputs; i++) w.set(src.subarray(i * cols, (i + 1) * cols), i * n + col);
      if (bias && this.bias) rt.f32.set(bias.view(), (this.bias.ptr >> 2) + col);
      col += cols;
    }
    rt.arena.begin();
    try {
      const tmp = rt.arena.alloc(w.length * 4);
      rt.f32.set(w, tmp >> 2);
      if (this.q8) {
        this.q8.pack(rt, [tmp]);
      } else {
        rt.k.f32_gemm_pack_b(inputs, n, tmp, n, this.f32!.packed.ptr);
        rt.k.f32_gemv_pack_b(inputs, 0, inputs, n, tmp, n, this.f32!.gemv.ptr);
      }
    } finally {
      rt.arena.end();
    }
  }

  /** Projects `rows` rows of x (contiguous) into new scratch [rows, n]. */
  run(ctx: RunContext, rows: number, x: number): number {
    const y = ctx.alloc(Math.max(1, rows * this.n) * 4);
    const bias = this.bias?.ptr ?? 0;
    if (this.q8) this.q8.gemm(ctx, rows, x, bias, y);
    else if (rows === 1) ctx.rt.k.f32_gemv(this.n, this.inputs, 0, this.inputs, x, 0, 0, this.f32!.gemv.ptr, y, bias, false);
    else if (rows > 0) ctx.rt.k.f32_gemm(rows, this.n, this.inputs, x, this.inputs, this.f32!.packed.ptr, y, this.n, bias, false);
    return y;
  }
}

/**
 * The query, key and value projections of a layer (common.py's *QueryKeyValueProjection).
 * Parameters (kernels LeCun-normal over `in`, biases zero and only with useBias):
 * - Combined: `query_key_value_projection.kernel` [in, 3, H, U] (0 = q, 1 = k, 2 = v;
 *   [in, 2, H, U] with k = v when shareKvProjection), `.bias` [3|2, H, U]. No GQA.
 * - Separate: `query_projection.kernel` [in, H, U], `key_projection.kernel` and
 *   `value_projection.kernel` [in_kv, KVH, U], biases [H|KVH, U].
 * - QueryAndKeyValue: `query_projection.kernel` [in, H, U], `key_value_projection.kernel`
 *   [in_kv, 2, KVH, U] (0 = k, 1 = v), biases [H, U] and [2, KVH, U].
 * - QueryAndSharedKeyValue: `query_projection.kernel` [in, H, U],
 *   `shared_key_value_projection.kernel` [in_kv, KVH, U] (keys = values), biases.
 *
 * Self attention (no source) projects everything with one GEMM: a row of its output is
 * [q (H*U) | k (KVH*U) | v (KVH*U)] (v = k when shared). Cross attention projects the query
 * from x and the keys and values from the source, each with one GEMM; `parts` 'query' or
 * 'keyValue' keeps only those parameters (a multi-source layer's separate projections).
 */
export class InputProjection {
  /** Element offsets in a projected row and row strides: queries in `query` rows, keys and values in `keyValue` rows. */
  readonly qOffset = 0;
  readonly kOffset: number;
  readonly vOffset: number;
  readonly qStride: number;
  readonly kvStride: number;
  private readonly query: PackedProjection | null;
  private readonly keyValue: PackedProjection | null;

  /** `sourceChannels` null: self attention (keys and values from x). */
  constructor(
    host: ParamHost, cfg: InputProjectionConfig, inputs: number, sourceChannels: number | null, heads: number, kvHeads: number, units: number, useBias: boolean,
    weightStorage: WeightStorage, parts: 'both' | 'query' | 'keyValue' = 'both',
  ) {
    const kvIn = sourceChannels ?? inputs;
    const qCols = heads * units, kvCols = kvHeads * units;
    const param = (scope: string, shape: number[]): ProjectionBlock => ({
      kernel: host.param(`${scope}.kernel`, shape, lecunNormal(shape[0]!)),
      bias: useBias ? host.param(`${scope}.bias`, shape.slice(1), zeros) : null,
    });
    const kvParam = (scope: string, shape: number[]) => (parts === 'query' ? null : param(scope, shape));
    let shared = false;
    let q: ProjectionBlock | null, kv: (ProjectionBlock | null)[];
    if (cfg.type === 'CombinedQueryKeyValueProjection') {
      if (sourceChannels !== null) throw host.error('BAD_CONFIG', `input_projection: CombinedQueryKeyValueProjection is not possible for cross attention; use SeparateQueryKeyValueProjection, QueryAndKeyValueProjection or QueryAndSharedKeyValueProjection`);
      if (heads !== kvHeads) throw host.error('BAD_CONFIG', `input_projection: CombinedQueryKeyValueProjection needs num_kv_heads = num_heads (${heads}), got ${kvHeads}; use a separate query projection for grouped-query attention`);
      shared = cfg.shareKvProjection!; // filled in by the field's default
      q = param('query_key_value_projection', [inputs, shared ? 2 : 3, heads, units]);
      kv = [];
    } else {
      q = parts === 'keyValue' ? null : param('query_projection', [inputs, heads, units]);
      if (cfg.type === 'SeparateQueryKeyValueProjection') kv = [kvParam('key_projection', [kvIn, kvHeads, units]), kvParam('value_projection', [kvIn, kvHeads, units])];
      else if (cfg.type === 'QueryAndKeyValueProjection') kv = [kvParam('key_value_projection', [kvIn, 2, kvHeads, units])];
      else {
        shared = true;
        kv = [kvParam('shared_key_value_projection', [kvIn, kvHeads, units])];
      }
    }
    const kvBlocks = kv.filter((b) => b !== null);
    if (sourceChannels === null) {
      this.query = new PackedProjection(host, inputs, [q!, ...kvBlocks], weightStorage);
      this.keyValue = null;
      this.kOffset = qCols;
      this.qStride = this.kvStride = this.query.n;
    } else {
      this.query = q ? new PackedProjection(host, inputs, [q], weightStorage) : null;
      this.keyValue = kvBlocks.length ? new PackedProjection(host, kvIn, kvBlocks, weightStorage) : null;
      this.kOffset = 0;
      this.qStride = qCols;
      this.kvStride = this.keyValue?.n ?? 0;
    }
    this.vOffset = shared ? this.kOffset : this.kOffset + kvCols;
  }

  prepare(): void {
    this.query?.prepare();
    this.keyValue?.prepare();
  }

  /** Projects x [rows, in]: queries (and, for self attention, keys and values) per row. */
  runQuery(ctx: RunContext, rows: number, x: number): number {
    return this.query!.run(ctx, rows, x);
  }

  /** Projects a cross-attention source [rows, in_kv] into key and value rows. */
  runKeyValue(ctx: RunContext, rows: number, source: number): number {
    return this.keyValue!.run(ctx, rows, source);
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel descriptor.

/** Slots of the f32_attention descriptor; see the kernel's doc block in assembly/attention.ts. */
export const ATT = {
  BATCH: 0, QUERIES: 1, HEADS: 2, KV_HEADS: 3, UNITS: 4, SINKS: 5,
  Q_RING: 6, Q_CAP: 7, Q_HEAD: 8, Q_RING_MASK: 9, Q_LIN: 10, Q_STRIDE: 11, Q_BATCH_STRIDE: 12, Q_LIN_MASK: 13, Q_LIN_COUNT: 14,
  K_RING: 15, V_RING: 16, KV_CAP: 17, KV_HEAD: 18, KV_RING_MASK: 19, K_LIN: 20, V_LIN: 21, KV_STRIDE: 22, KV_BATCH_STRIDE: 23,
  KV_LIN_MASK: 24, KV_LIN_COUNT: 25, KV_FIRST: 26, Q_OFFSET: 27, PAST: 28, FUTURE: 29,
  Q_SCALE: 30, K_SCALE: 31, Q_BIAS: 32, SINK_KEYS: 33, SINK_VALUES: 34, SINK_SCALARS: 35,
  REL_MODE: 36, REL_TABLE: 37, REL_BUCKETS: 38, REL_BUCKET_MAP: 39, D_LO: 40, D_HI: 41, REL_Q_BIAS: 42,
  SOFT_CAP: 43, ZERO_FULLY_MASKED: 44, OUT: 45, OUT_MASK: 46, PROBS: 47, SCRATCH: 48, WINDOW_BLOCK: 49, WINDOW_PHASE: 50,
  SEGMENTS: 51, Q_RING_SEG: 52, Q_LIN_SEG: 53, KV_RING_SEG: 54, KV_LIN_SEG: 55,
  POSITIONS: 56, Q_RING_POS: 57, Q_LIN_POS: 58, KV_RING_POS: 59, KV_LIN_POS: 60, KV_CYCLE: 61,
} as const;
const ATT_SLOTS = 62;

/**
 * One layer's f32_attention descriptor: fixed slots are set at prepare time, per-call slots
 * before each run. A run copies it to scratch and calls the kernel (no JS allocation).
 */
export class AttentionCall {
  private readonly buf = new ArrayBuffer(ATT_SLOTS * 4);
  readonly i32 = new Int32Array(this.buf);
  private readonly f32 = new Float32Array(this.buf);

  setFloat(slot: number, v: number): void {
    this.f32[slot] = v;
  }

  run(ctx: RunContext): void {
    const p = ctx.alloc(ATT_SLOTS * 4);
    ctx.rt.i32.set(this.i32, p >> 2);
    ctx.rt.k.f32_attention(p);
  }
}

// ---------------------------------------------------------------------------------------------
// Constants.

/**
 * The cross-attention source constants[name]: a float32 Sequence [batch, time, channels]
 * (batch and time checked when given; time for a streamed block). Absent or mis-shaped:
 * MISSING_CONSTANT naming the key and the expected shape.
 */
export function getSource(layer: Layer, constants: Constants | undefined, name: string, channels: number, batch?: number, time?: number): Sequence {
  const s = constants && Object.hasOwn(constants, name) ? constants[name] : undefined;
  // The messages are built only when refusing: this runs at every step.
  if (!s) {
    throw layer.error('MISSING_CONSTANT', `expected constants[${show(name)}] to be ${expectedSource(channels, batch, time)}, got no such constant (constants given: ${show(Object.keys(constants ?? {}))})`);
  }
  if (!(s instanceof Sequence) || s.dtype !== 'float32' || s.shape.length !== 3 || s.shape[2] !== channels || (batch !== undefined && s.batch !== batch) || (time !== undefined && s.time !== time)) {
    const got = s instanceof Sequence ? `${show(s.shape)} ${s.dtype}` : `an array of shape ${show(s.shape)}`;
    throw layer.error('MISSING_CONSTANT', `expected constants[${show(name)}] to be ${expectedSource(channels, batch, time)}, got ${got}`);
  }
  return s;
}

/** What getSource expects, for its messages. */
function expectedSource(channels: number, batch?: number, time?: number): string {
  return `a Sequence [${batch ?? 'batch'}, ${time ?? 'time'}, ${channels}] float32`;
}

// ---------------------------------------------------------------------------------------------
// The KV cache: ring buffers in the state, updated in place.

/** Which ids the steps carry besides their index: segment ids, positions (see StepIds). */
export interface StepIdKinds {
  segments: boolean;
  positions: boolean;
}

/**
 * A block's segment ids and positions from the constants, int32 [B, n] each in WebAssembly
 * memory (0: not given).
 */
export interface StepIds {
  segments: number;
  positions: number;
}

/** Initial capacity in steps of a cache with an unlimited past (it then doubles as needed). */
const CACHE_CHUNK = 256;

/**
 * The streaming state of a self or streaming attention layer, as the reference's (kv_keys,
 * kv_values, kv_mask, time_step, query_delay_buffer), held as ring buffers:
 *
 * - `keys`, `values` [B, C, KVH, U] and `mask` u8 [B, C]: the last C projected keys, values and
 *   their validity, C = past + future. The slot of step t is t mod C, so a step writes its
 *   block in place and nothing moves. With an unlimited past (-1) nothing is evicted: C starts
 *   at min(256, maxCacheSteps) and doubles (copying once) when a block would not fit, up to
 *   maxCacheSteps; a block past that fails with CACHE_FULL before anything is written.
 * - `time_step` i32 [B]: steps seen so far (the same for every item).
 * - `query_delay` [B, F, H, U] and `query_delay_mask` [B, F] when future F > 0 and queries are
 *   delayed: the last F projected queries, answered F steps later, once their future keys
 *   have arrived (slot t mod F).
 * - With segment ids or positions from the constants (DotProductSelfAttentionV2,
 *   BlockwiseDotProductSelfAttention): `segment_ids` and `positions` i32 [B, C] beside the
 *   keys, then `query_delay_segment_ids` and `query_delay_positions` i32 [B, F] beside the
 *   delayed queries, as the reference's KVBundle and QBundle keep them.
 */
export class KvCache {
  private readonly unlimited: boolean;
  private readonly initialCapacity: number;
  /** State indices of the id rings (-1: not kept): segment ids and positions of the keys, then of the delayed queries. */
  private readonly ids: { kvSeg: number; kvPos: number; qSeg: number; qPos: number };

  constructor(
    private readonly layer: Layer,
    private readonly heads: number,
    private readonly kvHeads: number,
    private readonly units: number,
    /** Past horizon (-1 = unlimited) and future horizon (>= 0). */
    private readonly past: number,
    private readonly future: number,
    /** Query delay (F or 0). */
    private readonly delay: number,
    private readonly maxCacheSteps: number,
    /** Whether steps carry segment ids and positions (from the constants), kept with the keys and delayed queries. */
    private readonly tags: StepIdKinds = { segments: false, positions: false },
  ) {
    this.unlimited = past < 0;
    this.initialCapacity = this.unlimited ? Math.min(CACHE_CHUNK, maxCacheSteps) : past + future;
    let next = delay > 0 ? 6 : 4;
    const at = (kept: boolean) => (kept ? next++ : -1);
    const kvSeg = at(tags.segments), kvPos = at(tags.positions);
    this.ids = { kvSeg, kvPos, qSeg: at(delay > 0 && tags.segments), qPos: at(delay > 0 && tags.positions) };
  }

  specs(batch: number): StateSpec[] {
    const { kvHeads, units, heads, delay, tags } = this;
    const c = this.initialCapacity, growable = this.unlimited;
    const specs: StateSpec[] = [
      { name: 'keys', dtype: 'float32', shape: [batch, c, kvHeads, units], growable },
      { name: 'values', dtype: 'float32', shape: [batch, c, kvHeads, units], growable },
      { name: 'mask', dtype: 'uint8', shape: [batch, c], growable },
      { name: 'time_step', dtype: 'int32', shape: [batch], min: 0 },
    ];
    if (delay > 0) {
      specs.push({ name: 'query_delay', dtype: 'float32', shape: [batch, delay, heads, units] });
      specs.push({ name: 'query_delay_mask', dtype: 'uint8', shape: [batch, delay] });
    }
    if (tags.segments) specs.push({ name: 'segment_ids', dtype: 'int32', shape: [batch, c], growable });
    if (tags.positions) specs.push({ name: 'positions', dtype: 'int32', shape: [batch, c], growable });
    if (delay > 0 && tags.segments) specs.push({ name: 'query_delay_segment_ids', dtype: 'int32', shape: [batch, delay] });
    if (delay > 0 && tags.positions) specs.push({ name: 'query_delay_positions', dtype: 'int32', shape: [batch, delay] });
    return specs;
  }

  /**
   * Makes room for a block of n steps (unlimited past only): grows the ring or throws
   * CACHE_FULL, in both cases before anything is written.
   */
  reserve(ctx: RunContext, bufs: StateBuffer[], n: number): void {
    if (!this.unlimited) return;
    const pos = ctx.rt.i32[bufs[3]!.ptr >> 2]!;
    const c = bufs[0]!.shape[1]!, need = pos + n;
    if (need <= c) return;
    if (need > this.maxCacheSteps) {
      throw this.layer.error(
        'CACHE_FULL',
        `the KV cache holds ${pos} steps and a block of ${n} needs ${need}, over max_cache_steps=${this.maxCacheSteps}; ` +
          `raise max_cache_steps, bound max_past_horizon, or start a new state (this one is unchanged)`,
      );
    }
    // From 1 at least: a restored cache may hold no step at all.
    let grown = Math.max(1, c);
    while (grown < need) grown *= 2;
    grown = Math.min(grown, this.maxCacheSteps);
    const { rt } = ctx;
    const batch = bufs[0]!.shape[0]!;
    const { kvSeg, kvPos } = this.ids;
    const ring = [0, 1, 2, kvSeg, kvPos].filter((i) => i >= 0).map((i) => bufs[i]!);
    // Bytes of one item's step, from the shape (not bytes / c, which a zero capacity leaves undefined).
    const rowBytes = (b: StateBuffer) => product(b.shape.slice(2)) * stateElementBytes(b.dtype);
    const ptrs: number[] = [];
    try {
      for (const b of ring) ptrs.push(rt.heap.alloc(batch * grown * rowBytes(b), `state ${b.name} of ${this.layer.type} at ${this.layer.where}`));
    } catch (e) {
      for (const p of ptrs) rt.heap.release(p);
      throw e;
    }
    // Nothing was ever evicted, so the slot of step t is t: the old slots go to the start.
    ring.forEach((b, i) => {
      const bytes = batch * grown * rowBytes(b);
      rt.k.mem_fill(ptrs[i]!, 0, bytes);
      rt.k.seq_place_time(batch, c, grown, 0, rowBytes(b), b.ptr, ptrs[i]!);
      rt.heap.release(b.ptr);
      Object.assign(b, { ptr: ptrs[i]!, shape: [batch, grown, ...b.shape.slice(2)], bytes });
    });
  }

  /**
   * Points the descriptor at the state for a block of n queries: queries from [delay ring ‖
   * linear], keys and values from [KV ring ‖ linear]. The caller sets the linear parts.
   */
  bind(call: AttentionCall, rt: Runtime, bufs: StateBuffer[], n: number): void {
    const a = call.i32;
    const pos = rt.i32[bufs[3]!.ptr >> 2]!;
    const c = bufs[0]!.shape[1]!, f = this.delay;
    a[ATT.QUERIES] = n;
    a[ATT.Q_CAP] = f;
    a[ATT.Q_RING] = f ? bufs[4]!.ptr : 0;
    a[ATT.Q_RING_MASK] = f ? bufs[5]!.ptr : 0;
    a[ATT.Q_HEAD] = f ? pos % f : 0;
    a[ATT.Q_LIN_COUNT] = n;
    a[ATT.K_RING] = bufs[0]!.ptr;
    a[ATT.V_RING] = bufs[1]!.ptr;
    a[ATT.KV_RING_MASK] = bufs[2]!.ptr;
    a[ATT.KV_CAP] = c;
    a[ATT.KV_HEAD] = pos % c;
    a[ATT.KV_LIN_COUNT] = n;
    // Slots written fewer than C steps ago hold nothing: the window starts after them.
    a[ATT.KV_FIRST] = Math.max(0, c - pos);
    // Query i answers step pos - F + i, which sits at logical key C - F + i.
    a[ATT.Q_OFFSET] = c - this.future;
    const { kvSeg, kvPos, qSeg, qPos } = this.ids;
    a[ATT.KV_RING_SEG] = kvSeg < 0 ? 0 : bufs[kvSeg]!.ptr;
    a[ATT.KV_RING_POS] = kvPos < 0 ? 0 : bufs[kvPos]!.ptr;
    a[ATT.Q_RING_SEG] = qSeg < 0 ? 0 : bufs[qSeg]!.ptr;
    a[ATT.Q_RING_POS] = qPos < 0 ? 0 : bufs[qPos]!.ptr;
  }

  /**
   * Appends the block to the rings after the attention ran: keys and values (rows of KVH*U
   * floats, `kvStride` floats apart) with their mask, and the queries (rows of H*U floats,
   * `qStride` apart) with theirs when queries are delayed, and the block's segment ids and
   * positions (`ids`, [B, n] int32 each) where kept; then advances time_step.
   */
  write(rt: Runtime, bufs: StateBuffer[], batch: number, n: number, kv: { keys: number; values: number; stride: number; mask: number }, q: { queries: number; stride: number; mask: number }, ids?: StepIds): void {
    const k = rt.k;
    const pos = rt.i32[bufs[3]!.ptr >> 2]!;
    const c = bufs[0]!.shape[1]!, f = this.delay;
    const kvRow = this.kvHeads * this.units * 4;
    k.seq_ring_write(batch, n, c, pos % c, kvRow, kv.stride * 4, kv.keys, bufs[0]!.ptr);
    k.seq_ring_write(batch, n, c, pos % c, kvRow, kv.stride * 4, kv.values, bufs[1]!.ptr);
    k.seq_ring_write(batch, n, c, pos % c, 1, 1, kv.mask, bufs[2]!.ptr);
    if (f) {
      k.seq_ring_write(batch, n, f, pos % f, this.heads * this.units * 4, q.stride * 4, q.queries, bufs[4]!.ptr);
      k.seq_ring_write(batch, n, f, pos % f, 1, 1, q.mask, bufs[5]!.ptr);
    }
    const { kvSeg, kvPos, qSeg, qPos } = this.ids;
    if (kvSeg >= 0) k.seq_ring_write(batch, n, c, pos % c, 4, 4, ids!.segments, bufs[kvSeg]!.ptr);
    if (kvPos >= 0) k.seq_ring_write(batch, n, c, pos % c, 4, 4, ids!.positions, bufs[kvPos]!.ptr);
    if (qSeg >= 0) k.seq_ring_write(batch, n, f, pos % f, 4, 4, ids!.segments, bufs[qSeg]!.ptr);
    if (qPos >= 0) k.seq_ring_write(batch, n, f, pos % f, 4, 4, ids!.positions, bufs[qPos]!.ptr);
    rt.i32.fill(this.nextTimeStep(pos + n, c), bufs[3]!.ptr >> 2, (bufs[3]!.ptr >> 2) + batch);
  }

  /**
   * time_step after a block ends at step t. A ring only needs t mod C, t mod F and whether t >= C,
   * so past 2^30 steps it goes back by a multiple of both, staying >= C, rather than wrap
   * negative at 2^31 (a growing cache stops at maxCacheSteps first).
   */
  private nextTimeStep(t: number, c: number): number {
    if (t < 2 ** 30 || this.unlimited) return t;
    const period = lcm(c, Math.max(1, this.delay));
    return c + ((t - c) % period);
  }
}

/**
 * The projected source a cross attention keeps at the start of its state: `keys`, `values`
 * [B, S, KVH, U] and `mask` [B, S] (sized from the source, so growable), `projected` u8 [1]
 * (1 once they hold it: a source may have no steps), and with `segments` the source's
 * `segment_ids` i32 [B, S] (MultiSourceDotProductAttention).
 */
export const SourceState = {
  specs(batch: number, kvHeads: number, units: number, segments = false): StateSpec[] {
    const specs: StateSpec[] = [
      { name: 'keys', dtype: 'float32', shape: [batch, 0, kvHeads, units], growable: true },
      { name: 'values', dtype: 'float32', shape: [batch, 0, kvHeads, units], growable: true },
      { name: 'mask', dtype: 'uint8', shape: [batch, 0], growable: true },
      { name: 'projected', dtype: 'uint8', shape: [1] },
    ];
    if (segments) specs.push({ name: 'segment_ids', dtype: 'int32', shape: [batch, 0], growable: true });
    return specs;
  },

  projected(rt: Runtime, bufs: readonly StateBuffer[]): boolean {
    return rt.u8[bufs[3]!.ptr] !== 0;
  },

  /** Sizes the buffers (zeros) for `steps` source steps and marks them projected; returns their pointers (segments: 0 when not kept). */
  resize(rt: Runtime, bufs: readonly StateBuffer[], batch: number, steps: number, kvHeads: number, units: number, segmentIds = false): { keys: number; values: number; mask: number; segments: number } {
    const [keys, values, mask] = bufs as [StateBuffer, StateBuffer, StateBuffer];
    resizeState(rt, keys, [batch, steps, kvHeads, units]);
    resizeState(rt, values, [batch, steps, kvHeads, units]);
    resizeState(rt, mask, [batch, steps]);
    const segments = segmentIds ? bufs[4]! : undefined;
    if (segments) resizeState(rt, segments, [batch, steps]);
    rt.u8[bufs[3]!.ptr] = 1;
    return { keys: keys.ptr, values: values.ptr, mask: mask.ptr, segments: segments?.ptr ?? 0 };
  },
};

/** Replaces a growable state buffer by a zero-filled one of `shape` (same dtype). */
export function resizeState(rt: Runtime, buf: StateBuffer, shape: readonly number[]): void {
  const bytes = shape.reduce((a, d) => a * d, 1) * (buf.dtype === 'uint8' ? 1 : 4);
  const ptr = rt.heap.alloc(bytes, `state ${buf.name}`);
  rt.k.mem_fill(ptr, 0, bytes);
  rt.heap.release(buf.ptr);
  Object.assign(buf, { ptr, shape, bytes });
}

/**
 * The channel count of the cross-attention source, from the constants given at build time
 * (build(config, { inputShape, constants })): the key/value projection needs it before any data.
 */
export function sourceChannelsAtBuild(type: string, where: string, constants: Constants | undefined, name: string): number {
  const s = constants && Object.hasOwn(constants, name) ? constants[name] : undefined;
  if (!(s instanceof Sequence) || s.shape.length !== 3) {
    throw new SeqLayersError(
      'MISSING_CONSTANT',
      `${type} at ${where}: expected constants[${show(name)}] at build time to be a Sequence [batch, time, channels] (build(config, { inputShape, constants })), ` +
        `got ${s instanceof Sequence ? show(s.shape) : s ? `an array of shape ${show(s.shape)}` : 'no such constant'}`,
    );
  }
  return s.shape[2]!;
}
