// The SequenceLayer contract (port of sequence_layers/jax/types.py) and the internal face of
// every layer: it runs on sequences held in WebAssembly memory (WSeq), one kernel call per
// layer per block, and composes inside combinators. The public face (Sequence in and out,
// argument checks) is Model, in model.ts.
import type { LayerConfig } from './config.js';
import { DETACHED, SeqLayersError, show } from './errors.js';
import { Fraction } from './fraction.js';
import { POINT_RF, type ReceptiveFieldPerStep } from './receptive-field.js';
import type { Runtime } from './runtime/runtime.js';
import { checkIntact, dtypeWidth, Sequence, type DType } from './sequence.js';
import { isDetachedView } from './util/bytes.js';

/** Channel shape and element type of a sequence (the reference's ChannelSpec). */
export interface ChannelSpec {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/**
 * A sequence in WebAssembly memory: values at byte address `values`, [batch, time, ...C]
 * row-major, and mask bytes at `mask`, [batch, time]. The channel spec is known to the layer.
 * Layers reuse one WSeq object for their output, so read it before calling the layer again.
 */
export interface WSeq {
  values: number;
  mask: number;
  batch: number;
  time: number;
}

/** Product of the sizes. A plain loop: reduce() with a closure allocated per call on hot step paths (measured: about 56 bytes per call). */
export function product(s: readonly number[]): number {
  let p = 1;
  for (let i = 0; i < s.length; i++) p *= s[i]!;
  return p;
}
/** Bytes of one time step of one batch item. */
export const stepBytes = (spec: ChannelSpec) => product(spec.shape) * dtypeWidth(spec.dtype) * 4;
export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
export const joinPath = (a: string, b: string) => (a ? `${a}.${b}` : b);
/** A flax path ('layers_0/kernel'): module names joined with '/'. */
export const joinFlaxPath = (a: string, b: string) => (a ? `${a}/${b}` : b);

/** Fills a parameter's initial values; `random()` is uniform in [0, 1), seeded per parameter. */
export type Initializer = (out: Float32Array, random: () => number) => void;

/** A trained parameter in the reference's layout, stored as float32 in WebAssembly memory. */
export class Param {
  ptr = 0;
  /**
   * Set when this parameter is a slice of a stacked parameter (Repeat stacks its children's
   * parameters on a leading axis): it is stored there, `offset` elements in.
   */
  viewOf: { param: Param; offset: number } | null = null;
  constructor(
    readonly owner: Layer,
    /** Name inside its layer, e.g. 'kernel'. */
    readonly name: string,
    readonly shape: readonly number[],
    readonly init: Initializer,
    /** Its whole flax path (collection included), when not the default one (see flaxPath). */
    private readonly flaxName?: string,
  ) {}
  /** Tree path, e.g. 'layers.0.kernel'. */
  get path(): string {
    return joinPath(this.owner.path, this.name);
  }
  /**
   * Path in the reference's flax variables, flattened with '/' as flatten_dict gives it (e.g.
   * 'params/layers_0/kernel', 'params/encoder/kernel' for a layer named 'encoder'): the
   * collection ('params'; BatchNormalization's statistics are in 'batch_stats'), the layer's
   * flax path (Layer.flaxPath), then the name with its dots as '/' (a projection's
   * 'query_projection.kernel' is a submodule's).
   */
  get flaxPath(): string {
    return this.flaxName ?? `params/${joinFlaxPath(this.owner.flaxPath, this.name.replaceAll('.', '/'))}`;
  }
  get size(): number {
    return product(this.shape);
  }
  /** A live view of the values (re-take it after anything that may grow memory). */
  view(): Float32Array {
    return this.owner.rt.f32.subarray(this.ptr >> 2, (this.ptr >> 2) + this.size);
  }
}

/** A buffer a layer derives from its parameters (e.g. packed GEMM panels), allocated with them. */
export interface Derived {
  ptr: number;
  readonly bytes: number;
}

/**
 * Largest value of an int32 step counter kept in a state (time-varying layers, conditioning
 * indices, attention time steps): counters stop there rather than wrap to negative indices.
 */
export const MAX_STEP_COUNT = 0x7fffffff;

/** Shape of one buffer of a layer's streaming state (per batch, fixed across steps). */
export interface StateSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'uint8';
  /** Full shape including the batch axis. */
  readonly shape: readonly number[];
  /** Initial value of every element (default 0). */
  readonly fill?: number;
  /**
   * The layer may replace the buffer (ptr, shape, bytes) while streaming, e.g. a KV cache that
   * grows or is sized from constants; restoreState then takes the snapshot's shape (same rank
   * and batch) instead of requiring the initial one.
   */
  readonly growable?: boolean;
  /**
   * Smallest value an int32 buffer may hold (e.g. 0 for a step counter that indexes memory):
   * restoreState refuses snapshots below it, so a crafted snapshot cannot steer a kernel
   * outside its buffers.
   */
  readonly min?: number;
}

/** One allocated state buffer. A growing cache may replace ptr and shape between steps. */
export interface StateBuffer {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'uint8';
  shape: readonly number[];
  ptr: number;
  bytes: number;
  /** See StateSpec.growable. */
  readonly growable?: boolean;
  /** See StateSpec.min. */
  readonly min?: number;
}

export const stateElementBytes = (d: StateBuffer['dtype']) => (d === 'uint8' ? 1 : 4);

/** What a layer constructor gets: where it sits and what it receives. */
export interface BuildContext {
  readonly rt: Runtime;
  /** Tree path of the layer, e.g. 'layers.2' ('' for the root). */
  readonly path: string;
  /** The layer's module path in the reference's flax tree, e.g. 'layers_2' (see Layer.flaxPath). */
  readonly flaxPath: string;
  /** Config path for messages, e.g. 'config.layers[2]'. */
  readonly where: string;
  readonly input: ChannelSpec;
  /**
   * Builds a child layer under `field` (e.g. 'layers.0') with its own input spec. With
   * `shareScope`, the child's parameters sit at this layer's path (the reference's share_scope).
   * `flaxName`: the child's module name in the reference when it is not the field's (see
   * Layer.child).
   */
  child(config: LayerConfig, field: string, input: ChannelSpec, shareScope?: boolean, flaxName?: string): Layer;
  /** Layer-mode constants given at build time (shapes only matter here). */
  readonly constants?: Readonly<Record<string, Sequence | ConstantArray>>;
}

/** A non-sequence constant (e.g. a conditioning vector [batch, ...]). */
export interface ConstantArray {
  readonly values: Float32Array | Int32Array;
  readonly shape: readonly number[];
}
export type Constants = Readonly<Record<string, Sequence | ConstantArray>>;

/** Whether c is a ConstantArray: float32 or int32 values filling an integer shape (no callbacks: this runs at every step). */
export function isConstantArray(c: unknown): c is ConstantArray {
  const a = c as ConstantArray | null;
  if (typeof a !== 'object' || a === null || !(a.values instanceof Float32Array || a.values instanceof Int32Array) || !Array.isArray(a.shape)) return false;
  let size = 1;
  for (let i = 0; i < a.shape.length; i++) {
    const d = a.shape[i];
    if (!Number.isInteger(d) || d! < 0) return false;
    size *= d!;
  }
  return size === a.values.length;
}

/**
 * `constants` as build(), layer(), initialState() and step() take them (`what`: which): an
 * object of Sequences and arrays by name, else BAD_INPUT naming the entry.
 */
export function checkConstants(constants: unknown, what: string): Constants {
  if (typeof constants !== 'object' || constants === null || Array.isArray(constants)) {
    throw new SeqLayersError('BAD_INPUT', `${what}: expected constants as an object of Sequences and arrays by name, got ${show(constants)}`);
  }
  for (const k in constants) {
    if (!Object.hasOwn(constants, k)) continue;
    const c = (constants as Record<string, unknown>)[k];
    if (c instanceof Sequence) checkIntact(c, what, 'constants.', k);
    else if (!isConstantArray(c)) {
      const values = (c as { values?: unknown } | null)?.values;
      if (ArrayBuffer.isView(values) && isDetachedView(values)) {
        throw new SeqLayersError('BAD_INPUT', `${what}: constants.${k}: the buffer of its values ${DETACHED}; pass a copy`);
      }
      throw new SeqLayersError('BAD_INPUT', `${what}: constants.${k}: expected a Sequence or an array { values: Float32Array or Int32Array, shape } (values filling the shape), got ${show(c)}`);
    }
  }
  return constants as Constants;
}

/** A constant for messages: 'a Sequence [2, 16, 5] float32' or 'an array [2, 5] float32'. */
export function describeConstant(c: Sequence | ConstantArray): string {
  if (c instanceof Sequence) return `a Sequence ${show(c.shape)} ${c.dtype}`;
  return `an array ${show(c.shape)} ${c.values instanceof Int32Array ? 'int32' : 'float32'}`;
}

/** A constant's size that may broadcast, for messages: "3 or 1", or just "1". */
export const sizeOrOne = (n: number) => (n === 1 ? '1' : `${n} or 1`);

/**
 * Writes a constant checked by Layer.stepConstant ([batch or 1, time or 1]) broadcast to
 * [batch, time] into `dst` from element `at`: a view of WebAssembly memory, whose element type
 * converts the numbers (floats to int32 truncate).
 */
export function writeStepConstant(c: Sequence | ConstantArray, batch: number, time: number, dst: Float32Array | Int32Array, at: number): void {
  const pb = c.shape[0]!, pt = c.shape[1]!;
  if (pb === batch && pt === time) dst.set(c.values, at);
  else {
    for (let b = 0; b < batch; b++) {
      const row = at + b * time;
      if (pt === 1) dst.fill(c.values[pb === 1 ? 0 : b]!, row, row + time);
      else dst.set(c.values, row); // one item (batch 1), repeated
    }
  }
}

/** Per-call context handed down the tree: state, constants, emits, scratch memory. */
export class RunContext {
  /** The state being stepped, or null in layer mode. */
  state: { slots: StateBuffer[][] } | null = null;
  constants: Constants = {};
  /** Collected emits keyed by layer path (Layer.emitKey), or null when nobody asked for them. */
  emits: Record<string, Sequence> | null = null;
  /**
   * Suffix of the emit keys written now: '\0' and the copy's index per enclosing Repeat, whose
   * copies emit under one key until it stacks them (RepeatLayer); '' elsewhere.
   */
  emitScope = '';
  constructor(readonly rt: Runtime) {}
  /** Records `seq` as the emit under `key` (Layer.emitKey) in the current scope. */
  emit(key: string, seq: Sequence): void {
    this.emits![key + this.emitScope] = seq;
  }
  /** The emit recorded under `key` in the current scope, if any. */
  emitted(key: string): Sequence | undefined {
    return this.emits?.[key + this.emitScope];
  }
  /** Scratch bytes valid until the end of the current public call. */
  alloc(bytes: number): number {
    return this.rt.arena.alloc(bytes);
  }
}

/**
 * Base class of every layer. Subclasses set `output` and any metadata that differs from the
 * defaults in their constructor, declare parameters with `param()`, and implement runLayer
 * (and runStep plus stateSpecs when they keep state).
 */
export abstract class Layer {
  readonly rt: Runtime;
  readonly path: string;
  /** Module path in the reference's flax parameter tree, e.g. 'layers_2' ('' for the root; see Param.flaxPath). */
  readonly flaxPath: string;
  readonly where: string;
  readonly config: LayerConfig;
  readonly input: ChannelSpec;
  output: ChannelSpec;
  readonly children: Layer[] = [];
  readonly params: Param[] = [];
  readonly derived: Derived[] = [];

  /** Step inputs must be a multiple of this many steps. */
  blockSize = 1;
  /** Output steps per input step. */
  outputRatio: Fraction = Fraction.ONE;
  /** Invalid steps to feed after the end of a stream to flush every output. */
  inputLatency = 0;
  private explicitOutputLatency: number | undefined;
  receptiveFieldPerStep: ReceptiveFieldPerStep = POINT_RF;
  supportsStep = true;
  /** Whether validateStep checks anything for this layer itself (the model skips the walk when no layer does). */
  checksStep = false;
  /**
   * Whether step() must not see the invalid warm-up steps a latency before it emits (it counts
   * steps, or takes the steps before the sequence for valid padding): layers in series withhold
   * them (see WarmUp in combinators.ts).
   */
  skipsWarmUp = false;
  /**
   * Whether step() reads constants given with a particular step call (each block's, or a source
   * taken at the first step): no step can be withheld from it.
   */
  readsStepConstants = false;
  /** Whether runLayer and runStep write ctx.emits (Emit, NamedEmit, the attention layers' probabilities). */
  writesEmits = false;
  /** The key this layer's emit goes under when it writesEmits: its path (NamedEmit: its name). */
  get emitKey(): string {
    return this.path;
  }

  /**
   * Called at build on every layer under a chain's child that cannot be spared the `steps`
   * warm-up input steps a latency before it emits (see WarmUp in combinators.ts), so that
   * layers which can pass over it their own way do (Lookahead counts valid steps only, as in
   * the reference; a cross attention starts its query positions at -steps), and those that
   * cannot step over it say so (`stepRefusal`). A layer nested in chains hears of each warm-up
   * that reaches it, the outermost last (the whole of it). Default: the children, each seeing
   * the same steps (layers in series override it).
   */
  seesWarmUp(steps: number): void {
    for (const c of this.children) c.seesWarmUp(steps);
  }

  /**
   * Why a layer that steps on its own cannot step where it sits (set by seesWarmUp): the model
   * then marks it and the layers holding it as not steppable, and step()'s NOT_STEPPABLE error
   * names the reason.
   */
  stepRefusal: string | null = null;

  /** Index of this layer's state buffers in a State, or -1 when it keeps none. */
  slot = -1;
  /** Batch items each stream item becomes inside this layer's children (ParallelChannels folds groups into the batch). */
  childBatchFactor = 1;
  /** The output descriptor, reused by every call. */
  protected readonly out: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };
  private readonly ctx: BuildContext;

  constructor(config: LayerConfig, ctx: BuildContext) {
    this.rt = ctx.rt;
    this.path = ctx.path;
    this.flaxPath = ctx.flaxPath;
    this.where = ctx.where;
    this.config = config;
    this.input = ctx.input;
    this.output = ctx.input;
    this.ctx = ctx;
  }

  /** Leading output steps of step() to drop; default floor(inputLatency * outputRatio). */
  get outputLatency(): number {
    return this.explicitOutputLatency ?? this.outputRatio.floorMul(this.inputLatency);
  }
  set outputLatency(v: number) {
    this.explicitOutputLatency = v;
  }

  get type(): string {
    return this.config.type;
  }

  /**
   * Steps runLayer returns for `time` input steps: ceil(time * outputRatio) unless overridden
   * (a Delay adds steps, a Lookahead or a 'valid' padding drops some). verifyContract checks it.
   */
  layerOutputTime(time: number): number {
    return this.outputRatio.ceilMul(time);
  }

  /** ceil(L / outputRatio) + inputLatency (used right to left through a Serial). */
  accumulatedInputLatency(l: number): number {
    return Math.ceil((l * this.outputRatio.den) / this.outputRatio.num) + this.inputLatency;
  }

  /** floor(L * outputRatio) + outputLatency (left to right); L must suit a downsampling layer. */
  accumulatedOutputLatency(l: number): number {
    const r = this.outputRatio;
    if (r.num === 1 && r.den > 1 && l % r.den !== 0) {
      throw this.error(
        'BAD_CONFIG',
        `expected an accumulated output latency divisible by the downsampling factor ${r.den}, got ${l}; ` +
          `insert a Delay(${(r.den - (l % r.den)) % r.den}, delayLayerOutput: false) before this layer`,
      );
    }
    return r.floorMul(l) + this.outputLatency;
  }

  /** An error that names this layer and where it sits. */
  error(code: ConstructorParameters<typeof SeqLayersError>[0], message: string): SeqLayersError {
    return new SeqLayersError(code, `${this.type} at ${this.where}: ${message}`);
  }

  /**
   * Declares a parameter in the reference layout; the Model allocates and initialises it.
   * `flaxName`: its whole flax path, collection included, when not the default (Param.flaxPath).
   */
  protected param(name: string, shape: readonly number[], init: Initializer, flaxName?: string): Param {
    const p = new Param(this, name, shape, init, flaxName);
    this.params.push(p);
    return p;
  }

  /** Declares a derived buffer (allocated with the parameters, filled in prepare()). */
  protected derive(bytes: number): Derived {
    const d: Derived = { ptr: 0, bytes };
    this.derived.push(d);
    return d;
  }

  /**
   * Builds a child layer at `field` (e.g. 'layers.0'); it is added to `children`. Its flax path
   * (the reference's module names under this layer's) is `flaxName`, else the field with a list
   * index as flax numbers list items ('layers.0' -> 'layers_0'); a config `name` replaces the
   * last module name.
   */
  protected child(config: LayerConfig, field: string, input: ChannelSpec, shareScope = false, flaxName?: string): Layer {
    const c = this.ctx.child(config, field, input, shareScope, flaxName);
    this.children.push(c);
    return c;
  }

  /** Constants known at build time (for layers whose shapes depend on them). */
  protected get buildConstants(): Constants {
    return this.ctx.constants ?? {};
  }

  /**
   * The entry `name` of `constants` (ctx.constants, or buildConstants), or MISSING_CONSTANT
   * naming the key and what the layer expects (e.g. 'a Sequence [batch, time, 5] float32';
   * a function is only called for the message).
   */
  protected constant(constants: Constants, name: string, expects: string | (() => string)): Sequence | ConstantArray {
    const c = Object.hasOwn(constants, name) ? constants[name] : undefined;
    if (!c) {
      const keys = Object.keys(constants);
      const what = typeof expects === 'string' ? expects : expects();
      throw this.error('MISSING_CONSTANT', `constants.${name}: expected ${what}, got nothing (constants given: ${keys.length ? keys.map((k) => show(k)).join(', ') : 'none'})`);
    }
    return c;
  }

  /**
   * The constant `name` giving one number per batch item and step for an input of batch x time
   * steps (`what`, e.g. 'positions'): [batch or 1, time or 1], a Sequence without channel axes
   * or an array, int32 or float32; else MISSING_CONSTANT saying so. See writeStepConstant.
   */
  protected stepConstant(constants: Constants, name: string, what: string, batch: number, time: number): Sequence | ConstantArray {
    // Messages are built only when refusing: this runs at every step. (Values fill their shape:
    // checkConstants saw to it where the constants came in.)
    const c = Object.hasOwn(constants, name) ? constants[name] : undefined;
    const pb = c?.shape[0], pt = c?.shape[1];
    if (!c || c.shape.length !== 2 || (pb !== 1 && pb !== batch) || (pt !== 1 && pt !== time) || (c instanceof Sequence && c.dtype === 'complex64')) {
      const expects = `${what} [${sizeOrOne(batch)}, ${sizeOrOne(time)}] (a Sequence without channel axes, or an array; int32 or float32)`;
      if (!c) return this.constant(constants, name, expects); // MISSING_CONSTANT: nothing under that key
      throw this.error('MISSING_CONSTANT', `constants.${name}: expected ${expects}, got ${describeConstant(c)}`);
    }
    return c;
  }

  /** The state buffers this layer keeps for a batch (none by default). */
  stateSpecs(_batch: number): StateSpec[] {
    return [];
  }

  /** Extra state initialisation after the fills (e.g. from constants); default none. */
  initState(_bufs: StateBuffer[], _batch: number, _ctx: RunContext): void {}

  /** Called after parameters change (init or load): derive packed buffers here. */
  prepare(): void {}

  /** Output channel shape for an input channel shape (the built one by default). */
  outputShapeFor(inputShape: readonly number[]): readonly number[] {
    if (sameShape(inputShape, this.input.shape)) return this.output.shape;
    throw this.error('BAD_INPUT', `this layer was built for input shape ${show(this.input.shape)}, got ${show(inputShape)}`);
  }

  /** Whole-sequence processing. */
  abstract runLayer(x: WSeq, ctx: RunContext): WSeq;

  /**
   * Raises, before any layer of a step has written its state, the errors this layer's runStep
   * would raise for an input of `batch` items and `time` steps given ctx (missing or mis-shaped
   * constants, a full cache), and makes room it will need (a growing cache), so that a refused
   * step leaves the state as it was. Layers that check something set `checksStep`; containers
   * hand each child its own input size (default: the children, with this layer's steps and
   * childBatchFactor times its items).
   */
  validateStep(batch: number, time: number, ctx: RunContext): void {
    for (const c of this.children) c.validateStep(batch * this.childBatchFactor, time, ctx);
  }

  /** One block (time a multiple of blockSize); updates ctx.state in place. Stateless: runLayer. */
  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.runLayer(x, ctx);
  }

  /** This layer's state buffers in the running state. */
  protected stateOf(ctx: RunContext): StateBuffer[] {
    return ctx.state!.slots[this.slot]!;
  }

  /** Fills the reused output descriptor. */
  protected result(values: number, mask: number, batch: number, time: number): WSeq {
    return setSeq(this.out, values, mask, batch, time);
  }

  /** Scratch for an output of `time` steps in this layer's output spec (values only). */
  protected allocOutput(ctx: RunContext, batch: number, time: number): number {
    return ctx.alloc(batch * time * stepBytes(this.output));
  }
}

/** Throws BAD_CONFIG unless `layer`'s input has `dtype`: "expected a float32 input<what>, got int32". */
export function expectInput(layer: Layer, dtype: DType, what = ''): void {
  if (layer.input.dtype !== dtype) throw layer.error('BAD_CONFIG', `expected a ${dtype} input${what}, got ${layer.input.dtype}`);
}

/**
 * The channel count of `layer`'s input, which must be float32 with channel shape [channels]
 * (rank 3 in all); `note` follows "[channels]" in the error.
 */
export function inputChannels(layer: Layer, note = ''): number {
  const { shape, dtype } = layer.input;
  if (shape.length !== 1 || dtype !== 'float32') {
    throw layer.error('BAD_CONFIG', `expected a float32 input with channel shape [channels]${note}, got ${show(shape)} ${dtype}`);
  }
  return shape[0]!;
}

/**
 * Base of the layers whose layer() and step() are one `run`, told by `step` whether to read
 * and advance the streaming state.
 */
export abstract class SharedRunLayer extends Layer {
  protected abstract run(x: WSeq, ctx: RunContext, step: boolean): WSeq;

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.run(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.run(x, ctx, true);
  }
}

/** Fills a reused descriptor `into` and returns it (no allocation on step paths). */
export function setSeq(into: WSeq, values: number, mask: number, batch: number, time: number): WSeq {
  into.values = values;
  into.mask = mask;
  into.batch = batch;
  into.time = time;
  return into;
}

/** Every layer of the tree with its state specs for `batch` items (children get childBatchFactor times as many). */
function statePlan(root: Layer, batch: number): [Layer, StateSpec[], number][] {
  const plan: [Layer, StateSpec[], number][] = [];
  const visit = (l: Layer, b: number) => {
    plan.push([l, l.stateSpecs(b), b]);
    for (const c of l.children) visit(c, b * l.childBatchFactor);
  };
  visit(root, batch);
  return plan;
}

const planBytes = (plan: [Layer, StateSpec[], number][]) => plan.reduce((n, [, specs]) => specs.reduce((m, s) => m + product(s.shape) * stateElementBytes(s.dtype), n), 0);

/** Bytes of a new state of `batch` items (growable buffers at their initial size), allocating nothing. */
export function initialStateBytes(root: Layer, batch: number): number {
  return planBytes(statePlan(root, batch));
}

/**
 * Allocates and initialises the state buffers of every layer in `root`'s subtree for `batch`
 * stream items: indexed by layer slot (sparse for a subtree). Combinators may fold more items
 * into their children's batch (childBatchFactor). Allocation failures free what was taken.
 */
export function createStates(root: Layer, batch: number, ctx: RunContext): StateBuffer[][] {
  const rt = ctx.rt;
  const plan = statePlan(root, batch);
  const total = planBytes(plan);
  rt.heap.checkBudget(total, `a state of ${batch} items needs`);
  const slots: StateBuffer[][] = [];
  try {
    for (const [l, specs] of plan) {
      slots[l.slot] = [];
      for (const s of specs) {
        const bytes = product(s.shape) * stateElementBytes(s.dtype);
        slots[l.slot]!.push({
          name: s.name, dtype: s.dtype, shape: s.shape, bytes, growable: s.growable, min: s.min,
          ptr: rt.heap.alloc(bytes, `state ${s.name} of ${l.type} at ${l.where}`),
        });
      }
    }
    for (const [l, specs, b] of plan) {
      specs.forEach((s, j) => {
        const buf = slots[l.slot]![j]!;
        const fill = s.fill ?? 0;
        if (buf.dtype === 'uint8') rt.k.mem_fill(buf.ptr, fill, buf.bytes);
        else if (buf.dtype === 'int32') rt.i32.fill(fill, buf.ptr >> 2, (buf.ptr + buf.bytes) >> 2);
        else rt.k.f32_fill(buf.bytes >> 2, fill, buf.ptr);
      });
      l.initState(slots[l.slot]!, b, ctx); // may refuse its constants (e.g. a mis-shaped source)
    }
  } catch (e) {
    releaseStates(rt, slots);
    throw e;
  }
  return slots;
}

/** Frees state buffers made by createStates. */
/**
 * Refuses two layers (at different places in the config) that write emits under one key
 * (Layer.emitKey): one of them would be lost. A Repeat's copies share their keys (it stacks them).
 */
export function checkEmitKeys(layers: readonly Layer[]): void {
  const seen = new Map<string, Layer>();
  for (const l of layers) {
    if (!l.writesEmits) continue;
    const other = seen.get(l.emitKey);
    if (other && other.where !== l.where) {
      throw l.error('BAD_CONFIG', `expected an emit key of its own, got ${JSON.stringify(l.emitKey)}, which ${other.type} at ${other.where} emits under too`);
    }
    seen.set(l.emitKey, l);
  }
}

export function releaseStates(rt: Runtime, slots: readonly (StateBuffer[] | undefined)[]): void {
  for (const bufs of slots) if (bufs) for (const b of bufs) rt.heap.release(b.ptr);
}

/** Copies a Sequence into scratch memory, describing it in `into` (or a new WSeq). */
export function toWasm(rt: Runtime, x: Sequence, into: WSeq = { values: 0, mask: 0, batch: 0, time: 0 }): WSeq {
  into.values = rt.arena.alloc(x.values.length * 4);
  into.mask = rt.arena.alloc(x.mask.length);
  if (x.values instanceof Int32Array) rt.i32.set(x.values, into.values >> 2);
  else rt.f32.set(x.values, into.values >> 2);
  rt.u8.set(x.mask, into.mask);
  into.batch = x.batch;
  into.time = x.time;
  return into;
}

/** Copies a WSeq out of WebAssembly memory into a new Sequence. */
export function fromWasm(rt: Runtime, x: WSeq, spec: ChannelSpec): Sequence {
  const n = x.batch * x.time * product(spec.shape) * dtypeWidth(spec.dtype);
  const values = spec.dtype === 'int32' ? rt.i32.slice(x.values >> 2, (x.values >> 2) + n) : rt.f32.slice(x.values >> 2, (x.values >> 2) + n);
  const mask = rt.u8.slice(x.mask, x.mask + x.batch * x.time);
  return new Sequence(values, mask, [x.batch, x.time, ...spec.shape], spec.dtype);
}
