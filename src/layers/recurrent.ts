// Recurrent layers. Port of sequence_layers/jax/recurrent.py (LSTM, RGLRU), plus GRU, which the
// reference lacks but audio models use.
//
// Exports (sorted): GRU, GRULayer, LSTM, LSTMLayer, RGLRU, RGLRULayer, recurrentDefs.
//
// Every layer here is steppable with block size 1, ratio 1, latency 0 and receptive field
// (-inf, 0). A block is ONE kernel call (assembly/recurrent.ts): the input projection of all
// its steps as one GEMM, then the recurrence step by step inside WebAssembly, with the state
// updated in place. layer() runs the same kernel over the whole sequence from the zero state,
// so layer() equals any split into steps bit for bit. The state is frozen (not updated) at
// invalid steps, so values there (NaN included) never reach a later step; the output mask is
// the input mask and outputs at invalid steps are unspecified, as in the reference.
import { builder, defineLayer, f, ref, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { gaussian, lecunNormal, orthogonal, zeros } from '../initializers.js';
import { inputChannels, Layer, product, stateElementBytes, type BuildContext, type Derived, type Initializer, type Param, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { rfMap } from '../receptive-field.js';
import { ACT, ACTIVATION_NAMES, activationOf } from './simple.js';
import { Q8Weights, weightStorageField } from './weight-storage.js';

// ---------------------------------------------------------------------------------------------
// Shared: the recurrent base and the fields LSTM and GRU have in common.

/** Receptive field of every layer here: the current step and all earlier ones. */
const PAST_RF = rfMap([[-Infinity, 0]]);

/** Where a state buffer lives: a StateBuffer in step mode, zeroed scratch in layer mode. */
interface StatePtr {
  readonly ptr: number;
}

/**
 * Base of the recurrent layers: checks for a float32 input [channels], declares the metadata,
 * and runs `cell` with the running state (step) or a zeroed scratch copy of it (layer).
 */
abstract class RecurrentLayer extends Layer {
  /** Input channels. */
  protected readonly din: number;

  constructor(config: LayerConfig, ctx: BuildContext, protected readonly units: number) {
    super(config, ctx);
    this.din = inputChannels(this);
    this.output = { shape: [units], dtype: 'float32' };
    this.receptiveFieldPerStep = PAST_RF;
  }

  /** A derived buffer for a [k, n] matrix packed by f32_gemm_pack_b (filled in prepare()). */
  protected packed(k: number, n: number): Derived {
    return this.derive(this.rt.k.f32_gemm_packed_len(k, n) * 4);
  }

  /** Runs the cell over x from `state` (this layer's stateSpecs buffers, updated in place), writing y [batch, time, units]. */
  protected abstract cell(ctx: RunContext, x: WSeq, state: readonly StatePtr[], y: number): void;

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const state = this.stateSpecs(x.batch).map((s) => {
      const bytes = product(s.shape) * stateElementBytes(s.dtype);
      const ptr = ctx.alloc(bytes);
      ctx.rt.k.mem_fill(ptr, 0, bytes);
      return { ptr };
    });
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.cell(ctx, x, state, y);
    return this.result(y, x.mask, x.batch, x.time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.cell(ctx, x, this.stateOf(ctx), y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

const activationName = () => f.oneOf(ACTIVATION_NAMES);

/** Fields of LSTM and GRU (Keras's names and defaults). */
const gatedFields = {
  /** Size of the state and of each output step (required). */
  units: f.int(1),
  /** Activation of the candidate and of the cell output, by name (default 'tanh'). */
  activation: activationName().default('tanh'),
  /** Activation of the gates, by name (default 'sigmoid'). */
  recurrentActivation: activationName().default('sigmoid'),
  /** Adds the learned `bias` (default true). */
  useBias: f.bool().default(true),
  /** How the kernel and recurrent kernel are stored: 'float32' (default) or 'int8' (WEIGHT_STORAGES in weight-storage.ts; not in the reference). */
  weightStorage: weightStorageField(),
};

// ---------------------------------------------------------------------------------------------
// LSTM

/**
 * LSTM's fields: the shared ones, and the reference's fields that concern training or JAX,
 * accepted so reference JSON loads unchanged (see `ref` in config.ts for what each takes). GRU,
 * which the reference lacks, has none of these.
 */
const lstmFields = {
  ...gatedFields,
  /** compute_dtype: null or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** precision: any, no effect (float32 products). */
  precision: ref.precision(),
  /** kernel_init: null only (the reference's default, LeCun normal). */
  kernelInit: ref.init(),
  /** kernel_sharding: any, no effect. */
  kernelSharding: ref.sharding(),
  /** recurrent_kernel_init: null only (the reference's default, orthogonal). */
  recurrentKernelInit: ref.init(),
  /** recurrent_kernel_sharding: any, no effect. */
  recurrentKernelSharding: ref.sharding(),
  /** bias_init: null only (the reference's default, unit forget bias). */
  biasInit: ref.init(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
};

/** The reference's unit_forget_bias: zeros except ones for the forget gate (Jozefowicz et al. 2015). */
const unitForgetBias = (units: number): Initializer => (out) => {
  out.fill(0);
  out.fill(1, units, 2 * units);
};

/**
 * Long short-term memory (Hochreiter & Schmidhuber), Keras's formulation: with
 * z = x kernel + h recurrent_kernel + bias split into gates i, f, g, o,
 * c' = ract(f) c + ract(i) act(g), h' = ract(o) act(c'); the output is h' at every step.
 *
 * Parameters (the reference's tree, '/' written '.'): `kernel.kernel` [in, 4 units],
 * `recurrent_kernel.kernel` [units, 4 units], `bias` [4 units] (when useBias); columns in gate
 * order i, f, g (the reference's c), o, units each: Keras's layout, so a Keras LSTM's weights
 * load unchanged. From PyTorch (weight_ih [4u, in] in the same gate order): kernel =
 * weight_ih^T, recurrent kernel = weight_hh^T, bias = bias_ih + bias_hh. Init: LeCun normal,
 * orthogonal, and unit forget bias (1 for f, 0 elsewhere), as the reference.
 *
 * weightStorage 'int8' stores [kernel; recurrent kernel] as int8 with a scale per gate column
 * and computes every step as one q8_gemv of [x ‖ h] (x and h quantised to int16 on the fly):
 * a quarter of the weight memory and a faster memory-bound step, with the error of the dense
 * layers' int8 (WEIGHT_STORAGES in weight-storage.ts) on z.
 *
 * State: 'c' and 'h', float32 [batch, units], zeros at the start (the reference keeps a time
 * axis of 1 as well).
 */
export class LSTMLayer extends RecurrentLayer {
  private readonly kernel: Param;
  private readonly recurrentKernel: Param;
  private readonly bias: Param | null;
  /** float32 storage: W and U packed for f32_gemm, and [W; U] for f32_gemv (batch-1 steps read the weights in one pass). */
  private readonly f32: { wx: Derived; wh: Derived; wxh: Derived } | null;
  /** int8 storage: [W; U] packed for q8_gemv. */
  private readonly q8: Q8Weights | null;
  private readonly act: readonly [number, number];
  private readonly ract: readonly [number, number];

  constructor(config: Resolved<typeof lstmFields>, ctx: BuildContext) {
    super(config, ctx, config.units);
    const u = this.units;
    this.act = activationOf(config.activation);
    this.ract = activationOf(config.recurrentActivation);
    this.kernel = this.param('kernel.kernel', [this.din, 4 * u], lecunNormal(this.din));
    this.recurrentKernel = this.param('recurrent_kernel.kernel', [u, 4 * u], orthogonal(u, 4 * u));
    this.bias = config.useBias ? this.param('bias', [4 * u], unitForgetBias(u)) : null;
    if (config.weightStorage === 'int8') {
      this.q8 = new Q8Weights({ rt: this.rt, derive: (bytes) => this.derive(bytes) }, [this.din, u], 4 * u);
      this.f32 = null;
    } else {
      this.f32 = { wx: this.packed(this.din, 4 * u), wh: this.packed(u, 4 * u), wxh: this.derive(this.rt.k.f32_gemv_packed_len(this.din + u, 4 * u) * 4) };
      this.q8 = null;
    }
  }

  stateSpecs(batch: number): StateSpec[] {
    return [
      { name: 'c', dtype: 'float32', shape: [batch, this.units] },
      { name: 'h', dtype: 'float32', shape: [batch, this.units] },
    ];
  }

  prepare(): void {
    const k = this.rt.k, u = this.units, din = this.din, w = this.kernel.ptr, r = this.recurrentKernel.ptr;
    if (this.q8) {
      this.q8.pack(this.rt, [w, r]);
      return;
    }
    const { wx, wh, wxh } = this.f32!;
    k.f32_gemm_pack_b(din, 4 * u, w, 4 * u, wx.ptr);
    k.f32_gemm_pack_b(u, 4 * u, r, 4 * u, wh.ptr);
    k.f32_gemv_pack_b(din + u, 0, din, 4 * u, w, 4 * u, wxh.ptr);
    k.f32_gemv_pack_b(din + u, din, u, 4 * u, r, 4 * u, wxh.ptr);
  }

  protected cell(ctx: RunContext, x: WSeq, state: readonly StatePtr[], y: number): void {
    const u = this.units, k = ctx.rt.k, [c, h] = [state[0]!.ptr, state[1]!.ptr];
    const [act, actP] = this.act, [ract, ractP] = this.ract, bias = this.bias?.ptr ?? 0;
    if (this.q8) {
      const q8 = this.q8;
      k.q8_lstm(x.batch, x.time, this.din, u, act, actP, ract, ractP, x.values, x.mask, q8.packed.ptr, q8.scales.ptr, bias, c, h, ctx.alloc(4 * u * 4), ctx.alloc(q8.scratchBytes), y);
      return;
    }
    const { wx, wh, wxh } = this.f32!;
    k.f32_lstm(x.batch, x.time, this.din, u, act, actP, ract, ractP, x.values, x.mask, wx.ptr, wh.ptr, wxh.ptr, bias, c, h, ctx.alloc(x.batch * x.time * 4 * u * 4), y);
  }
}

// ---------------------------------------------------------------------------------------------
// GRU

const gruFields = {
  ...gatedFields,
  /** Applies the reset gate after the recurrent matmul (PyTorch, cuDNN, Keras 2 default) rather than before it (Cho et al. 2014) (default true). */
  resetAfter: f.bool().default(true),
};

/**
 * Gated recurrent unit (Cho et al. 2014), Keras's formulation: with x kernel + input bias split
 * into gates z (update), r (reset), h (candidate) and h U the same for recurrent_kernel U,
 *   z = ract(x_z + h U_z), r = ract(x_r + h U_r), h' = z h + (1 - z) n, where
 *   resetAfter: n = act(x_h + r (h U_h + recurrent bias_h)), recurrent biases added to every gate;
 *   reset before: n = act(x_h + (r h) U_h), one bias.
 * The output is h' at every step.
 *
 * Parameters (named as LSTM's): `kernel.kernel` [in, 3 units], `recurrent_kernel.kernel`
 * [units, 3 units], `bias` [2, 3 units] (resetAfter: row 0 input bias, row 1 recurrent bias) or
 * [3 units] (reset before), when useBias; columns in gate order z, r, h, units each: Keras's
 * layout (Keras GRU weights load unchanged, its reset_after flag included). From PyTorch
 * (reset after only; weight_ih [3u, in] in gate order r, z, n): kernel = weight_ih^T with its
 * column blocks reordered to (z, r, n), i.e. blocks [1, 0, 2]; recurrent kernel = weight_hh^T
 * reordered the same way; bias = [bias_ih, bias_hh], each reordered. Init: LeCun normal,
 * orthogonal, zeros.
 *
 * weightStorage 'int8' stores [kernel; recurrent kernel]'s z and r columns, and the candidate's
 * kernel and recurrent kernel, as int8 with a scale per column, and runs every step of every
 * item alone with q8_gemv (x, h and, reset before, r h quantised to int16 on the fly).
 *
 * State: 'h' float32 [batch, units], zeros at the start.
 */
export class GRULayer extends RecurrentLayer {
  private readonly kernel: Param;
  private readonly recurrentKernel: Param;
  private readonly bias: Param | null;
  private readonly resetAfter: boolean;
  /**
   * float32 storage: W, U[:, 0:2u] and U[:, 2u:3u] packed for f32_gemm, and for f32_gemv
   * (a one-step block) [W_zr; U_zr], W_h and U_h.
   */
  private readonly f32: { wx: Derived; uzr: Derived; uh: Derived; gzr: Derived; gwh: Derived; guh: Derived } | null;
  /** int8 storage: [W_zr; U_zr], W_h and U_h packed for q8_gemv. */
  private readonly q8: { zr: Q8Weights; wh: Q8Weights; uh: Q8Weights } | null;
  /** resetAfter: the input projection's bias, with the recurrent biases of z and r folded in. */
  private readonly bx: Derived | null;
  private readonly act: readonly [number, number];
  private readonly ract: readonly [number, number];

  constructor(config: Resolved<typeof gruFields>, ctx: BuildContext) {
    super(config, ctx, config.units);
    const u = this.units;
    this.resetAfter = config.resetAfter;
    this.act = activationOf(config.activation);
    this.ract = activationOf(config.recurrentActivation);
    this.kernel = this.param('kernel.kernel', [this.din, 3 * u], lecunNormal(this.din));
    this.recurrentKernel = this.param('recurrent_kernel.kernel', [u, 3 * u], orthogonal(u, 3 * u));
    this.bias = config.useBias ? this.param('bias', this.resetAfter ? [2, 3 * u] : [3 * u], zeros) : null;
    if (config.weightStorage === 'int8') {
      const host = { rt: this.rt, derive: (bytes: number) => this.derive(bytes) };
      this.q8 = { zr: new Q8Weights(host, [this.din, u], 2 * u), wh: new Q8Weights(host, [this.din], u), uh: new Q8Weights(host, [u], u) };
      this.f32 = null;
    } else {
      const gemv = (rows: number, n: number) => this.derive(this.rt.k.f32_gemv_packed_len(rows, n) * 4);
      this.f32 = {
        wx: this.packed(this.din, 3 * u), uzr: this.packed(u, 2 * u), uh: this.packed(u, u),
        gzr: gemv(this.din + u, 2 * u), gwh: gemv(this.din, u), guh: gemv(u, u),
      };
      this.q8 = null;
    }
    this.bx = this.bias && this.resetAfter ? this.derive(3 * u * 4) : null;
  }

  stateSpecs(batch: number): StateSpec[] {
    return [{ name: 'h', dtype: 'float32', shape: [batch, this.units] }];
  }

  prepare(): void {
    const k = this.rt.k, u = this.units, w = this.kernel.ptr, rk = this.recurrentKernel.ptr;
    if (this.q8) {
      this.q8.zr.pack(this.rt, [w, rk], 3 * u);
      this.q8.wh.pack(this.rt, [w + 2 * u * 4], 3 * u);
      this.q8.uh.pack(this.rt, [rk + 2 * u * 4], 3 * u);
    } else {
      const { wx, uzr, uh, gzr, gwh, guh } = this.f32!, din = this.din;
      k.f32_gemm_pack_b(din, 3 * u, w, 3 * u, wx.ptr);
      k.f32_gemm_pack_b(u, 2 * u, rk, 3 * u, uzr.ptr);
      k.f32_gemm_pack_b(u, u, rk + 2 * u * 4, 3 * u, uh.ptr);
      k.f32_gemv_pack_b(din + u, 0, din, 2 * u, w, 3 * u, gzr.ptr);
      k.f32_gemv_pack_b(din + u, din, u, 2 * u, rk, 3 * u, gzr.ptr);
      k.f32_gemv_pack_b(din, 0, din, u, w + 2 * u * 4, 3 * u, gwh.ptr);
      k.f32_gemv_pack_b(u, 0, u, u, rk + 2 * u * 4, 3 * u, guh.ptr);
    }
    if (this.bx) {
      const b = this.bias!.view(), out = this.rt.f32.subarray(this.bx.ptr >> 2, (this.bx.ptr >> 2) + 3 * u);
      for (let j = 0; j < 3 * u; j++) out[j] = b[j]! + (j < 2 * u ? b[3 * u + j]! : 0);
    }
  }

  protected cell(ctx: RunContext, x: WSeq, state: readonly StatePtr[], y: number): void {
    const u = this.units, k = ctx.rt.k, h = state[0]!.ptr;
    const [act, actP] = this.act, [ract, ractP] = this.ract;
    const bias = this.bias?.ptr ?? 0;
    const bx = this.bx ? this.bx.ptr : bias;
    const bh = this.bx ? bias + (3 * u + 2 * u) * 4 : 0;
    if (this.q8) {
      const { zr, wh, uh } = this.q8;
      k.q8_gru(
        x.batch, x.time, this.din, u, this.resetAfter, act, actP, ract, ractP, x.values, x.mask, zr.packed.ptr, zr.scales.ptr,
        wh.packed.ptr, wh.scales.ptr, uh.packed.ptr, uh.scales.ptr, bx, bh, h, ctx.alloc(3 * u * 4), ctx.alloc(u * 4), ctx.alloc(zr.scratchBytes), y,
      );
      return;
    }
    const { wx, uzr, uh, gzr, gwh, guh } = this.f32!;
    const z = ctx.alloc(x.batch * x.time * 3 * u * 4), q = ctx.alloc(x.batch * u * 4);
    k.f32_gru(x.batch, x.time, this.din, u, this.resetAfter, act, actP, ract, ractP, x.values, x.mask, wx.ptr, bx, uzr.ptr, uh.ptr, bh, h, z, q, y, gzr.ptr, gwh.ptr, guh.ptr);
  }
}

// ---------------------------------------------------------------------------------------------
// RGLRU

const SCAN_TYPES = ['auto', 'linear_native', 'associative_native', 'linear_pallas'] as const;

const rglruFields = {
  /** Width of the input, the state and the output (required). */
  units: f.int(1),
  /** Heads of the block-diagonal gates; must divide units (required). */
  numHeads: f.int(1),
  /** The reference's scan implementation; accepted for compatibility, every value runs the same linear scan (default 'auto'). */
  scanType: f.oneOf(SCAN_TYPES).default('auto'),
  /** Real recurrence; only true is implemented (default true). */
  onlyReal: f.bool().default(true),
  /** Smallest |a| drawn by the initialiser of a_param, in [0, 1) (default 0.9). */
  minRad: f.num(0, 1).default(0.9),
  /** Variance scale of the gate kernels' initialiser (normal, fan-in) (default 1). */
  gateKernelVarianceScale: f.num(0).default(1),
  /** scan_sharding: any, no effect (how JAX splits the scan over devices; see `ref` in config.ts for these reference fields). */
  scanSharding: ref.sharding(),
  /** a_sharding: any, no effect. */
  aSharding: ref.sharding(),
  /** gate_kernel_sharding: any, no effect. */
  gateKernelSharding: ref.sharding(),
  /** gate_bias_sharding: any, no effect. */
  gateBiasSharding: ref.sharding(),
  /** compute_dtype: null or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
};

/** Largest |a| of the a_param initialiser (the reference's max_rad). */
const MAX_RAD = 0.999;

/**
 * The reference's _rnn_real_param_init: |a| uniform in area on the ring [minRad, maxRad], stored
 * through the inverse of a = e^(-softplus(param)).
 */
const ringInit = (minRad: number, maxRad: number): Initializer => (out, random) => {
  for (let i = 0; i < out.length; i++) {
    const aReal = 0.5 * Math.log(random() * (maxRad ** 2 - minRad ** 2) + minRad ** 2 + 1e-8);
    out[i] = Math.log(Math.exp(-aReal) - 1);
  }
};

/**
 * Real-gated linear recurrent unit (Griffin, arXiv 2402.19427; recurrentgemma's RGLRU), real
 * variant. Per step, with the input split into numHeads heads for the block-diagonal gates:
 *   gate_x = sigmoid(x input_gate), gate_a = sigmoid(x a_gate),
 *   a = exp(-8 gate_a softplus(a_param)),
 *   h' = x gate_x at segment position 0, else a h + sqrt(1 - a^2) x gate_x; the output is h'.
 * The segment position counts steps from the start of the stream (layer: the sequence), valid
 * or not, as in the reference.
 *
 * Masks: the reference supports only left-aligned (contiguous) masks and updates its state at
 * every step. Here the state is frozen at invalid steps instead, which gives the same valid
 * outputs for left-aligned masks and keeps values at invalid steps out of the state otherwise.
 *
 * Parameters (p = units / numHeads): `input_gate.kernel` [numHeads, p, p], `input_gate.bias`
 * [numHeads, p], `a_gate.kernel`, `a_gate.bias` the same, `a_param` [units]. Init: gate kernels
 * normal with variance gateKernelVarianceScale / p, biases zeros, a_param on the ring
 * [minRad, 0.999] as the reference.
 *
 * State: 'h' float32 [batch, units] and 'start_index' int32 [batch] (the segment position of
 * the next step), zeros at the start.
 */
export class RGLRULayer extends RecurrentLayer {
  private readonly heads: number;
  private readonly inputGate: { kernel: Param; bias: Param; packed: Derived };
  private readonly aGate: { kernel: Param; bias: Param; packed: Derived };
  private readonly aParam: Param;
  /** softplus(a_param), derived in prepare(). */
  private readonly softplusA: Derived;

  constructor(config: Resolved<typeof rglruFields>, ctx: BuildContext) {
    super(config, ctx, config.units);
    this.skipsWarmUp = true; // its segment position counts steps
    const u = this.units, h = config.numHeads;
    if (!config.onlyReal) throw this.error('BAD_CONFIG', 'only_real: expected true (the complex variant is not implemented), got false');
    if (u % h !== 0) throw this.error('BAD_CONFIG', `num_heads: expected a divisor of units=${u}, got ${h}`);
    if (this.din !== u) {
      throw this.error('BAD_CONFIG', `expected input channel shape [units] = [${u}] (the gated input is added to the state), got ${show(this.input.shape)}`);
    }
    this.heads = h;
    const p = u / h;
    const gate = (name: string) => ({
      kernel: this.param(`${name}.kernel`, [h, p, p], gaussian(Math.sqrt(config.gateKernelVarianceScale / p))),
      bias: this.param(`${name}.bias`, [h, p], zeros),
      packed: this.derive(h * this.rt.k.f32_gemm_packed_len(p, p) * 4),
    });
    this.inputGate = gate('input_gate');
    this.aGate = gate('a_gate');
    this.aParam = this.param('a_param', [u], ringInit(config.minRad, MAX_RAD));
    this.softplusA = this.derive(u * 4);
  }

  stateSpecs(batch: number): StateSpec[] {
    return [
      { name: 'h', dtype: 'float32', shape: [batch, this.units] },
      { name: 'start_index', dtype: 'int32', shape: [batch] },
    ];
  }

  prepare(): void {
    const k = this.rt.k, p = this.units / this.heads;
    const headBytes = k.f32_gemm_packed_len(p, p) * 4;
    for (const g of [this.inputGate, this.aGate]) {
      for (let i = 0; i < this.heads; i++) k.f32_gemm_pack_b(p, p, g.kernel.ptr + i * p * p * 4, p, g.packed.ptr + i * headBytes);
    }
    k.f32_vactivation(ACT.softplus, this.units, this.aParam.ptr, 0, this.softplusA.ptr);
  }

  protected cell(ctx: RunContext, x: WSeq, state: readonly StatePtr[], y: number): void {
    const bytes = x.batch * x.time * this.units * 4;
    const gx = ctx.alloc(bytes), ga = ctx.alloc(bytes);
    const { inputGate: i, aGate: a } = this;
    ctx.rt.k.f32_rglru(
      x.batch, x.time, this.units, this.heads, x.values, x.mask, i.packed.ptr, i.bias.ptr, a.packed.ptr, a.bias.ptr,
      this.softplusA.ptr, state[0]!.ptr, state[1]!.ptr, gx, ga, y,
    );
  }
}

const LSTMDef = defineLayer({ type: 'LSTM', fields: lstmFields, create: (c, ctx) => new LSTMLayer(c, ctx) });
const GRUDef = defineLayer({ type: 'GRU', fields: gruFields, create: (c, ctx) => new GRULayer(c, ctx) });
const RGLRUDef = defineLayer({ type: 'RGLRU', fields: rglruFields, create: (c, ctx) => new RGLRULayer(c, ctx) });

export const recurrentDefs = [LSTMDef, GRUDef, RGLRUDef];

export const LSTM = builder(LSTMDef);
export const GRU = builder(GRUDef);
export const RGLRU = builder(RGLRUDef);
