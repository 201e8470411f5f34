// Declarative configs: plain JSON data ⇄ layer trees.
//
// Every layer type registers a LayerDef: its reference name, a field schema and a factory.
// Configs are checked against the schema with paths in messages (`layers[2].kernel_size`).
// Field names are camelCase in TypeScript; the reference's snake_case spelling is accepted too.
import { SeqLayersError, show } from './errors.js';
import { Layer, type BuildContext } from './layer.js';

/** A layer config: `{ type: 'Conv1D', filters: 64, ... }`, nested configs for combinators. */
export interface LayerConfig {
  type: string;
  name?: string;
  [field: string]: unknown;
}

/** One config field: how to check a raw JSON value, and its default. */
export interface Field<T, Optional extends boolean = boolean> {
  readonly optional: Optional;
  readonly defaultValue?: T;
  /** What the field accepts, for messages ("an integer >= 1"). */
  readonly expects: string;
  /** Returns the checked value or undefined when it does not fit. Nested layer configs are parsed here. */
  readonly check: (v: unknown, path: string) => T | undefined;
}

class FieldImpl<T, O extends boolean> implements Field<T, O> {
  constructor(
    readonly expects: string,
    readonly check: (v: unknown, path: string) => T | undefined,
    readonly optional: O,
    readonly defaultValue?: T,
  ) {}
  /** The field may be omitted; it then takes `value`. */
  default(value: T): FieldImpl<T, true> {
    return new FieldImpl(this.expects, this.check, true, value);
  }
  /** The field may be omitted or null; it then stays undefined. */
  opt(): FieldImpl<T | undefined, true> {
    return new FieldImpl<T | undefined, true>(`${this.expects} or null`, (v, p) => (v === null ? undefined : this.check(v, p)), true);
  }
}

/** Whether a and b are the same JSON data (object keys in any order). */
function sameJSON(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJSON((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const range = (min?: number, max?: number) =>
  min !== undefined && max !== undefined ? ` in [${min}, ${max}]` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
/** Largest size any dimension may have: keeps absurd configs an error instead of an OOM. */
export const MAX_DIM = 1 << 24;
/** Most axes an array may have (numpy's limit): .npy, JSON and ONNX tensors read by the library and the CLI. */
export const MAX_RANK = 32;

/** Field constructors. */
export const f = {
  int: (min?: number, max: number = MAX_DIM) =>
    new FieldImpl<number, false>(`an integer${range(min, max)}`, (v) => (isInt(v) && (min === undefined || v >= min) && v <= max ? v : undefined), false),
  num: (min?: number, max?: number) =>
    new FieldImpl<number, false>(`a number${range(min, max)}`, (v) =>
      typeof v === 'number' && !Number.isNaN(v) && (min === undefined || v >= min) && (max === undefined || v <= max) ? v : undefined, false),
  bool: () => new FieldImpl<boolean, false>('true or false', (v) => (typeof v === 'boolean' ? v : undefined), false),
  /** A string; `nonEmpty` refuses '' (names the reference requires, such as source_name). */
  str: ({ nonEmpty = false } = {}) =>
    new FieldImpl<string, false>(nonEmpty ? 'a non-empty string' : 'a string', (v) => (typeof v === 'string' && !(nonEmpty && v === '') ? v : undefined), false),
  oneOf: <const V extends string>(values: readonly V[]) =>
    new FieldImpl<V, false>(`one of ${values.map((s) => JSON.stringify(s)).join(', ')}`, (v) => (values.includes(v as V) ? (v as V) : undefined), false),
  /** An integer, or a list of `n` integers (per-axis sizes such as [time, space]). */
  ints: (n: number, min?: number) =>
    new FieldImpl<number[], false>(`an integer${range(min)} or a list of ${n}`, (v) => {
      const a = isInt(v) ? Array(n).fill(v) : Array.isArray(v) && v.length === n ? v : undefined;
      return a && a.every((x) => isInt(x) && (min === undefined || x >= min) && x <= MAX_DIM) ? (a as number[]) : undefined;
    }, false),
  /** A list of integers (a shape, axes). */
  intList: (min?: number) =>
    new FieldImpl<number[], false>(`a list of integers${range(min)}`, (v) =>
      Array.isArray(v) && v.every((x) => isInt(x) && (min === undefined || x >= min) && Math.abs(x) <= MAX_DIM) ? (v as number[]) : undefined, false),
  numList: () =>
    new FieldImpl<number[], false>('a list of numbers', (v) => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined), false),
  /** A value checked by `check` (undefined = rejected). */
  custom: <T>(expects: string, check: (v: unknown) => T | undefined) => new FieldImpl<T, false>(expects, check, false),
  /** Any JSON value, checked by the layer itself. */
  any: <T = unknown>(expects = 'a value') => new FieldImpl<T, false>(expects, (v) => v as T, false),
  /**
   * A reference field we support only at `values` (JSON data): its reference default, and any
   * value that means the same here. Reference JSON that spells it out then loads unchanged. It
   * may be omitted (it is not filled in) and null is dropped like an omitted field; any other
   * value is a BAD_CONFIG error: "<path>: only <values> is supported (<why>), got <value>".
   */
  only: <const V>(values: readonly V[], why: string) => {
    const list = values.map(show).join(' or ');
    return new FieldImpl<V | undefined, true>(`${list} (${why})`, (v, p) => {
      if (!values.some((x) => sameJSON(x, v))) throw new SeqLayersError('BAD_CONFIG', `${p}: only ${list} is supported (${why}), got ${show(v)}`);
      return v === null ? undefined : (v as V);
    }, true);
  },
  /**
   * A small config object `{"type": <kind>, ...fields}` that is not a layer (the reference's
   * nested dataclass configs: input projections, relative positions, kernel constraints).
   * Fields are checked like layer fields (camelCase or snake_case, defaults filled in); errors
   * name the path, e.g. `config.input_projection.share_kv_projection`.
   */
  subConfig: <T extends { type: string }>(kinds: Readonly<Record<string, Fields>>) => {
    const names = Object.keys(kinds).map((k) => JSON.stringify(k)).join(', ');
    return new FieldImpl<T, false>(`a config object {"type": one of ${names}, ...}`, (raw: unknown, path = 'config') => {
      const bad = (where: string, msg: string) => new SeqLayersError('BAD_CONFIG', `${where}: ${msg}`);
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
      const obj = raw as Record<string, unknown>;
      const type = obj.type;
      if (typeof type !== 'string' || !Object.hasOwn(kinds, type)) throw bad(`${path}.type`, `expected one of ${names}, got ${show(type)}`);
      const fields = kinds[type]!;
      const out: Record<string, unknown> = { type };
      const seen = new Map<string, string>();
      for (const [key, value] of Object.entries(obj)) {
        if (key === 'type') continue;
        const name = camel(key);
        const field: Field<unknown> | undefined = Object.hasOwn(fields, name) ? fields[name] : undefined;
        if (!field) throw bad(`${path}.${key}`, `${type} has no field ${show(key)}. Its fields: ${Object.keys(fields).map(snake).join(', ') || '(none)'}`);
        if (seen.has(name)) throw bad(`${path}.${key}`, `field given twice (${show(seen.get(name))} and ${show(key)})`);
        seen.set(name, key);
        if (value === undefined) continue;
        // As layer fields: null is checked too (a field supported only at other values refuses
        // it), then stands for an omitted optional field.
        const checked = field.check(value, `${path}.${key}`);
        if (checked === undefined && value !== null) throw bad(`${path}.${key}`, `expected ${field.expects}, got ${show(value)}`);
        if (value === null && !field.optional) throw bad(`${path}.${key}`, `expected ${field.expects}, got null`);
        if (checked !== undefined) out[name] = checked;
      }
      for (const [name, field] of Object.entries(fields)) {
        if (name in out) continue;
        if (!field.optional) throw bad(path, `${type} needs field ${show(snake(name))} (${field.expects})`);
        if (field.defaultValue !== undefined) out[name] = field.defaultValue;
      }
      return out as T;
    }, false);
  },
  /** A nested layer config. */
  layer: () => new FieldImpl<LayerConfig, false>('a layer config', (v, p) => normalizeConfig(v, p), false),
  /** A list of nested layer configs. */
  layers: () =>
    new FieldImpl<LayerConfig[], false>('a list of layer configs', (v, p) =>
      Array.isArray(v) ? v.map((c, i) => normalizeConfig(c, `${p}[${i}]`)) : undefined, false),
};

/** jax.lax.Precision's names and the aliases it accepts, for precision fields. */
const PRECISIONS = ['default', 'high', 'highest', 'fastest', 'bfloat16', 'bfloat16_3x', 'tensorfloat32', 'float32'];
const isPrecision = (v: unknown) => typeof v === 'string' && PRECISIONS.includes(v.toLowerCase());
/** One dimension of a sharding: a mesh axis name, a list of them, or null (not split). */
const isDimSharding = (v: unknown) => v === null || typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'));

/**
 * Fields of the reference's configs that concern training or JAX rather than what a layer
 * computes, shared by every layer whose reference Config has them, so reference JSON that
 * spells them out loads unchanged. A layer declares each one it has under the reference's name
 * (`kernelInit: ref.init()`).
 */
export const ref = {
  /**
   * An initializer (kernel_init, bias_init, ...): only null, standing for the reference's
   * default. Flax initializers have no JSON form, and here they would only change the random
   * weights of an untrained model (ours are seeded; see initializers.ts).
   */
  init: () => f.only([null], 'initializers are not configurable here: load trained weights'),
  /**
   * A sharding annotation (kernel_sharding, ...): how JAX splits a tensor over devices. Any
   * value is accepted and has no effect here: everything runs on one device, with the same
   * results.
   */
  sharding: () =>
    f.custom<unknown[]>('a sharding: a list with, per dimension, a mesh axis name, a list of them or null', (v) =>
      Array.isArray(v) && v.every(isDimSharding) ? v : undefined).opt(),
  /** param_dtype: only "float32", the reference's default (parameters are float32 here). */
  paramDtype: () => f.only(['float32'], 'parameters are float32 here'),
  /** compute_dtype: null (the reference's default: the input's dtype) or "float32" (layers compute in float32 here). */
  computeDtype: () => f.only([null, 'float32'], 'layers compute in float32 here'),
  /**
   * precision (jax.lax.Precision for einsums): any value is accepted and has no effect here:
   * products are always float32 with float32 sums, as the reference computes on CPU with any
   * precision and on accelerators with "highest".
   */
  precision: () =>
    f.custom<string | string[]>(`a jax.lax.Precision name (${PRECISIONS.join(', ')}) or a list of two`, (v) =>
      isPrecision(v) || (Array.isArray(v) && v.length === 2 && v.every(isPrecision)) ? (v as string | string[]) : undefined).opt(),
  /**
   * einsum_factory: only null, the reference's default. Otherwise a Python callable returning
   * the einsum to use instead of jnp.einsum (e.g. for quantisation-aware training); not
   * implemented, and it has no JSON form.
   */
  einsumFactory: () => f.only([null], 'custom einsum implementations are not implemented'),
  /**
   * quantization_provider: only null, the reference's default. Otherwise a Python object that
   * creates quantised weights and their einsum; not implemented (weight_storage 'int8' is this
   * port's own int8 kernel storage).
   */
  quantizationProvider: () => f.only([null], "quantization providers are not implemented; weight_storage 'int8' is"),
};

export type Fields = Record<string, Field<any, boolean>>;
type ValueOf<F> = F extends Field<infer T, boolean> ? T : never;
/** The TypeScript type of a config with fields F (optional fields may be omitted). */
export type ConfigOf<F extends Fields> = { [K in keyof F as F[K] extends Field<any, false> ? K : never]: ValueOf<F[K]> } & {
  [K in keyof F as F[K] extends Field<any, false> ? never : K]?: ValueOf<F[K]>;
} & { name?: string };
/** The config a layer receives: every field present, defaults filled in. */
export type Resolved<F extends Fields> = { [K in keyof F]: ValueOf<F[K]> } & { type: string; name?: string };

export interface LayerDef<F extends Fields = Fields> {
  /** The reference's layer name, e.g. 'Conv1D'. */
  readonly type: string;
  readonly fields: F;
  readonly create: (config: Resolved<F>, ctx: BuildContext) => Layer;
  /**
   * Whether this config can store its kernel as int8 (a layer with the weightStorage field; by
   * default every config can): withWeightStorage(config, 'int8') leaves the others as they are.
   */
  readonly storesInt8?: (config: Resolved<F>) => boolean;
}

const registry = new Map<string, LayerDef>();

/**
 * Registers layer types, so configs can name them. Each definition is checked first (a
 * non-empty `type` not registered yet, `fields` made with `f`, a `create` function); a refused
 * list registers none of its definitions (BAD_ARGUMENT naming the definition and what is wrong).
 */
export function registerLayers(defs: readonly LayerDef<any>[]): void {
  const bad = (msg: string) => new SeqLayersError('BAD_ARGUMENT', `registerLayers: ${msg}`);
  if (!Array.isArray(defs)) throw bad(`expected a list of layer definitions (from defineLayer), got ${show(defs)}`);
  const types = new Set<string>();
  defs.forEach((d: unknown, i) => {
    const at = `defs[${i}]`;
    if (d === null || typeof d !== 'object') throw bad(`${at}: expected a layer definition { type, fields, create }, got ${show(d)}`);
    const { type, fields, create, storesInt8 } = d as Partial<Record<keyof LayerDef, unknown>>;
    if (typeof type !== 'string' || type === '') throw bad(`${at}.type: expected a non-empty string (the layer type's name), got ${show(type)}`);
    if (registry.has(type) || types.has(type)) throw bad(`${at}.type: layer type ${show(type)} is already registered (a built-in type or an earlier registration): pick another name`);
    types.add(type);
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw bad(`${at}.fields: expected an object of fields made with f (e.g. { units: f.int(1) }), got ${show(fields)}`);
    for (const [name, field] of Object.entries(fields)) {
      const { check, expects } = (field ?? {}) as Partial<Field<unknown>>;
      if (typeof check !== 'function' || typeof expects !== 'string') throw bad(`${at}.fields.${name}: expected a field made with f (e.g. f.int(1)), got ${show(field)}`);
    }
    if (typeof create !== 'function') throw bad(`${at}.create: expected a function (config, ctx) => Layer, got ${show(create)}`);
    if (storesInt8 !== undefined && typeof storesInt8 !== 'function') throw bad(`${at}.storesInt8: expected a function (config) => boolean, got ${show(storesInt8)}`);
  });
  for (const d of defs) registry.set(d.type, { ...d, create: (config, ctx) => checkLayer(d.create(config, ctx), d.type, ctx.where) } as LayerDef);
}

/** What a definition's create returned, if it is a Layer (else BAD_CONFIG at build, naming the type). */
function checkLayer(layer: unknown, type: string, where: string): Layer {
  if (layer instanceof Layer) return layer;
  throw new SeqLayersError('BAD_CONFIG', `${where}: the create() of layer type ${show(type)} returned ${show(layer)}, expected a Layer (an instance of a Layer subclass)`);
}

export function layerDef(type: string): LayerDef | undefined {
  return registry.get(type);
}

export function registeredTypes(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Declares a layer type: returns `def` unchanged, with its config type inferred from `fields`
 * (what `create` receives). Pass it to registerLayers, and to builder for a config builder.
 */
export function defineLayer<F extends Fields>(def: LayerDef<F>): LayerDef<F> {
  return def;
}

/**
 * The config builder of a layer type, as every built-in layer has (`Conv1D({ filters: 8,
 * kernelSize: 3 })`): it returns `{ type, ...config }`, typed by the definition's fields
 * (checked when the config is built). For a layer of your own:
 *
 * ```ts
 * class GainLayer extends sl.Layer { ... }
 * const GainDef = sl.defineLayer({ type: 'Gain', fields: { gain: sl.f.num().default(1) }, create: (c, ctx) => new GainLayer(c, ctx) });
 * sl.registerLayers([GainDef]);
 * const Gain = sl.builder(GainDef);
 * sl.build(sl.Serial([Gain({ gain: 2 }), sl.Dense({ features: 4 })]), { inputShape: [3] });
 * ```
 */
export function builder<F extends Fields>(def: LayerDef<F>): {} extends ConfigOf<F>
  ? (config?: ConfigOf<F>) => LayerConfig
  : (config: ConfigOf<F>) => LayerConfig {
  return ((config: object = {}) => ({ type: def.type, ...config })) as never;
}

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const MAX_DEPTH = 64;
let depth = 0; // nesting of normalizeConfig calls: nested layer fields call it back
/** Deepest nesting of objects and lists in a raw config (a nested layer config takes two levels or more). */
const MAX_VALUE_DEPTH = 4 * MAX_DEPTH;
/** Most objects and lists a raw config may hold, a shared one counted once per place it is used. */
const MAX_VALUE_NODES = 100_000;

/** The option nearest to `name` by edit distance (case and underscores ignored), if close. */
function closest(name: string, options: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '');
  const a = norm(name);
  if (a.length > 64) return undefined; // no name is this long; the distance table would be huge
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(a.length / 3)) + 1;
  for (const o of options) {
    const d = editDistance(a, norm(o));
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best;
}

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Checks an options object at the public API: BAD_ARGUMENT unless `opts` is an object whose own
 * keys are all `allowed`, naming the first other key, the allowed one it is closest to, and all
 * of them. Allocates nothing when the keys are right (step() checks its options per call).
 */
export function checkOptionKeys(opts: unknown, what: string, allowed: readonly string[]): asserts opts is object {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected an options object, got ${show(opts)}`);
  }
  for (const key in opts) {
    if (!Object.hasOwn(opts, key) || allowed.includes(key)) continue;
    const hint = closest(key, allowed);
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: unknown option ${show(key)}${hint ? ` (did you mean ${show(hint)}?)` : ''}; the options are ${allowed.join(', ')}`);
  }
}

/**
 * A deep copy of a config value: plain objects and arrays copied (undefined fields left out),
 * everything else (numbers, ±Infinity, functions, typed arrays) as it is. `edit` may change
 * each copied object, given the original.
 */
export function copyConfig<T>(v: T, edit?: (copy: Record<string, unknown>, original: Record<string, unknown>) => void): T {
  if (Array.isArray(v)) return v.map((x) => copyConfig(x, edit)) as T;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  const original = v as Record<string, unknown>;
  const copy = Object.fromEntries(Object.entries(original).filter(([, x]) => x !== undefined).map(([k, x]) => [k, copyConfig(x, edit)]));
  edit?.(copy, original);
  return copy as T;
}

/**
 * Checks a raw config against its layer's schema and returns it with camelCase names and
 * defaults filled in. Errors name the path, e.g. `layers[2].kernel_size`.
 */
export function normalizeConfig(raw: unknown, path = 'config'): LayerConfig {
  if (depth === 0) checkData(raw, path);
  if (depth >= MAX_DEPTH) throw new SeqLayersError('BAD_CONFIG', `${path}: configs nest deeper than ${MAX_DEPTH} levels (a cycle?)`);
  depth++;
  try {
    return normalizeChecked(raw, path);
  } finally {
    depth--;
  }
}

/**
 * Checks that a raw config is data the field checks can walk safely before any of them runs:
 * no cycles, no nesting deeper than MAX_VALUE_DEPTH (recursive checks would overflow the
 * stack), at most MAX_VALUE_NODES objects and lists counted along every path (an object shared
 * 2^60 ways is small in memory but endless to walk), no holes in lists, and no BigInt or Symbol
 * (none has a JSON form). Functions pass (Lambda takes one); typed arrays are leaves.
 */
function checkData(raw: unknown, root: string): void {
  const keys: (string | number)[] = [];
  const ancestors = new Set<object>();
  let nodes = 0;
  const fail = (msg: string): never => {
    throw new SeqLayersError('BAD_CONFIG', `${root}${keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}: ${msg}`);
  };
  const visit = (v: unknown): void => {
    if (typeof v === 'bigint' || typeof v === 'symbol') fail(`expected JSON data, got a ${typeof v}`);
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
    if (ancestors.has(v)) fail('the config contains itself (a cycle)');
    if (keys.length > MAX_VALUE_DEPTH) fail(`values nest deeper than ${MAX_VALUE_DEPTH} levels`);
    if (++nodes > MAX_VALUE_NODES) fail(`the config holds more than ${MAX_VALUE_NODES} objects and lists (a shared one counts once per use)`);
    ancestors.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        if (!(i in v)) fail('expected a value, got a hole in the list');
        visit(v[i]);
        keys.pop();
      }
    } else {
      for (const [k, x] of Object.entries(v)) {
        keys.push(k);
        visit(x);
        keys.pop();
      }
    }
    ancestors.delete(v);
  };
  visit(raw);
}

function normalizeChecked(raw: unknown, path: string): LayerConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SeqLayersError('BAD_CONFIG', `${path}: expected a layer config object with a "type", got ${show(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string') throw new SeqLayersError('BAD_CONFIG', `${path}.type: expected a layer type name (string), got ${show(type)}`);
  const def = registry.get(type);
  if (!def) {
    const hint = closest(type, registeredTypes());
    throw new SeqLayersError(
      'BAD_CONFIG',
      `${path}.type: unknown layer type ${show(type)}.${hint ? ` Did you mean ${show(hint)}?` : ''} ` +
        `Possible causes: a misspelled name (names follow the reference, e.g. "Conv1D"), or a custom layer that was not registered with registerLayers().`,
    );
  }
  const out: LayerConfig = { type };
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'type') continue;
    const p = `${path}.${key}`;
    if (key === 'name') {
      if (value !== undefined && value !== null && typeof value !== 'string') throw new SeqLayersError('BAD_CONFIG', `${p}: expected a string, got ${show(value)}`);
      if (typeof value === 'string') out.name = value;
      continue;
    }
    const name = camel(key);
    // Own fields only: "constructor" or "__proto__" must not find Object.prototype's members.
    const field = Object.hasOwn(def.fields, name) ? def.fields[name] : undefined;
    if (!field) {
      const hint = closest(name, Object.keys(def.fields));
      throw new SeqLayersError(
        'BAD_CONFIG',
        `${p}: ${type} has no field ${show(key)}.${hint ? ` Did you mean ${show(hint)}?` : ''} Its fields: ${Object.keys(def.fields).map(snake).join(', ') || '(none)'}`,
      );
    }
    if (seen.has(name)) throw new SeqLayersError('BAD_CONFIG', `${p}: field given twice (${show(seen.get(name))} and ${show(key)})`);
    seen.set(name, key);
    if (value === undefined) continue;
    const checked = field.check(value, p);
    if (checked === undefined && value !== null) {
      throw new SeqLayersError('BAD_CONFIG', `${p}: expected ${field.expects}, got ${show(value)}`);
    }
    if (value === null && !field.optional) throw new SeqLayersError('BAD_CONFIG', `${p}: expected ${field.expects}, got null`);
    if (checked !== undefined) out[name] = checked;
  }
  for (const [name, field] of Object.entries(def.fields)) {
    if (name in out) continue;
    if (!field.optional) {
      throw new SeqLayersError('BAD_CONFIG', `${path}: ${type} needs field ${show(snake(name))} (${field.expects})`);
    }
    if (field.defaultValue !== undefined) out[name] = structuredCloneJSON(field.defaultValue);
  }
  return out;
}

function structuredCloneJSON<T>(v: T): T {
  return v !== null && typeof v === 'object' ? (JSON.parse(JSON.stringify(v)) as T) : v;
}

/** A config in the reference's snake_case spelling (for files read by Python tools). */
export function toSnakeCase(config: LayerConfig): LayerConfig {
  const conv = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(conv) : v && typeof v === 'object' && 'type' in (v as object) ? toSnakeCase(v as LayerConfig) : v;
  const out: LayerConfig = { type: config.type };
  for (const [k, v] of Object.entries(config)) if (k !== 'type') out[snake(k)] = conv(v);
  return out;
}
