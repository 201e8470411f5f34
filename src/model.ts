// The public face of a built layer tree: Sequence in and out, checks at the boundary, weights
// and streaming states. Everything inside runs on WebAssembly-resident tensors.
import { checkOptionKeys, copyConfig, layerDef, MAX_DIM, normalizeConfig, type LayerConfig } from './config.js';
import { SeqLayersError, show } from './errors.js';
import type { Fraction } from './fraction.js';
import {
  checkConstants, checkEmitKeys, createStates, fromWasm, initialStateBytes, joinFlaxPath, joinPath, product, releaseStates, RunContext, sameShape, stateElementBytes, toWasm,
  type ChannelSpec, type Constants, type Layer, type Param, type StateBuffer, type WSeq,
} from './layer.js';
import { rfHull, type ReceptiveField, type ReceptiveFieldPerStep } from './receptive-field.js';
import { getRuntime, Runtime } from './runtime/runtime.js';
import { checkIntact, DTYPES as SEQUENCE_DTYPES, dtypeWidth, MAX_SEQUENCE_VALUES, Sequence, type DType } from './sequence.js';
import { showInput } from './axes.js';
import { crc32, hashString, seededRandom } from './util/hash.js';
import { asBytes } from './util/bytes.js';
import { toFloat32, type Tensor } from './weights/safetensors.js';

export interface BuildOptions {
  /** Channel shape of the input, e.g. [80] for 80 features per step. */
  inputShape: readonly number[];
  /** Input element type (default 'float32'; 'int32' for token ids). */
  inputDtype?: DType;
  /** Seed of the random initialisation (default 0). */
  seed?: number;
  /**
   * Trained weights to load instead of initialising randomly (as loadWeights, strict): the
   * fast path when weights are at hand, since random initialisation (orthogonal matrices for
   * recurrent kernels) costs far more than copying.
   */
  weights?: WeightsSource;
  /** How `weights` names its tensors (default 'seqlayers'; see WeightNaming). */
  weightNaming?: WeightNaming;
  /** Runtime to build in (default: the one init() made). */
  runtime?: Runtime;
  /** Constants whose shapes some layers need at build time (e.g. cross-attention sources). */
  constants?: Constants;
}

const BUILD_OPTIONS = Object.keys({
  inputShape: true, inputDtype: true, seed: true, weights: true, weightNaming: true, runtime: true, constants: true,
} satisfies Record<keyof BuildOptions, true>);

/** Named tensors: a Map or record by parameter path, or what readSafetensors returns. */
export type WeightsSource = Map<string, Tensor> | Record<string, Tensor> | { tensors: Map<string, Tensor> };

/**
 * How tensors are named. 'seqlayers' (the default): Param.path, e.g. 'layers.0.kernel'. 'flax':
 * Param.flaxPath, the reference's flax variables flattened with '/' as
 * `flax.traverse_util.flatten_dict(variables, sep='/')` gives them (e.g.
 * 'params/layers_0/kernel', 'params/encoder/kernel' for a layer named 'encoder',
 * 'batch_stats/.../BatchNorm_0/mean'); when loading, a name without a collection is read as
 * under 'params', so `flatten_dict(variables['params'])` loads too.
 */
export type WeightNaming = 'seqlayers' | 'flax';
/** The namings loadWeights, getWeights and build take. */
export const WEIGHT_NAMINGS: readonly WeightNaming[] = ['seqlayers', 'flax'];

/** A parameter's name under `naming` (checked by checkNaming). */
const nameOf = (p: Param, naming: WeightNaming): string => (naming === 'flax' ? p.flaxPath : p.path);

/** When the given names look like the other naming's (flax paths hold '/', seqlayers paths '.'): a hint to switch. */
function namingHint(given: readonly string[], naming: WeightNaming): string {
  const flaxLike = given.filter((k) => k.includes('/')).length;
  if (naming === 'seqlayers' && flaxLike > given.length / 2) {
    return `; the tensors given are named like flax variables (${show(given[0])}): pass naming 'flax' (build: weightNaming: 'flax'; CLI: --weight-naming flax)`;
  }
  if (naming === 'flax' && given.length > 0 && flaxLike === 0 && given.some((k) => k.includes('.'))) {
    return `; the tensors given are named like seqlayers paths (${show(given[0])}): leave naming out`;
  }
  return given.length ? `; the tensors given are named ${show(given.slice(0, 4))}${given.length > 4 ? ', ...' : ''}` : '; no tensors were given';
}

function checkNaming(naming: unknown, where: string): WeightNaming {
  if (naming === undefined) return 'seqlayers';
  if (!WEIGHT_NAMINGS.includes(naming as WeightNaming)) {
    throw new SeqLayersError('BAD_ARGUMENT', `${where}: expected naming ${WEIGHT_NAMINGS.map((n) => show(n)).join(' or ')}, got ${show(naming)}`);
  }
  return naming as WeightNaming;
}

export interface RunOptions {
  constants?: Constants;
}

const RUN_OPTIONS = Object.keys({ constants: true } satisfies Record<keyof RunOptions, true>);
const LOAD_WEIGHTS_OPTIONS = ['allowExtra', 'naming'];

/** Destination buffers for stepInto: sized for exactly one block's output. */
export interface StepOutput {
  values: Float32Array | Int32Array;
  mask: Uint8Array;
}

let nextModelId = 1;

function whereOf(where: string, field: string): string {
  return `${where}${field.split('.').map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
}

/**
 * A child's module path in the reference's flax tree, relative to its parent's: `flaxName`, else
 * the field with a list index as flax numbers list items ('layers.0' -> 'layers_0'); a config
 * `name` replaces the last module name (flax names a module by its name when it has one).
 */
function flaxModuleName(config: LayerConfig, field: string, flaxName?: string): string {
  const path = flaxName ?? field.replace(/\.(\d+)$/, '_$1');
  return config.name ? path.replace(/[^/]*$/, config.name) : path;
}

function buildLayer(config: LayerConfig, rt: Runtime, path: string, flaxPath: string, where: string, input: ChannelSpec, constants?: Constants): Layer {
  // Layers size JS tables from their input's channel shape at build time: bound it first.
  const perStep = product(input.shape);
  if (!(perStep <= MAX_DIM)) {
    throw new SeqLayersError('BAD_CONFIG', `${where}: expected an input of at most ${MAX_DIM} values per step, got channel shape ${show(input.shape)} (${perStep} values)`);
  }
  const def = layerDef(config.type)!;
  return def.create(config as never, {
    rt, path, flaxPath, where, input, constants,
    child: (cfg, field, childInput, shareScope, flaxName) =>
      buildLayer(
        cfg, rt, shareScope ? path : joinPath(path, field), shareScope ? flaxPath : joinFlaxPath(flaxPath, flaxModuleName(cfg, field, flaxName)),
        whereOf(where, field), childInput, constants,
      ),
  });
}

/** Checks the options build and a worker's model share (input shape and dtype, seed, weight naming); `what` leads the message. */
export function checkModelOptions(opts: Pick<BuildOptions, 'inputShape' | 'inputDtype' | 'seed' | 'weightNaming'>, what: string): void {
  if (!isChannelShape(opts.inputShape)) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected inputShape to be a list of positive integers, got ${show(opts.inputShape)}`);
  }
  if (opts.inputDtype !== undefined && !SEQUENCE_DTYPES.includes(opts.inputDtype)) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected inputDtype ${SEQUENCE_DTYPES.map((d) => `'${d}'`).join(', ')}, got ${show(opts.inputDtype)}`);
  }
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected seed to be an integer, got ${show(opts.seed)}`);
  }
  checkNaming(opts.weightNaming, `${what}: weightNaming`);
}

/** Builds a model from a config (checked and normalised first) for an input channel shape. */
export function build(config: LayerConfig | object, opts: BuildOptions): Model {
  if (opts !== undefined) checkOptionKeys(opts, 'build', BUILD_OPTIONS);
  checkModelOptions(opts ?? {}, 'build');
  if (opts.runtime !== undefined && !(opts.runtime instanceof Runtime)) {
    throw new SeqLayersError('BAD_ARGUMENT', `build: expected runtime to be one from createRuntime(), got ${show(opts.runtime)}`);
  }
  const normalized = normalizeConfig(config);
  return new Model(normalized, opts);
}

/** Whether `shape` is a list of positive integers. */
function isChannelShape(shape: unknown): shape is number[] {
  if (!Array.isArray(shape)) return false;
  // A for loop, not every(): every() skips the holes of a sparse array ([, 4]).
  for (let i = 0; i < shape.length; i++) if (!(Number.isInteger(shape[i]) && shape[i] >= 1)) return false;
  return true;
}

/**
 * BAD_CONFIG when two parameters have one path: layers sharing their parent's scope (share_scope)
 * that declare the same names, or layers whose `name`s give them one flax path.
 */
function checkParamPaths(params: readonly Param[]): void {
  for (const naming of ['seqlayers', 'flax'] as const) {
    const seen = new Map<string, Param>();
    for (const p of params) {
      const name = nameOf(p, naming), first = seen.get(name);
      if (first) {
        throw new SeqLayersError('BAD_CONFIG', `${first.owner.where} and ${p.owner.where} both declare parameter ${show(name)}${naming === 'flax' ? ' by their flax names' : ''} (one scope holds each name once)`);
      }
      seen.set(name, p);
    }
  }
}

function preorder(l: Layer, out: Layer[] = []): Layer[] {
  out.push(l);
  for (const c of l.children) preorder(c, out);
  return out;
}

/** Marks a layer with a stepRefusal, and every layer holding one, as not steppable; returns whether l's subtree has one. */
function refuseSteps(l: Layer): boolean {
  const refused = l.children.map(refuseSteps).some(Boolean) || l.stepRefusal !== null;
  if (refused) l.supportsStep = false;
  return refused;
}

/** A built model: the root of a layer tree plus its parameters in WebAssembly memory. */
export class Model {
  readonly id = nextModelId++;
  readonly rt: Runtime;
  readonly root: Layer;
  readonly config: LayerConfig;
  readonly inputSpec: ChannelSpec;
  /** Identifies the architecture (config and input spec) in state snapshots. */
  readonly fingerprint: number;
  private readonly layers: Layer[];
  private readonly ctx: RunContext;
  /** The constants build() was given (checked), for outputShape() of another input shape. */
  private readonly buildConstants: Constants | undefined;
  /** Whether some layer checks its step inputs before any layer writes (Layer.validateStep). */
  private readonly validatesStep: boolean;
  /** Set during a call that uses `ctx` (layer, step, initialState). */
  private busy = false;
  private readonly xw: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };
  /** The views of WebAssembly memory that stepInto last copied its output from. */
  private readonly outViews: { f32: Float32Array | null; i32: Int32Array | null; mask: Uint8Array | null } = { f32: null, i32: null, mask: null };
  private disposed = false;

  constructor(config: LayerConfig, opts: BuildOptions) {
    this.rt = opts.runtime ?? getRuntime();
    this.config = config;
    this.inputSpec = { shape: Object.freeze([...opts.inputShape]), dtype: opts.inputDtype ?? 'float32' };
    this.buildConstants = opts.constants && checkConstants(opts.constants, 'build');
    this.root = buildLayer(config, this.rt, '', '', 'config', this.inputSpec, this.buildConstants);
    refuseSteps(this.root);
    this.layers = preorder(this.root);
    this.layers.forEach((l, i) => (l.slot = i));
    checkParamPaths(this.params());
    checkEmitKeys(this.layers);
    this.fingerprint = hashString(JSON.stringify([config, this.inputSpec]));
    this.ctx = new RunContext(this.rt);
    this.validatesStep = this.layers.some((l) => l.checksStep);
    this.allocate(opts.seed ?? 0, opts.weights, opts.weightNaming);
  }

  private allocate(seed: number, weights: WeightsSource | undefined, naming: WeightNaming | undefined): void {
    const params = this.params();
    const views = this.layers.flatMap((l) => l.params).filter((p) => p.viewOf);
    const derived = this.layers.flatMap((l) => l.derived);
    const total = params.reduce((s, p) => s + p.size * 4, 0) + derived.reduce((s, d) => s + d.bytes, 0);
    const heap = this.rt.heap;
    heap.checkBudget(total, "the model's parameters need");
    const allocated: number[] = [];
    try {
      for (const p of params) allocated.push((p.ptr = heap.alloc(p.size * 4, `parameter ${p.path}`)));
      for (const d of derived) allocated.push((d.ptr = heap.alloc(d.bytes, 'derived weights')));
    } catch (e) {
      for (const ptr of allocated) heap.release(ptr);
      throw e;
    }
    for (const v of views) v.ptr = v.viewOf!.param.ptr + 4 * v.viewOf!.offset;
    // A failed build frees what it took: weights that do not check, or a prepare() refused
    // (scratch over the memory budget).
    try {
      if (weights) {
        this.readWeights(weights, false, naming ?? 'seqlayers').forEach((values, i) => this.rt.f32.set(values, params[i]!.ptr >> 2));
      } else {
        for (const p of params) {
          const values = new Float32Array(p.size);
          p.init(values, seededRandom(hashString(`${seed}:${p.path}`)));
          this.rt.f32.set(values, p.ptr >> 2);
        }
      }
      for (const l of this.layers) l.prepare();
    } catch (e) {
      for (const ptr of allocated) heap.release(ptr);
      this.disposed = true;
      throw e;
    }
  }

  private live(): void {
    if (this.disposed) throw new SeqLayersError('DISPOSED', 'this model was disposed');
  }

  // Metadata, computed once at build time.
  get outputSpec(): ChannelSpec {
    return this.root.output;
  }
  get blockSize(): number {
    return this.root.blockSize;
  }
  get outputRatio(): Fraction {
    return this.root.outputRatio;
  }
  get inputLatency(): number {
    return this.root.inputLatency;
  }
  get outputLatency(): number {
    return this.root.outputLatency;
  }
  get supportsStep(): boolean {
    return this.root.supportsStep;
  }
  get receptiveFieldPerStep(): ReceptiveFieldPerStep {
    return this.root.receptiveFieldPerStep;
  }
  /** [start, end] of input steps an output step depends on (±Infinity allowed), or null. */
  get receptiveField(): ReceptiveField {
    return rfHull(this.root.receptiveFieldPerStep);
  }

  /**
   * Output channel shape for an input channel shape: another shape builds the layer tree for it
   * (with the build's constants; no parameters are allocated), so a config that does not fit it
   * is BAD_CONFIG.
   */
  outputShape(inputShape: readonly number[] = this.inputSpec.shape): readonly number[] {
    if (!isChannelShape(inputShape)) throw new SeqLayersError('BAD_ARGUMENT', `outputShape: expected a channel shape (a list of positive integers), got ${show(inputShape)}`);
    if (sameShape(inputShape, this.inputSpec.shape)) return this.root.output.shape;
    return buildLayer(this.config, this.rt, '', '', 'config', { shape: [...inputShape], dtype: this.inputSpec.dtype }, this.buildConstants).output.shape;
  }

  /**
   * A copy of the config, normalised (camelCase names, defaults filled in); build() accepts it
   * back, ±Infinity and a Lambda's function included. (JSON has no ±Infinity: JSON.stringify
   * writes null, which build() reads as the field's default.)
   */
  toConfig(): LayerConfig {
    return copyConfig(this.config);
  }

  /** All parameters in tree order (a stacked parameter once, not its slices). */
  params(): Param[] {
    return this.layers.flatMap((l) => l.params).filter((p) => !p.viewOf);
  }

  /** Marks a call that uses `ctx` as running; a second one meanwhile (from a Lambda's function) would overwrite it. */
  private enter(what: string): void {
    if (this.busy) {
      throw new SeqLayersError('BAD_ARGUMENT', `${what}: this model is in the middle of another call (a Lambda's function calling its own model?); a model runs one call at a time`);
    }
    this.busy = true;
  }

  private checkInput(x: Sequence, what: string): void {
    this.live();
    if (!(x instanceof Sequence)) throw new SeqLayersError('BAD_INPUT', `${what}: expected a Sequence, got ${show(x)}`);
    checkIntact(x, what, 'the input');
    if (x.dtype !== this.inputSpec.dtype || !channelsMatch(x.shape, this.inputSpec.shape)) {
      throw new SeqLayersError('BAD_INPUT', `${what}: expected ${showInput(this.inputSpec.shape)} ${this.inputSpec.dtype}, got ${show(x.shape)} ${x.dtype}`);
    }
  }

  /**
   * x copied into WebAssembly memory, its mask bytes checked there: layers count valid steps and
   * AND masks bitwise, so any byte but 0 and 1 would change results. Writes only arena scratch.
   */
  private inputToWasm(x: Sequence, what: string): WSeq {
    const xw = toWasm(this.rt, x, this.xw);
    const i = this.rt.k.mask_first_bad(x.mask.length, xw.mask);
    if (i >= 0) {
      throw new SeqLayersError('BAD_INPUT', `${what}: expected mask bytes of 0 (invalid) or 1 (valid), got ${x.mask[i]} at batch item ${Math.floor(i / x.time)}, step ${i % x.time}`);
    }
    return xw;
  }

  /** Whole-sequence processing. */
  layer(x: Sequence, opts?: RunOptions): Sequence {
    return this.run(x, opts, null).output;
  }

  /** layer() plus the emits of Emit layers, keyed by layer path. */
  layerWithEmits(x: Sequence, opts?: RunOptions): { output: Sequence; emits: Record<string, Sequence> } {
    return this.run(x, opts, {});
  }

  private run(x: Sequence, opts: RunOptions | undefined, emits: Record<string, Sequence> | null) {
    this.checkInput(x, 'layer');
    if (opts !== undefined) checkOptionKeys(opts, 'layer', RUN_OPTIONS);
    const rt = this.rt;
    this.enter('layer');
    rt.arena.begin();
    try {
      const ctx = this.ctx;
      ctx.state = null;
      ctx.constants = opts?.constants ? checkConstants(opts.constants, 'layer') : EMPTY;
      ctx.emits = emits;
      const y = this.root.runLayer(this.inputToWasm(x, 'layer'), ctx);
      return { output: fromWasm(rt, y, this.root.output), emits: emits ?? {} };
    } finally {
      this.ctx.emits = null;
      rt.arena.end();
      this.busy = false;
    }
  }

  /** A fresh streaming state for `batch` items. */
  initialState(batch: number, opts?: RunOptions): State {
    this.live();
    if (!Number.isInteger(batch) || batch < 1) throw new SeqLayersError('BAD_ARGUMENT', `initialState: expected a positive integer batch size, got ${show(batch)}`);
    if (opts !== undefined) checkOptionKeys(opts, 'initialState', RUN_OPTIONS);
    const rt = this.rt;
    this.enter('initialState');
    rt.arena.begin();
    try {
      this.ctx.constants = opts?.constants ? checkConstants(opts.constants, 'initialState') : EMPTY;
      return new State(this, batch, createStates(this.root, batch, this.ctx));
    } finally {
      rt.arena.end();
      this.busy = false;
    }
  }

  private checkStep(x: Sequence, state: State, what: string): void {
    this.checkInput(x, what);
    if (!this.root.supportsStep) {
      const refusal = this.layers.find((l) => l.stepRefusal);
      const why = refusal ? `: ${refusal.type} at ${refusal.where} cannot step: ${refusal.stepRefusal}` : '';
      throw new SeqLayersError('NOT_STEPPABLE', `${what}: this model cannot step (${this.root.type} at the root has supportsStep = false)${why}`);
    }
    if (x.time % this.root.blockSize !== 0) {
      throw new SeqLayersError('BAD_INPUT', `${what}: expected input time to be a multiple of blockSize=${this.root.blockSize}, got time=${x.time}`);
    }
    if (!(state instanceof State) || state.model !== this) {
      throw new SeqLayersError('BAD_STATE', `${what}: expected a state made by this model's initialState(), got ${state instanceof State ? `a state of model #${state.model.id}` : show(state)}`);
    }
    if (state.disposed) throw new SeqLayersError('DISPOSED', `${what}: this state was disposed`);
    state.checkIntact(what);
    if (state.batch !== x.batch) throw new SeqLayersError('BAD_STATE', `${what}: the state holds ${state.batch} batch items, the input has ${x.batch}`);
  }

  /** Processes one block (time a multiple of blockSize) and updates `state` in place. */
  step(x: Sequence, state: State, opts?: RunOptions): Sequence {
    return this.runStep(x, state, opts, null, null).output;
  }

  /** step() plus emits. */
  stepWithEmits(x: Sequence, state: State, opts?: RunOptions): { output: Sequence; emits: Record<string, Sequence> } {
    return this.runStep(x, state, opts, {}, null);
  }

  /**
   * step() writing the output into `out` instead of allocating: out.values holds
   * [batch, time * outputRatio, ...outputShape] and out.mask [batch, time * outputRatio].
   * Allocates nothing in steady state (for audio threads). Returns the output time.
   */
  stepInto(x: Sequence, state: State, out: StepOutput, opts?: RunOptions): number {
    this.checkStep(x, state, 'stepInto');
    const t = this.root.outputRatio.floorMul(x.time);
    const spec = this.root.output;
    const n = x.batch * t * product(spec.shape) * dtypeWidth(spec.dtype);
    const valuesType = spec.dtype === 'int32' ? Int32Array : Float32Array;
    if (!out || !(out.values instanceof valuesType) || out.values.length !== n || !(out.mask instanceof Uint8Array) || out.mask.length !== x.batch * t) {
      throw new SeqLayersError('BAD_ARGUMENT', `stepInto: expected out.values of ${n} ${spec.dtype === 'int32' ? 'int32' : 'float32'} and out.mask of ${x.batch * t} bytes, got ${show(out?.values)} and ${show(out?.mask)}`);
    }
    this.runStep(x, state, opts, null, out);
    return t;
  }

  private runStep(x: Sequence, state: State, opts: RunOptions | undefined, emits: Record<string, Sequence> | null, into: StepOutput | null) {
    if (!into) this.checkStep(x, state, 'step');
    if (opts !== undefined) checkOptionKeys(opts, into ? 'stepInto' : 'step', RUN_OPTIONS);
    const rt = this.rt;
    this.enter(into ? 'stepInto' : 'step');
    rt.arena.begin();
    try {
      const ctx = this.ctx;
      ctx.state = state;
      ctx.constants = opts?.constants ? checkConstants(opts.constants, into ? 'stepInto' : 'step') : EMPTY;
      ctx.emits = emits;
      // Every refusal a layer can foresee comes before the first state write.
      const xw = this.inputToWasm(x, into ? 'stepInto' : 'step');
      if (this.validatesStep) this.root.validateStep(x.batch, x.time, ctx);
      let y: WSeq;
      try {
        y = this.root.runStep(xw, ctx);
      } catch (e) {
        // Some layers may have advanced and others not: refuse the state from now on.
        state.interrupt(e instanceof Error ? e.message : String(e));
        throw e;
      }
      const want = this.root.outputRatio.floorMul(x.time);
      if (y.time !== want) throw new SeqLayersError('BAD_CONFIG', `${this.root.type}.step returned ${y.time} steps for ${x.time} inputs, expected ${want} (ratio ${this.root.outputRatio})`);
      if (into) {
        // Copied from views kept while the output lands at the same place (as it does step after
        // step): stepInto runs in audio render threads, where it must allocate nothing.
        const views = this.outViews, buffer = rt.memory.buffer;
        const values = into.values;
        if (values instanceof Int32Array) {
          views.i32 = sameView(views.i32, buffer, y.values, values.length) ?? new Int32Array(buffer, y.values, values.length);
          values.set(views.i32);
        } else {
          views.f32 = sameView(views.f32, buffer, y.values, values.length) ?? new Float32Array(buffer, y.values, values.length);
          values.set(views.f32);
        }
        views.mask = sameView(views.mask, buffer, y.mask, into.mask.length) ?? new Uint8Array(buffer, y.mask, into.mask.length);
        into.mask.set(views.mask);
        return NO_RESULT;
      }
      return { output: fromWasm(rt, y, this.root.output), emits: emits ?? {} };
    } finally {
      this.ctx.state = null;
      this.ctx.emits = null;
      rt.arena.end();
      this.busy = false;
    }
  }

  /**
   * Sets parameters from named tensors (e.g. readSafetensors(bytes).tensors), named as `naming`
   * says (default 'seqlayers'; 'flax' for the reference's parameter tree, see WeightNaming).
   * Strict: every parameter must be present with its exact shape, and unknown names are errors
   * unless `allowExtra`. Nothing is written unless everything checks, and a layer refused the
   * memory to pack the new weights (MEMORY_BUDGET) puts the previous ones back.
   */
  loadWeights(tensors: WeightsSource, opts: { allowExtra?: boolean; naming?: WeightNaming } = {}): void {
    this.live();
    checkOptionKeys(opts, 'loadWeights', LOAD_WEIGHTS_OPTIONS);
    const values = this.readWeights(tensors, Boolean(opts.allowExtra), checkNaming(opts.naming, 'loadWeights'));
    // prepare() may be refused (scratch over the memory budget) after some layers packed the new
    // parameters: then the previous parameters and everything derived from them come back.
    // Not during a call on this model (a Lambda's function): that call reads the weights.
    this.enter('loadWeights');
    const params = this.params();
    const buffers = [...params.map((p) => ({ ptr: p.ptr, bytes: p.size * 4 })), ...this.layers.flatMap((l) => l.derived)];
    const previous = buffers.map((b) => this.rt.u8.slice(b.ptr, b.ptr + b.bytes));
    try {
      params.forEach((p, i) => this.rt.f32.set(values[i]!, p.ptr >> 2));
      for (const l of this.layers) l.prepare();
    } catch (e) {
      buffers.forEach((b, i) => this.rt.u8.set(previous[i]!, b.ptr));
      throw e;
    } finally {
      this.busy = false;
    }
  }

  /** The parameters' values from named tensors, in params() order, once every check passed (loadWeights). */
  private readWeights(tensors: WeightsSource, allowExtra: boolean, naming: WeightNaming): Float32Array[] {
    if (typeof tensors !== 'object' || tensors === null || ArrayBuffer.isView(tensors) || tensors instanceof ArrayBuffer) {
      const bytes = typeof tensors === 'object' && tensors !== null ? ': read the bytes of a .safetensors file with readSafetensors(bytes) first' : '';
      throw new SeqLayersError('BAD_WEIGHTS', `loadWeights: expected named tensors (a Map or record of {dtype, shape, data}, or readSafetensors' result), got ${show(tensors)}${bytes}`);
    }
    const given = tensors instanceof Map ? tensors : 'tensors' in tensors && tensors.tensors instanceof Map ? tensors.tensors : new Map(Object.entries(tensors as Record<string, Tensor>));
    const map = naming === 'flax' ? new Map([...given].map(([k, t]) => [/^(params|batch_stats)\//.test(k) ? k : `params/${k}`, t])) : given;
    const params = this.params();
    const name = (p: Param) => nameOf(p, naming);
    const missing = params.filter((p) => !map.has(name(p))).map(name);
    if (missing.length) {
      throw new SeqLayersError(
        'BAD_WEIGHTS',
        `missing parameters ${show(missing.slice(0, 8))}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}` +
          (missing.length === params.length ? ' (all of them)' : `; this model's parameters are ${show(params.slice(0, 8).map(name))}${params.length > 8 ? ', ...' : ''}`) +
          namingHint([...given.keys()], naming),
      );
    }
    const known = new Set(params.map(name));
    const extra = [...map.keys()].filter((k) => !known.has(k));
    if (extra.length && !allowExtra) {
      throw new SeqLayersError('BAD_WEIGHTS', `unexpected tensors ${show(extra.slice(0, 8))}${extra.length > 8 ? ` and ${extra.length - 8} more` : ''} (pass { allowExtra: true } to ignore them)`);
    }
    return params.map((p) => {
      const t = map.get(name(p))!;
      if (typeof t !== 'object' || t === null || ArrayBuffer.isView(t) || Array.isArray(t)) {
        throw new SeqLayersError('BAD_WEIGHTS', `parameter ${show(p.path)}: expected a tensor { dtype, shape, data }, got ${show(t)}`);
      }
      if (!Array.isArray(t.shape) || !sameShape(t.shape, p.shape)) {
        throw new SeqLayersError('BAD_WEIGHTS', `parameter ${show(p.path)}: expected shape ${show(p.shape)}, got ${show(t.shape)}`);
      }
      const dataType = FLOAT_DATA[t.dtype as keyof typeof FLOAT_DATA];
      if (!dataType) {
        throw new SeqLayersError('BAD_WEIGHTS', `parameter ${show(p.path)}: expected a float tensor (F32, F16, BF16 or F64), got ${show(t.dtype)}`);
      }
      if (!(t.data instanceof dataType)) {
        throw new SeqLayersError('BAD_WEIGHTS', `parameter ${show(p.path)}: expected the data of a ${t.dtype} tensor as a ${dataType.name}, got ${show(t.data)}`);
      }
      const v = toFloat32(t);
      if (v.length !== p.size) throw new SeqLayersError('BAD_WEIGHTS', `parameter ${show(p.path)}: expected ${p.size} values, got ${v.length}`);
      return v;
    });
  }

  /** Copies of every parameter as F32 tensors keyed by path, or by flax path with naming 'flax' (for writeSafetensors). */
  getWeights(opts: { naming?: WeightNaming } = {}): Record<string, Tensor> {
    this.live();
    checkOptionKeys(opts, 'getWeights', ['naming']);
    const naming = checkNaming(opts.naming, 'getWeights');
    const out: Record<string, Tensor> = {};
    for (const p of this.params()) out[nameOf(p, naming)] = { dtype: 'F32', shape: [...p.shape], data: p.view().slice() };
    return out;
  }

  /** Restores a state from State.toBytes() (this model's architecture and any batch size it recorded). */
  restoreState(bytes: Uint8Array | ArrayBuffer): State {
    this.live();
    return decodeState(this, bytes);
  }

  /**
   * Frees the parameters. States of this model can no longer step. Refused (BAD_ARGUMENT)
   * during a call on the model, e.g. from a Lambda's function: the call still uses them.
   */
  dispose(): void {
    if (this.disposed) return;
    if (this.busy) {
      throw new SeqLayersError('BAD_ARGUMENT', "dispose: this model is in the middle of a call (a Lambda's function disposing its own model?); dispose it after the call returns");
    }
    this.disposed = true;
    for (const p of this.params()) this.rt.heap.release(p.ptr);
    for (const d of this.layers.flatMap((l) => l.derived)) this.rt.heap.release(d.ptr);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether a step on `state` is running now (State.dispose refuses then). */
  isStepping(state: State): boolean {
    return this.busy && this.ctx.state === state;
  }
}

/** shape is [batch, time, ...channels] (compared without allocating: stepInto checks it per call). */
function channelsMatch(shape: readonly number[], channels: readonly number[]): boolean {
  if (shape.length !== channels.length + 2) return false;
  for (let i = 0; i < channels.length; i++) if (shape[i + 2] !== channels[i]) return false;
  return true;
}

const EMPTY: Constants = Object.freeze({});
/** The typed array holding each float dtype loadWeights takes (F16 and BF16 as raw bits, as readSafetensors gives them). */
const FLOAT_DATA = { F32: Float32Array, F64: Float64Array, F16: Uint16Array, BF16: Uint16Array } as const;
/** `view` if it still shows `length` elements at `byteOffset` of `buffer`, else null. */
function sameView<T extends Float32Array | Int32Array | Uint8Array>(view: T | null, buffer: ArrayBufferLike, byteOffset: number, length: number): T | null {
  return view && view.buffer === buffer && view.byteOffset === byteOffset && view.length === length ? view : null;
}

const NO_RESULT = { output: null as unknown as Sequence, emits: EMPTY as Record<string, Sequence> };

/** A model's streaming state: conv buffers, caches, recurrent states, in WebAssembly memory. */
export class State {
  private released = false;
  private interruption: string | null = null;
  constructor(
    readonly model: Model,
    readonly batch: number,
    /** Buffers per layer, indexed by the layer's slot. */
    readonly slots: StateBuffer[][],
  ) {}

  /** Whether dispose() freed the buffers. */
  get disposed(): boolean {
    return this.released;
  }

  /**
   * The message of an error that escaped a step after its layers had begun writing (a Lambda
   * that threw, scratch memory over the budget): some layers advanced and others did not, so
   * the state refuses every further use. null while intact.
   */
  get interrupted(): string | null {
    return this.interruption;
  }

  /** @internal Marks the state interrupted by an error that escaped a step (see `interrupted`). */
  interrupt(message: string): void {
    this.interruption = message;
  }

  private live(what: string): void {
    if (this.disposed) throw new SeqLayersError('DISPOSED', 'this state was disposed');
    if (this.model.isDisposed) throw new SeqLayersError('DISPOSED', 'the model of this state was disposed');
    this.checkIntact(what);
  }

  /** BAD_STATE when an error interrupted a step on this state (see `interrupted`). */
  checkIntact(what: string): void {
    if (this.interruption !== null) {
      throw new SeqLayersError(
        'BAD_STATE',
        `${what}: an error interrupted an earlier step on this state (${this.interruption}), so its layers may be at different steps; ` +
          'continue from a snapshot taken before it (restoreState) or from a new state (initialState)',
      );
    }
  }

  /** An independent copy (same model and batch). */
  clone(): State {
    this.live('clone');
    const { heap, k } = this.model.rt;
    heap.checkBudget(this.bytes, `a copy of a state of ${this.batch} items needs`);
    const copy: StateBuffer[][] = [];
    try {
      this.slots.forEach((bufs, i) => {
        copy[i] = [];
        for (const b of bufs) copy[i]!.push({ ...b, ptr: heap.alloc(b.bytes, `state ${b.name}`) });
      });
    } catch (e) {
      releaseStates(this.model.rt, copy);
      throw e;
    }
    copy.forEach((bufs, i) => bufs.forEach((b, j) => k.mem_copy(b.ptr, this.slots[i]![j]!.ptr, b.bytes)));
    return new State(this.model, this.batch, copy);
  }

  /**
   * Returns the buffers to the allocator (also after the model was disposed: they belong to the
   * runtime's heap, not to the model). Using the state afterwards is a DISPOSED error. Refused
   * (BAD_ARGUMENT) during a step on the state, e.g. from a Lambda's function: the step still
   * writes them.
   */
  dispose(): void {
    if (this.released) return;
    if (this.model.isStepping(this)) {
      throw new SeqLayersError('BAD_ARGUMENT', "dispose: a step on this state is running (a Lambda's function disposing the state it steps?); dispose it after the step returns");
    }
    this.released = true;
    releaseStates(this.model.rt, this.slots);
  }

  /** Total bytes of state buffers. */
  get bytes(): number {
    return this.slots.reduce((s, bufs) => s + bufs.reduce((a, b) => a + b.bytes, 0), 0);
  }

  /**
   * A snapshot: magic "SLST", format version, the model's fingerprint, batch size, each buffer's
   * name, dtype, shape and bytes, and a CRC-32 of everything before it.
   */
  toBytes(): Uint8Array {
    this.live('toBytes');
    return encodeState(this);
  }
}

const MAGIC = 0x54534c53; // "SLST" little-endian
const VERSION = 1;
const DTYPES = ['float32', 'int32', 'uint8'] as const;

function encodeState(s: State): Uint8Array {
  const bufs = s.slots.flatMap((b, slot) => b.map((buf) => ({ slot, buf })));
  const names = bufs.map(({ buf }) => buf.name);
  let size = 4 * 5;
  for (const { buf } of bufs) size += 4 * 4 + 2 * buf.name.length + 4 * buf.shape.length + buf.bytes + ((4 - (buf.bytes % 4)) % 4);
  size += 4;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  const u32 = (v: number) => {
    dv.setUint32(p, v >>> 0, true);
    p += 4;
  };
  u32(MAGIC);
  u32(VERSION);
  u32(s.model.fingerprint);
  u32(s.batch);
  u32(bufs.length);
  const mem = s.model.rt.u8;
  bufs.forEach(({ slot, buf }, i) => {
    u32(slot);
    u32(DTYPES.indexOf(buf.dtype));
    u32(names[i]!.length);
    for (let c = 0; c < buf.name.length; c++) {
      dv.setUint16(p, buf.name.charCodeAt(c), true);
      p += 2;
    }
    u32(buf.shape.length);
    for (const d of buf.shape) u32(d);
    out.set(mem.subarray(buf.ptr, buf.ptr + buf.bytes), p);
    p += buf.bytes + ((4 - (buf.bytes % 4)) % 4);
  });
  u32(crc32(out.subarray(0, p)));
  return out;
}

function decodeState(model: Model, input: Uint8Array | ArrayBuffer): State {
  const bad = (msg: string) => new SeqLayersError('BAD_SNAPSHOT', `restoreState: ${msg}`);
  const bytes = asBytes(input);
  if (!bytes) throw bad(`expected the Uint8Array (or its ArrayBuffer) from State.toBytes(), got ${show(input)}`);
  if (bytes.length < 24) throw bad(`expected at least 24 bytes, got ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const truncated = (what: string, n: number) => bad(`truncated snapshot: ${what} needs ${n} bytes at byte ${p}, the snapshot has ${Math.max(bytes.length - 4 - p, 0)} before its checksum`);
  const u32 = () => {
    if (p + 4 > bytes.length) throw truncated('a field', 4);
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  if (u32() !== MAGIC) throw bad('not a seqlayers state snapshot (bad magic)');
  const version = u32();
  if (version !== VERSION) throw bad(`snapshot format version ${version} is not supported (expected ${VERSION})`);
  const stored = dv.getUint32(bytes.length - 4, true);
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== stored) throw bad('checksum mismatch: the snapshot is corrupted or truncated');
  const fp = u32();
  if (fp !== model.fingerprint) throw bad(`the snapshot belongs to another model (fingerprint ${fp.toString(16)}, this model ${model.fingerprint.toString(16)})`);
  const batch = u32();
  // Before allocating: a new state of that batch must fit in the snapshot (buffers only grow).
  if (batch < 1 || batch > MAX_SEQUENCE_VALUES) throw bad(`expected a batch of 1 to ${MAX_SEQUENCE_VALUES} items, got ${batch}`);
  const least = initialStateBytes(model.root, batch);
  if (least > bytes.length) throw bad(`a state of ${batch} items holds at least ${least} bytes, the snapshot only ${bytes.length}`);
  const state = model.initialState(batch);
  try {
    const expected = state.slots.flatMap((b) => b);
    const count = u32();
    if (count !== expected.length) throw bad(`expected ${expected.length} state buffers, got ${count}`);
    const mem = () => model.rt.u8;
    for (let i = 0; i < count; i++) {
      const slot = u32();
      const dtype = DTYPES[u32()];
      const nameLen = u32();
      if (p + 2 * nameLen > bytes.length - 4) throw truncated(`the name of buffer ${i}`, 2 * nameLen);
      let name = '';
      for (let c = 0; c < nameLen; c++) name += String.fromCharCode(dv.getUint16(p + 2 * c, true));
      p += 2 * nameLen;
      const rank = u32();
      if (rank > 16) throw bad(`buffer ${show(name)}: expected a rank of at most 16, got ${rank}`);
      const shape = Array.from({ length: rank }, u32);
      const buf = state.slots[slot]?.find((b) => b.name === name);
      if (!buf || buf.dtype !== dtype) throw bad(`unexpected buffer ${show(name)} (${dtype}) for layer slot ${slot}`);
      const n = product(shape) * stateElementBytes(buf.dtype);
      if (p + n > bytes.length - 4) throw truncated(`buffer ${show(name)} ${show(shape)}`, n);
      if (!sameShape(shape, buf.shape)) {
        // A growable buffer (a grown KV cache) comes back at its snapshot shape; only its time
        // axis (axis 1) may differ, and every growable buffer of the layer must agree on it, so
        // the layer's kernels see a consistent cache. Buffers only grow, so none is shorter than
        // in a new state (a KV cache of length 0 would never grow: it doubles).
        if (!buf.growable || shape.length !== buf.shape.length || shape.some((d, k) => k !== 1 && d !== buf.shape[k])) {
          throw bad(`buffer ${show(name)}: expected shape ${show(buf.shape)}, got ${show(shape)}`);
        }
        if (shape[1]! < buf.shape[1]!) {
          throw bad(`buffer ${show(name)}: expected a length (axis 1) of at least ${buf.shape[1]}, its length in a new state (it only grows), got ${show(shape)}`);
        }
        const ptr = model.rt.heap.alloc(n, `state ${name}`);
        model.rt.heap.release(buf.ptr);
        Object.assign(buf, { ptr, shape, bytes: n });
      }
      if (buf.min !== undefined) {
        for (let at = p; at < p + n; at += 4) {
          const v = dv.getInt32(at, true);
          if (v < buf.min) throw bad(`buffer ${show(name)} holds ${v}, below its smallest valid value ${buf.min}`);
        }
      }
      mem().set(bytes.subarray(p, p + n), buf.ptr);
      p += n + ((4 - (n % 4)) % 4);
    }
    if (p !== bytes.length - 4) throw bad(`expected the checksum right after the last buffer (byte ${p}), got ${bytes.length - 4 - p} more bytes before it`);
    for (const bufs of state.slots) {
      const lengths = new Set(bufs.filter((b) => b.growable).map((b) => b.shape[1]));
      if (lengths.size > 1) throw bad(`the growable buffers ${show(bufs.filter((b) => b.growable).map((b) => b.name))} disagree on their length: ${show([...lengths])}`);
    }
    return state;
  } catch (e) {
    state.dispose();
    throw e;
  }
}
