// Dense layers: a learned linear map of each step's channels. Port of sequence_layers/jax/dense.py.
//
// Exports (sorted): Dense, DenseShaped, EinsumDense.
//
// All three are one einsum of each step's channels with a kernel, lowered once at build time
// (an EinsumPlan) to at most: a strided copy of x, ONE batched packed GEMM with the bias fused
// (for one row against a single [K, N] kernel, one GEMV on a second packing of the kernel),
// a strided copy of y, and the activation in place. Dense and DenseShaped never need the copies.
// With weightStorage 'int8' the kernel is kept as int8 with per-column scales instead of f32
// packings, and every row runs q8_gemm (assembly/gemm/q8-gemv.ts).
//
// They are stateless (ratio 1, receptive field (0, 0)); each step only sees its own row, so
// invalid steps (NaN included) stay in their own rows, and the input mask passes through.
import { BroadcastPlan, broadcastStrides, contiguousStrides, MAX_STRIDED_RANK, Op, permutationAxes, StridedCopy } from '../broadcast.js';
import { builder, defineLayer, f, MAX_DIM, ref, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { lecunNormal, zeros } from '../initializers.js';
import { expectInput, Layer, product, type BuildContext, type Derived, type Param, type RunContext, type WSeq } from '../layer.js';
import type { Runtime } from '../runtime/runtime.js';
import { activationField, activationKernel, type UnaryKernel } from './simple.js';
import { Q8Weights, weightStorageField, type WeightStorage } from './weight-storage.js';

// ---------------------------------------------------------------------------------------------
// Shared: an einsum "...X,Y->...Z" of each step with a kernel, as a batched GEMM.

/**
 * An einsum of each step's channels with a kernel, in labels: x, w and y name the axes of the
 * input channels, the kernel and the output channels; `sizes` gives every label's size.
 */
interface EinsumSpec {
  x: readonly string[];
  w: readonly string[];
  y: readonly string[];
  sizes: ReadonlyMap<string, number>;
  /** Bias shape, right-aligned against y as the reference's bias_add broadcasts it (null: no bias). */
  bias: readonly number[] | null;
}

/** Channel axes f32_strided_binary can broadcast over: its rank minus the rows axis. */
const MAX_CHANNEL_AXES = MAX_STRIDED_RANK - 1;

/**
 * The plan of one einsum. Labels fall in four groups: S (in x, w and y: a batch of separate
 * GEMMs), M (x and y only: more rows), K (x, not y: contracted; a K label the kernel lacks
 * sums x over it) and N (w and y only: columns). Per step, x is copied to [M, S, K] when its
 * order differs, f32_gemm_batch computes [M, S, N] = one [rows, K] x [K, N] product per S index
 * (rows = steps * M, kernel packed per S index in prepare), and the result is copied to y's
 * order when that differs. M and S are ordered as in x or as in y, whichever moves fewer floats.
 */
class EinsumPlan {
  // GEMM rows per step, batch count (S), contraction and column sizes.
  private readonly m: number;
  readonly s: number;
  private readonly k: number;
  private readonly n: number;
  private readonly xCopy: StridedCopy | null;
  private readonly yCopy: StridedCopy | null;
  // Bias added after the GEMM, when it varies along an M label (else it is fused into the GEMM).
  private readonly biasAdd: BroadcastPlan | null;
  private readonly inSize: number;
  private readonly outSize: number;
  // Kernel element offsets of each S, K and N index (null: the kernel is already [K, N]).
  private readonly kernelOffsets: { s: Int32Array; k: Int32Array; n: Int32Array } | null;
  // Bias element offsets of each S and N index (null: no bias, a post-GEMM add, or already [N]).
  private readonly biasOffsets: { s: Int32Array; n: Int32Array } | null;

  constructor(spec: EinsumSpec, fail: (message: string) => Error) {
    const { x, w, y, sizes } = spec;
    const size = (labels: readonly string[]) => product(labels.map((l) => sizes.get(l)!));
    const sLabels = x.filter((l) => w.includes(l) && y.includes(l));
    const mLabels = x.filter((l) => !w.includes(l) && y.includes(l));
    const kLabels = x.filter((l) => !y.includes(l));
    const nLabels = y.filter((l) => !x.includes(l));
    this.m = size(mLabels);
    this.s = size(sLabels);
    this.k = size(kLabels);
    this.n = size(nLabels);
    this.inSize = size(x);
    this.outSize = size(y);

    // Order M and S as in x or as in y, whichever moves fewer floats per step.
    const inYOrder = (labels: string[]) => y.filter((l) => labels.includes(l));
    let best: { m: string[]; s: string[]; cost: number } | null = null;
    for (const m of [mLabels, inYOrder(mLabels)]) {
      for (const s of [sLabels, inYOrder(sLabels)]) {
        const cost = (isPermutation(x, [...m, ...s, ...kLabels], sizes) ? this.inSize : 0) + (isPermutation([...m, ...s, ...nLabels], y, sizes) ? this.outSize : 0);
        if (!best || cost < best.cost) best = { m, s, cost };
      }
    }
    const gemmIn = [...best!.m, ...best!.s, ...kLabels];
    const gemmOut = [...best!.m, ...best!.s, ...nLabels];
    this.xCopy = permutation(x, gemmIn, sizes, fail);
    this.yCopy = permutation(gemmOut, y, sizes, fail);

    const wStrides = contiguousStrides(w.map((l) => sizes.get(l)!));
    const wStride = (l: string) => (w.includes(l) ? wStrides[w.indexOf(l)]! : 0);
    const kernelIsKN = this.s === 1 && isRowMajor([...kLabels, ...nLabels], sizes, wStride);
    this.kernelOffsets = kernelIsKN ? null : { s: offsets(best!.s, sizes, wStride), k: offsets(kLabels, sizes, wStride), n: offsets(nLabels, sizes, wStride) };

    this.biasAdd = null;
    this.biasOffsets = null;
    if (spec.bias) {
      const bStrides = broadcastStrides(spec.bias, y.map((l) => sizes.get(l)!));
      const bStride = (l: string) => bStrides[y.indexOf(l)]!;
      if (best!.m.some((l) => bStride(l) !== 0)) {
        const yShape = y.map((l) => sizes.get(l)!);
        if (yShape.length > MAX_CHANNEL_AXES) throw fail(`bias_axes: a bias along an axis the kernel lacks needs an output of at most ${MAX_CHANNEL_AXES} axes, got ${yShape.length}`);
        this.biasAdd = new BroadcastPlan(yShape, { shape: yShape, perRow: true }, { shape: spec.bias, perRow: false });
      } else {
        const biasIsN = this.s === 1 && product(spec.bias) === this.n && isRowMajor(nLabels, sizes, bStride);
        if (!biasIsN) this.biasOffsets = { s: offsets(best!.s, sizes, bStride), n: offsets(nLabels, sizes, bStride) };
      }
    }
  }

  /** Floats of the packed kernels (one per S index). */
  packedLen(rt: Runtime): number {
    return this.s * rt.k.f32_gemm_packed_len(this.k, this.n);
  }

  /**
   * Floats of the kernel's second packing for one-row products (f32_gemv), or 0 when there is
   * none: every single [K, N] product (S = 1) gets one. A one-row product reads every weight
   * once, and f32_gemv streams them from L3 or memory ~10 % faster than the GEMM's 8-column
   * panels (bench/README.md). Within L2 both run at the same speed, but in a model the layers'
   * kernels evict each other from L2, so kernels of any size stream from L3: a d = 256
   * Conformer block stepped one frame (5 MiB of Dense kernels, none over 1 MiB) took 104.5 ->
   * 95.2 µs with the GEMV packing for all of them instead of only those over 1 MiB, four Dense
   * 512 -> 512 in series 59.5 -> 52.8 µs; a Dense alone is level (medians of interleaved runs
   * in one process). The cost is memory: a Dense holds its kernel three times, not twice.
   */
  gemvLen(rt: Runtime): number {
    return this.s === 1 ? rt.k.f32_gemv_packed_len(this.k, this.n) : 0;
  }

  /** Floats of the GEMM-order bias [S, N] derived from the parameter, or 0 when the parameter serves as is. */
  get gemmBiasLen(): number {
    return this.biasOffsets ? this.s * this.n : 0;
  }

  /** Contraction and column sizes of the product: the kernel is [K, N] per S index. */
  get kn(): { k: number; n: number } {
    return { k: this.k, n: this.n };
  }

  /**
   * Packs the kernel parameter (reference layout) into `packed`, one [K, N] matrix per S index,
   * and into `gemv` (0: none; see gemvLen).
   */
  pack(rt: Runtime, kernel: number, packed: number, gemv: number): void {
    const { k, n } = this;
    this.forEachKN(rt, kernel, (kn, si) => {
      rt.k.f32_gemm_pack_b(k, n, kn, n, packed + si * rt.k.f32_gemm_packed_len(k, n) * 4);
      if (gemv) rt.k.f32_gemv_pack_b(k, 0, k, n, kn, n, gemv);
    });
  }

  /** Quantises the kernel parameter (S = 1) into `q8`. */
  packQ8(rt: Runtime, kernel: number, q8: Q8Weights): void {
    this.forEachKN(rt, kernel, (kn) => q8.pack(rt, [kn]));
  }

  /** Calls fn with each S index's kernel as a contiguous [K, N] matrix in WASM memory (the parameter itself when it is one). */
  private forEachKN(rt: Runtime, kernel: number, fn: (kn: number, si: number) => void): void {
    const { k, n } = this;
    const o = this.kernelOffsets;
    if (!o) {
      fn(kernel, 0);
      return;
    }
    const gathered = new Float32Array(k * n);
    rt.arena.begin();
    try {
      const tmp = rt.arena.alloc(k * n * 4);
      for (let si = 0; si < this.s; si++) {
        const src = rt.f32.subarray(kernel >> 2);
        for (let ki = 0; ki < k; ki++) {
          const base = o.s[si]! + o.k[ki]!;
          for (let ni = 0; ni < n; ni++) gathered[ki * n + ni] = src[base + o.n[ni]!]!;
        }
        rt.f32.set(gathered, tmp >> 2);
        fn(tmp, si);
      }
    } finally {
      rt.arena.end();
    }
  }

  /** Writes the bias parameter in GEMM order [S, N] to `out` (when gemmBiasLen > 0). */
  gatherBias(rt: Runtime, bias: number, out: number): void {
    const o = this.biasOffsets!;
    const f32 = rt.f32;
    for (let si = 0; si < this.s; si++) {
      for (let ni = 0; ni < this.n; ni++) f32[(out >> 2) + si * this.n + ni] = f32[(bias >> 2) + o.s[si]! + o.n[ni]!]!;
    }
  }

  /**
   * y = einsum(x, kernel) + bias for `steps` steps: x [steps, ...X], y [steps, ...Z] (not
   * overlapping x). bias is the parameter (0: none), gemmBias the [S, N] buffer filled by
   * gatherBias (used when gemmBiasLen > 0), gemv the second packing (0: none); with `q8` (the
   * int8 packing and its scales) every row runs q8_gemm instead and `packed` is unused.
   */
  run(ctx: RunContext, steps: number, x: number, y: number, packed: number, gemv: number, bias: number, gemmBias: number, q8: Q8Weights | null): void {
    const { m, s, k, n } = this;
    let a = x;
    if (this.xCopy) {
      a = ctx.alloc(steps * this.inSize * 4);
      this.xCopy.run(ctx, steps, x, a);
    }
    const c = this.yCopy ? ctx.alloc(steps * this.outSize * 4) : y;
    const fusedBias = this.biasAdd ? 0 : this.biasOffsets ? gemmBias : bias;
    // The same sums in the same order either way (f32_gemv matches f32_gemm bit for bit; q8_gemm
    // computes each row on its own).
    if (q8) q8.gemm(ctx, steps * m, a, fusedBias, c);
    else if (gemv && steps * m === 1) ctx.rt.k.f32_gemv(n, k, 0, k, a, 0, 0, gemv, c, fusedBias, false);
    else ctx.rt.k.f32_gemm_batch(s, steps * m, n, k, a, s * k, k, packed, c, s * n, n, fusedBias, false);
    if (this.yCopy) this.yCopy.run(ctx, steps, c, y);
    if (this.biasAdd) this.biasAdd.run(ctx, Op.add, steps, y, bias, y);
  }
}

/** Whether laying out `src` as `dst` moves data (size-1 axes do not count). */
function isPermutation(src: readonly string[], dst: readonly string[], sizes: ReadonlyMap<string, number>): boolean {
  const big = (l: string) => sizes.get(l)! > 1;
  const a = src.filter(big), b = dst.filter(big);
  return a.some((l, i) => b[i] !== l);
}

/** A strided copy from [rows, ...src] to [rows, ...dst] (the same labels in another order), or null when no data moves. */
function permutation(src: readonly string[], dst: readonly string[], sizes: ReadonlyMap<string, number>, fail: (message: string) => Error): StridedCopy | null {
  if (!isPermutation(src, dst, sizes)) return null;
  const shape = src.map((l) => sizes.get(l)!);
  const n = product(shape);
  return new StridedCopy(permutationAxes(shape, dst.map((l) => src.indexOf(l))), n, n, (m) => fail(`equation: reordering the axes: ${m}`));
}

/** Whether offsets(labels, sizes, stride) is 0, 1, 2, ...: every label of size > 1 has its row-major stride. */
function isRowMajor(labels: readonly string[], sizes: ReadonlyMap<string, number>, stride: (l: string) => number): boolean {
  let rowMajor = 1;
  for (let i = labels.length - 1; i >= 0; i--) {
    const l = labels[i]!, size = sizes.get(l)!;
    if (size > 1 && stride(l) !== rowMajor) return false;
    rowMajor *= size;
  }
  return true;
}

/** Element offset (sum of `stride(label) * index`) of every row-major index over `labels`. */
function offsets(labels: readonly string[], sizes: ReadonlyMap<string, number>, stride: (l: string) => number): Int32Array {
  let out = Int32Array.of(0);
  for (const l of labels) {
    const size = sizes.get(l)!, st = stride(l);
    const next = new Int32Array(out.length * size);
    for (let i = 0; i < out.length; i++) for (let j = 0; j < size; j++) next[i * size + j] = out[i]! + j * st;
    out = next;
  }
  return out;
}

/** Initialiser of the kernels: LeCun normal with fan-in = product of all but the last axis (flax's default_kernel_init). */
const kernelInit = (shape: readonly number[]) => lecunNormal(product(shape.slice(0, -1)));

/**
 * Base of the dense layers: builds the plan, declares `kernel` (and `bias`), packs them in
 * prepare() (as f32 GEMM panels, or int8 with weightStorage 'int8') and runs the plan, then
 * the activation.
 */
abstract class EinsumLayer extends Layer {
  private plan!: EinsumPlan;
  private kernel!: Param;
  private bias!: Param | null;
  private packed!: Derived | null;
  private gemv!: Derived | null;
  private gemmBias!: Derived | null;
  private q8!: Q8Weights | null;
  private activation!: UnaryKernel | null;

  /** Called by the subclass constructor once it has validated its config. */
  protected setup(spec: EinsumSpec, kernelShape: readonly number[], outputShape: readonly number[], activation: string | undefined, weightStorage: WeightStorage): void {
    expectInput(this, 'float32');
    // Before planning, bound what the plan sizes from (as buildLayer bounds the input): the
    // output, as its offset tables hold an entry per S, K and N index; then the kernel and bias
    // against the budget, as the WASM packing lengths are i32 and wrap past 2^31. The model's
    // check (Model.allocate) then counts the packings and the other layers too.
    const outSize = product(outputShape);
    if (!(outSize <= MAX_DIM)) {
      throw this.error('BAD_CONFIG', `expected an output of at most ${MAX_DIM} values per step, got channel shape ${show(outputShape)} (${outSize} values)`);
    }
    this.rt.heap.checkBudget((product(kernelShape) + (spec.bias ? product(spec.bias) : 0)) * 4, `${this.type} at ${this.where}: its kernel and bias need`);
    this.plan = new EinsumPlan(spec, (message) => this.error('BAD_CONFIG', message));
    if (weightStorage === 'int8' && this.plan.s > 1) {
      throw this.error('BAD_CONFIG', `weight_storage: 'int8' needs a kernel that is one [in, out] matrix, got one per index of the axes input, kernel and output share (${this.plan.s} matrices); use 'float32'`);
    }
    this.output = { shape: outputShape, dtype: 'float32' };
    this.kernel = this.param('kernel', kernelShape, kernelInit(kernelShape));
    this.bias = spec.bias ? this.param('bias', spec.bias, zeros) : null;
    const int8 = weightStorage === 'int8';
    const { k, n } = this.plan.kn;
    this.q8 = int8 ? new Q8Weights({ rt: this.rt, derive: (bytes) => this.derive(bytes) }, [k], n) : null;
    this.packed = int8 ? null : this.derive(this.plan.packedLen(this.rt) * 4);
    const gemvLen = int8 ? 0 : this.plan.gemvLen(this.rt);
    this.gemv = gemvLen ? this.derive(gemvLen * 4) : null;
    this.gemmBias = this.plan.gemmBiasLen ? this.derive(this.plan.gemmBiasLen * 4) : null;
    this.activation = activationKernel(activation);
  }

  prepare(): void {
    if (this.q8) this.plan.packQ8(this.rt, this.kernel.ptr, this.q8);
    else this.plan.pack(this.rt, this.kernel.ptr, this.packed!.ptr, this.gemv?.ptr ?? 0);
    if (this.gemmBias) this.plan.gatherBias(this.rt, this.bias!.ptr, this.gemmBias.ptr);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const steps = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.plan.run(ctx, steps, x.values, y, this.packed?.ptr ?? 0, this.gemv?.ptr ?? 0, this.bias?.ptr ?? 0, this.gemmBias?.ptr ?? 0, this.q8);
    this.activation?.(ctx.rt.k, steps * product(this.output.shape), y, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/**
 * Fields of the reference's dense-like Configs (Dense, DenseShaped, EinsumDense, and the
 * time-varying SequenceDense and MaskedDense) that concern training or JAX, accepted so
 * reference JSON loads unchanged (see `ref` in config.ts for what each takes).
 */
export const kernelReferenceFields = {
  /** compute_dtype: null or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** precision: any, no effect (float32 products). */
  precision: ref.precision(),
  /** kernel_init: null only (the reference's default). */
  kernelInit: ref.init(),
  /** kernel_sharding: any, no effect. */
  kernelSharding: ref.sharding(),
  /** bias_init: null only (the reference's default). */
  biasInit: ref.init(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
};

/** kernelReferenceFields plus the reference dense layers' custom-einsum hooks. */
const denseReferenceFields = {
  ...kernelReferenceFields,
  /** einsum_factory: null only. */
  einsumFactory: ref.einsumFactory(),
  /** quantization_provider: null only. */
  quantizationProvider: ref.quantizationProvider(),
};

/**
 * projectable of Dense and DenseShaped: any boolean, no effect. The reference passes it with the
 * kernel's initializer to meta.with_meta as parameter metadata, which ignores it ("Extra
 * arguments are currently ignored"): it changes neither the parameters nor the outputs.
 */
const projectableField = () => f.bool().opt();

// ---------------------------------------------------------------------------------------------
// Dense

const denseFields = {
  /** Output features: the size that replaces the last channel axis. */
  features: f.int(1),
  /** Add the learned `bias` (default true). */
  useBias: f.bool().default(true),
  /** Activation applied after the bias: a name such as 'relu' or 'gelu' (ACTIVATION_NAMES), or null for none (default). */
  activation: activationField(),
  /** How the kernel is stored: 'float32' (default) or 'int8' (WEIGHT_STORAGES in weight-storage.ts; not in the reference). */
  weightStorage: weightStorageField(),
  /** projectable: any boolean, no effect (see projectableField). */
  projectable: projectableField(),
  ...denseReferenceFields,
};

/**
 * y[..., o] = activation(sum_i x[..., i] kernel[i, o] + bias[o]) over the LAST channel axis;
 * the other channel axes are more rows of the same GEMM. Needs at least one channel axis.
 *
 * Parameters: `kernel` [in, features] (in = last input channel size), `bias` [features]
 * (when useBias; initialised to zeros).
 */
export class DenseLayer extends EinsumLayer {
  constructor(config: Resolved<typeof denseFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = this.input.shape;
    if (shape.length === 0) {
      throw this.error('BAD_CONFIG', `expected an input with at least one channel axis (the reference needs rank >= 3: [batch, time, ...channels]), got channel shape []`);
    }
    const outer = shape.slice(0, -1).map((_, i) => `m${i}`);
    const sizes = new Map<string, number>(outer.map((l, i) => [l, shape[i]!]));
    sizes.set('in', shape.at(-1)!).set('out', config.features);
    this.setup(
      { x: [...outer, 'in'], w: ['in', 'out'], y: [...outer, 'out'], sizes, bias: config.useBias ? [config.features] : null },
      [shape.at(-1)!, config.features],
      [...shape.slice(0, -1), config.features],
      config.activation,
      config.weightStorage,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// DenseShaped

const denseShapedFields = {
  /** Output channel shape (may be [] for a scalar per step). */
  outputShape: f.intList(1),
  /** Add the learned `bias` (default true). */
  useBias: f.bool().default(true),
  /** Activation applied after the bias: a name such as 'relu' or 'gelu' (ACTIVATION_NAMES), or null for none (default). */
  activation: activationField(),
  /** How the kernel is stored: 'float32' (default) or 'int8' (WEIGHT_STORAGES in weight-storage.ts; not in the reference). */
  weightStorage: weightStorageField(),
  /** projectable: any boolean, no effect (see projectableField). */
  projectable: projectableField(),
  ...denseReferenceFields,
};

/**
 * y[...out] = activation(sum_in x[...in] kernel[...in, ...out] + bias[...out]): maps the whole
 * input channel shape to `outputShape`.
 *
 * Parameters: `kernel` [*C_in, *outputShape], `bias` [*outputShape] (when useBias; zeros at
 * init). An empty side is replaced by (1,): a scalar input gives kernel [1, ...], a scalar
 * output kernel [..., 1] and bias [1].
 */
export class DenseShapedLayer extends EinsumLayer {
  constructor(config: Resolved<typeof denseShapedFields>, ctx: BuildContext) {
    super(config, ctx);
    const inShape = this.input.shape.length ? this.input.shape : [1];
    const outShape = config.outputShape.length ? config.outputShape : [1];
    const x = inShape.map((_, i) => `i${i}`), y = outShape.map((_, i) => `o${i}`);
    const sizes = new Map<string, number>([...x.map((l, i) => [l, inShape[i]!] as const), ...y.map((l, i) => [l, outShape[i]!] as const)]);
    this.setup({ x, w: [...x, ...y], y, sizes, bias: config.useBias ? outShape : null }, [...inShape, ...outShape], config.outputShape, config.activation, config.weightStorage);
  }
}

// ---------------------------------------------------------------------------------------------
// EinsumDense

const einsumDenseFields = {
  /** The einsum "...X,Y->...Z": X the input channel axes, Y the kernel axes, Z the output channel axes (one letter per axis). */
  equation: f.str(),
  /** Output channel shape, one entry per letter of Z; null = the size of that letter in the input. */
  outputShape: f.custom<(number | null)[]>('a list of positive integers or nulls', (v) =>
    Array.isArray(v) && v.every((d) => d === null || (Number.isInteger(d) && d >= 1)) ? (v as (number | null)[]) : undefined,
  ),
  /** Output letters the learned `bias` varies along (default '': no bias). */
  biasAxes: f.str().default(''),
  /** Activation applied after the bias: a name such as 'relu' or 'gelu' (ACTIVATION_NAMES), or null for none (default). */
  activation: activationField(),
  /** How the kernel is stored: 'float32' (default) or 'int8' (WEIGHT_STORAGES in weight-storage.ts; not in the reference). */
  weightStorage: weightStorageField(),
  ...denseReferenceFields,
};

const EQUATION = /^\.\.\.([a-zA-Z]*),([a-zA-Z]+)->\.\.\.([a-zA-Z]*)$/;

/**
 * y = activation(einsum(equation, x, kernel) + bias) per step, e.g. "...ab,bc->...ac". Every
 * letter names one axis; X and Z must start with "..." (batch and time). As in the reference,
 * a letter of Y must appear in X or Z, a letter of Z in X or Y, and X and Z must not repeat a
 * letter (Y must not either: that would be a diagonal, which the reference's einsum allows but
 * this port does not). A letter of X missing from Z and Y is summed over.
 *
 * Parameters: `kernel` with the sizes of Y's letters in Y's order; `bias` (when biasAxes is
 * not empty; zeros at init) with the shape of Z from its first bias letter on, 1 for letters
 * not in biasAxes (e.g. "...a,abc->...bc" with biasAxes "b" gives bias [b, 1]).
 */
export class EinsumDenseLayer extends EinsumLayer {
  constructor(config: Resolved<typeof einsumDenseFields>, ctx: BuildContext) {
    super(config, ctx);
    const eq = config.equation;
    const match = EQUATION.exec(eq);
    if (!match) {
      throw this.error('BAD_CONFIG', `equation: expected "...X,Y->...Z" with X, Y, Z made of letters (e.g. "...ab,bc->...ac"), got ${show(eq)}`);
    }
    const [x, w, y] = [match[1]!, match[2]!, match[3]!].map((s) => [...s]) as [string[], string[], string[]];
    for (const [name, spec] of [['input', x], ['kernel', w], ['output', y]] as const) {
      const repeated = spec.find((l, i) => spec.indexOf(l) !== i);
      if (repeated) throw this.error('BAD_CONFIG', `equation: expected no repeated letter in the ${name} spec ${show(spec.join(''))}, got ${show(repeated)} twice in ${show(eq)}`);
    }
    const shape = this.input.shape;
    if (x.length !== shape.length) {
      throw this.error('BAD_CONFIG', `equation: the input spec ${show('...' + x.join(''))} has ${x.length} axes, but the input channel shape ${show(shape)} has ${shape.length}`);
    }
    for (const l of y) if (!x.includes(l) && !w.includes(l)) throw this.error('BAD_CONFIG', `equation: output letter ${show(l)} appears in neither the input nor the kernel spec of ${show(eq)}`);
    for (const l of w) if (!x.includes(l) && !y.includes(l)) throw this.error('BAD_CONFIG', `equation: kernel letter ${show(l)} appears in neither the input nor the output spec of ${show(eq)}`);

    const outputShape = config.outputShape;
    if (outputShape.length !== y.length) {
      throw this.error('BAD_CONFIG', `output_shape: expected ${y.length} entries (one per letter of ${show('...' + y.join(''))}), got ${show(outputShape)}`);
    }
    const sizes = new Map<string, number>(x.map((l, i) => [l, shape[i]!]));
    y.forEach((l, i) => {
      const given = outputShape[i], inferred = sizes.get(l);
      if (given === null && inferred === undefined) {
        throw this.error('BAD_CONFIG', `output_shape[${i}]: expected a size for ${show(l)}, which is not in the input spec so cannot be inferred, got null`);
      }
      if (given !== null && inferred !== undefined && given !== inferred) {
        throw this.error('BAD_CONFIG', `output_shape[${i}]: expected ${inferred} (the input's size for ${show(l)}) or null, got ${given}`);
      }
      sizes.set(l, (given ?? inferred)!);
    });

    const biasAxes = [...config.biasAxes];
    const stray = biasAxes.find((l) => !y.includes(l));
    if (stray !== undefined) throw this.error('BAD_CONFIG', `bias_axes: expected letters of the output spec ${show(y.join(''))}, got ${show(config.biasAxes)}`);
    // The reference's bias shape: Z from the first bias letter on, 1 where a letter has no bias.
    const first = y.findIndex((l) => biasAxes.includes(l));
    const bias = first >= 0 ? y.slice(first).map((l) => (biasAxes.includes(l) ? sizes.get(l)! : 1)) : null;
    this.setup({ x, w, y, sizes, bias }, w.map((l) => sizes.get(l)!), y.map((l) => sizes.get(l)!), config.activation, config.weightStorage);
  }
}

const DenseDef = defineLayer({ type: 'Dense', fields: denseFields, create: (c, ctx) => new DenseLayer(c, ctx) });
const DenseShapedDef = defineLayer({ type: 'DenseShaped', fields: denseShapedFields, create: (c, ctx) => new DenseShapedLayer(c, ctx) });
const EinsumDenseDef = defineLayer({
  type: 'EinsumDense',
  fields: einsumDenseFields,
  create: (c, ctx) => new EinsumDenseLayer(c, ctx),
  // One kernel matrix: no letter in the input, the kernel and the output alike (EinsumPlan's S).
  storesInt8: (c) => {
    const m = EQUATION.exec(c.equation);
    return !m || ![...m[2]!].some((l) => m[1]!.includes(l) && m[3]!.includes(l));
  },
});

export const denseDefs = [DenseDef, DenseShapedDef, EinsumDenseDef];

export const Dense = builder(DenseDef);
export const DenseShaped = builder(DenseShapedDef);
export const EinsumDense = builder(EinsumDenseDef);
