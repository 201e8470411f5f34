// Loading the kernels on every host and owning their memory.
//
// A Runtime is one instance of the kernel module with its Heap and Arena. `init()` creates the
// default one; `createRuntime()` makes more (the benchmarks run both builds side by side).
// Hosts differ in how they can get a module: Node reads the file, browsers fetch its URL, and
// Cloudflare Workers and AudioWorklets can only take an already compiled WebAssembly.Module.
import { checkOptionKeys } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import type { Kernels } from './kernels.js';
import { Arena, DEFAULT_MAX_MEMORY_BYTES, Heap, MAX_MEMORY_BYTES } from './memory.js';

export type KernelBuild = 'simd' | 'relaxed';

export interface InitOptions {
  /** A compiled kernel module (the only way on Cloudflare Workers and in an AudioWorklet). */
  module?: WebAssembly.Module;
  /** Kernel bytes to compile (either build; the module itself tells which one it is). */
  bytes?: BufferSource;
  /**
   * Which build to load when seqlayers finds the files itself: 'auto' (default) takes the
   * relaxed-SIMD build where WebAssembly.validate accepts relaxed SIMD, else the SIMD build.
   */
  build?: 'auto' | KernelBuild;
  /** Upper bound on this runtime's WebAssembly memory, in bytes (default 1 GiB, at most 2 GiB, at least the kernels' initial memory). */
  maxMemoryBytes?: number;
}

const INIT_OPTIONS = ['module', 'bytes', 'build', 'maxMemoryBytes'] as const;
const BUILDS = ['auto', 'simd', 'relaxed'];
/** Exports without which a module is not the seqlayers kernels (checked before instantiating). */
const REQUIRED_EXPORTS = ['memory', 'heap_base', 'relaxed_build'];

/** Refuses (BAD_ARGUMENT) a budget outside (0, MAX_MEMORY_BYTES]. */
export function checkMaxMemory(maxMemoryBytes: unknown): void {
  if (!(typeof maxMemoryBytes === 'number' && maxMemoryBytes > 0 && maxMemoryBytes <= MAX_MEMORY_BYTES)) {
    throw new SeqLayersError('BAD_ARGUMENT', `maxMemoryBytes must be in (0, ${MAX_MEMORY_BYTES}], got ${show(maxMemoryBytes)}`);
  }
}

/**
 * Checks init-style options at the public boundary: an object with only `allowed` keys, each
 * of the right kind (the Runtime checks `module` itself, by its exports, so a module from
 * another realm passes).
 */
function checkOptions(opts: unknown, what: string, allowed: readonly (keyof InitOptions)[]): void {
  const bad = (msg: string) => new SeqLayersError('BAD_ARGUMENT', `${what}: ${msg}`);
  checkOptionKeys(opts, what, allowed);
  const o = opts as InitOptions;
  if (o.build !== undefined && !BUILDS.includes(o.build)) throw bad(`expected build "auto", "simd" or "relaxed", got ${show(o.build)}`);
  if (o.maxMemoryBytes !== undefined) checkMaxMemory(o.maxMemoryBytes);
  if (o.bytes !== undefined && !(o.bytes instanceof ArrayBuffer || ArrayBuffer.isView(o.bytes))) {
    throw bad(`expected bytes to be the kernel file's bytes (an ArrayBuffer or a typed array), got ${show(o.bytes)}`);
  }
}

export interface RuntimeInfo {
  /** The kernel build that runs: 'relaxed' (SIMD + relaxed SIMD FMA) or 'simd'. */
  build: KernelBuild;
  /** Whether this host accepts relaxed SIMD at all. */
  relaxedSupported: boolean;
  memoryBytes: number;
  maxMemoryBytes: number;
}

// A 42-byte module whose only function uses f32x4.relaxed_madd: validating it tells whether the
// host accepts relaxed SIMD without compiling anything (allowed even on Cloudflare Workers).
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 7, 5, 1, 1, 112, 0, 0, 10, 13, 1, 11, 0, 32,
  0, 32, 0, 32, 0, 253, 133, 2, 11,
]);

/** True where WebAssembly.validate accepts relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd). */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/** URL of a kernel binary shipped with the package, for hosts that fetch it themselves. */
export function kernelUrl(build: KernelBuild): URL {
  return new URL(`../../build/${build === 'relaxed' ? 'kernels-relaxed' : 'kernels'}.wasm`, import.meta.url);
}

export class Runtime {
  readonly k: Kernels;
  readonly memory: WebAssembly.Memory;
  readonly heap: Heap;
  readonly arena: Arena;
  readonly build: KernelBuild;
  private buf: ArrayBuffer;
  private _f32: Float32Array;
  private _i32: Int32Array;
  private _u8: Uint8Array;

  /**
   * Instantiates a compiled kernel module synchronously (works in an AudioWorklet). `module`
   * stays available, to hand the same build to workers.
   */
  constructor(
    readonly module: WebAssembly.Module,
    maxMemoryBytes = DEFAULT_MAX_MEMORY_BYTES,
  ) {
    checkMaxMemory(maxMemoryBytes);
    let exported: string[];
    try {
      exported = WebAssembly.Module.exports(module).map((e) => e.name);
    } catch {
      throw new SeqLayersError('BAD_ARGUMENT', `expected a compiled WebAssembly.Module of the seqlayers kernels, got ${show(module)}`);
    }
    const missing = REQUIRED_EXPORTS.filter((n) => !exported.includes(n));
    if (missing.length) {
      throw new SeqLayersError(
        'NOT_INITIALIZED',
        `the module is not the seqlayers kernels: expected it to export ${show(REQUIRED_EXPORTS)}, it exports ${show(exported)}`,
      );
    }
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, {});
    } catch (e) {
      throw new SeqLayersError('NOT_INITIALIZED', `could not instantiate the kernels: ${(e as Error).message}`);
    }
    this.k = instance.exports as unknown as Kernels;
    this.memory = this.k.memory;
    if (this.memory.buffer.byteLength > maxMemoryBytes) {
      throw new SeqLayersError(
        'BAD_ARGUMENT',
        `maxMemoryBytes must be at least the kernels' initial memory of ${this.memory.buffer.byteLength} bytes, got ${maxMemoryBytes}`,
      );
    }
    this.build = this.k.relaxed_build() ? 'relaxed' : 'simd';
    this.heap = new Heap(this.memory, this.k.heap_base(), maxMemoryBytes);
    this.arena = new Arena(this.heap);
    this.buf = this.memory.buffer;
    this._f32 = new Float32Array(this.buf);
    this._i32 = new Int32Array(this.buf);
    this._u8 = new Uint8Array(this.buf);
  }

  // Views over linear memory, re-derived whenever memory.grow() replaced the buffer (the old
  // views are detached and read as empty).
  private refresh(): void {
    this.buf = this.memory.buffer;
    this._f32 = new Float32Array(this.buf);
    this._i32 = new Int32Array(this.buf);
    this._u8 = new Uint8Array(this.buf);
  }
  get f32(): Float32Array {
    if (this.buf !== this.memory.buffer) this.refresh();
    return this._f32;
  }
  get i32(): Int32Array {
    if (this.buf !== this.memory.buffer) this.refresh();
    return this._i32;
  }
  get u8(): Uint8Array {
    if (this.buf !== this.memory.buffer) this.refresh();
    return this._u8;
  }

  info(): RuntimeInfo {
    return {
      build: this.build,
      relaxedSupported: relaxedSimdSupported(),
      memoryBytes: this.memory.buffer.byteLength,
      maxMemoryBytes: this.heap.maxBytes,
    };
  }
}

let current: Runtime | null = null;

/**
 * Read only on Node. Named through a variable so that bundlers for other hosts (wrangler's
 * esbuild, Vite) neither try to resolve it nor warn that the Worker may fail without it.
 */
const NODE_FS = 'node:fs/promises';

async function loadBytes(build: KernelBuild): Promise<BufferSource> {
  const url = kernelUrl(build);
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (url.protocol === 'file:' && g.process?.versions?.node) {
    const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import('node:fs/promises');
    return fs.readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new SeqLayersError('NOT_INITIALIZED', `could not fetch the kernels at ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

function chooseBuild(build: InitOptions['build'] = 'auto'): KernelBuild {
  if (build === 'relaxed' && !relaxedSimdSupported()) {
    throw new SeqLayersError(
      'NOT_INITIALIZED',
      'the relaxed-SIMD build was asked for, but this host does not validate relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)',
    );
  }
  if (build === 'auto') return relaxedSimdSupported() ? 'relaxed' : 'simd';
  return build;
}

/**
 * Compiles the kernels for this host without instantiating them: the module to hand to
 * workers, AudioWorklet processors or initSync() (options as init: `bytes` or `build`).
 */
export async function compileKernels(opts: Pick<InitOptions, 'bytes' | 'build'> = {}): Promise<WebAssembly.Module> {
  checkOptions(opts, 'compileKernels', ['bytes', 'build']);
  return compile(opts);
}

async function compile(opts: Pick<InitOptions, 'bytes' | 'build'>): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(opts.bytes ?? (await loadBytes(chooseBuild(opts.build))));
  } catch (e) {
    if (e instanceof SeqLayersError) throw e;
    throw new SeqLayersError('NOT_INITIALIZED', `could not load the kernels: ${(e as Error).message}`);
  }
}

/** Makes a Runtime without making it the default (init() does both). */
export async function createRuntime(opts: InitOptions = {}): Promise<Runtime> {
  checkOptions(opts, 'createRuntime', INIT_OPTIONS);
  return new Runtime(opts.module ?? (await compile(opts)), opts.maxMemoryBytes);
}

/**
 * Loads the kernels and makes them the default runtime. Idempotent: once a runtime runs, a
 * call without `module` or `bytes` returns its info and changes nothing; one asking for another
 * `build` or `maxMemoryBytes` than what runs is a BAD_ARGUMENT error naming both (the running
 * runtime stays). Pass `module` or `bytes` again to replace the runtime (models already built
 * keep theirs), or use createRuntime() for a second runtime with other options. Calls made while
 * one is in flight behave as if made after it.
 */
export function init(opts: InitOptions = {}): Promise<RuntimeInfo> {
  return initWith(opts, (build) => compile({ build }));
}

/** The init() calls in flight, in order: each starts when the one before it has settled. */
let initializing: Promise<unknown> = Promise.resolve();

/** init, with `find` giving the kernel module of a build when neither `module` nor `bytes` is passed. */
async function initWith(opts: InitOptions, find: (build: InitOptions['build']) => WebAssembly.Module | Promise<WebAssembly.Module>): Promise<RuntimeInfo> {
  checkOptions(opts, 'init', INIT_OPTIONS);
  const run = initializing.then(async () => {
    if (current && !opts.module && !opts.bytes) return runningInfo('init', opts);
    current = new Runtime(opts.module ?? (await (opts.bytes ? compile(opts) : find(opts.build))), opts.maxMemoryBytes);
    return current.info();
  });
  initializing = run.catch(() => undefined);
  return run;
}

/**
 * The running runtime's info for a later init that passes no module: BAD_ARGUMENT naming both
 * when `opts` asks for another build or budget than what runs.
 */
function runningInfo(what: string, opts: Pick<InitOptions, 'build' | 'maxMemoryBytes'>): RuntimeInfo {
  const info = current!.info();
  const build = opts.build === undefined || opts.build === 'auto' ? info.build : opts.build;
  const budget = opts.maxMemoryBytes ?? info.maxMemoryBytes;
  if (build !== info.build || budget !== info.maxMemoryBytes) {
    throw new SeqLayersError(
      'BAD_ARGUMENT',
      `${what}: a runtime already runs the ${info.build} build with maxMemoryBytes ${info.maxMemoryBytes}, got ${show({ build: opts.build, maxMemoryBytes: opts.maxMemoryBytes })}; ` +
        'pass module or bytes to replace it, or use createRuntime() for a second runtime',
    );
  }
  return info;
}

/**
 * Synchronous init from a compiled module, for AudioWorklet processors. `module` is required
 * here; the workerd and deno entries supply their own (their initSync needs maxMemoryBytes at most).
 */
export function initSync(opts: { module?: WebAssembly.Module; maxMemoryBytes?: number }): RuntimeInfo {
  checkOptions(opts, 'initSync', ['module', 'maxMemoryBytes']);
  if (opts.module === undefined) throw new SeqLayersError('BAD_ARGUMENT', `initSync: expected { module: the kernels as a compiled WebAssembly.Module } (only the workerd and deno entries bring their own), got ${show(opts)}`);
  current = new Runtime(opts.module, opts.maxMemoryBytes);
  return current.info();
}

/** The default runtime; throws NOT_INITIALIZED before init(). */
export function getRuntime(): Runtime {
  if (!current) throw new SeqLayersError('NOT_INITIALIZED', 'call `await sl.init()` before building or running models');
  return current;
}

/**
 * init and initSync for hosts that import both kernel builds as compiled modules (the
 * `workerd` and `deno` entries): each picks the relaxed build where this host validates it,
 * and both are idempotent as the main entry's init.
 */
export function initFromModules(simd: WebAssembly.Module, relaxed: WebAssembly.Module) {
  const find = (build: InitOptions['build']) => (chooseBuild(build) === 'relaxed' ? relaxed : simd);
  return {
    /** Loads the imported kernels (options as the main entry's init). */
    init: (opts: InitOptions = {}) => initWith(opts, find),
    /** init() without a promise, e.g. for a Worker's global scope (options: maxMemoryBytes, or module to replace the runtime). */
    initSync: (opts: { module?: WebAssembly.Module; maxMemoryBytes?: number } = {}): RuntimeInfo => {
      checkOptions(opts, 'initSync', ['module', 'maxMemoryBytes']);
      if (current && !opts.module) return runningInfo('initSync', opts);
      return initSync({ ...opts, module: opts.module ?? find('auto') });
    },
  };
}
