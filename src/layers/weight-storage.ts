// How the memory-bound layers store their kernels: the weightStorage field of Dense,
// DenseShaped, EinsumDense, LSTM, GRU, Conv1D and the attention layers (not in the reference),
// and the int8 packing they share (assembly/gemm/q8-gemv.ts).
//
// Exports (sorted): Q8Weights, WEIGHT_STORAGES, WeightStorage, weightStorageField,
// withWeightStorage.
import { copyConfig, f, layerDef, normalizeConfig, type LayerConfig } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import type { Derived, RunContext } from '../layer.js';
import type { Runtime } from '../runtime/runtime.js';

/**
 * How a layer stores its kernel for the product: 'float32' (default), or 'int8': one int8 per
 * weight with a float32 scale per output column (max |column| / 127), each row of the input
 * quantised to int16 on the fly (max |row| / 32767), exact integer sums (q8_gemv). int8 holds
 * a quarter of the weight memory and steps one row faster than float32: 1.3-1.6x on kernels
 * that fit in L2 or L3 (1-8 MiB in float32: a 512/512 LSTM or GRU step), 2-3.5x on a 24 MiB
 * kernel streamed from memory, as the memory bandwidth left to float32 goes (the lower figures
 * with relaxed SIMD; assembly/gemm/q8-gemv.ts). Its error, from the weights' rounding,
 * measured 0.4 % (uniform weights) to 0.8 % (Gaussian, 2048 wide) of the output's RMS. Its
 * range is float32's: an output overflows or underflows only where float32's would, within
 * that rounding. A NaN or an infinity in an input row makes every output of that row
 * NaN, and one in a weight every output of its column (float32 gives +-Infinity where
 * infinities meet only finite non-zero values); an LSTM or GRU carries the NaN in its state.
 * The float32 parameters stay as loaded (getWeights returns them); only the product uses int8.
 */
export const WEIGHT_STORAGES = ['float32', 'int8'] as const;
export type WeightStorage = (typeof WEIGHT_STORAGES)[number];

/** The weightStorage config field (default 'float32'). */
export const weightStorageField = () => f.oneOf(WEIGHT_STORAGES).default('float32');

/**
 * `config` (normalized: camelCase names, defaults filled in) with weightStorage set to
 * `storage` on every layer that has the field and can take it (int8: not a grouped Conv1D nor
 * an EinsumDense of several kernel matrices), at any depth; other layers are unchanged. For
 * trying int8 on a whole model: `sl.build(sl.withWeightStorage(config, 'int8'), opts)`.
 */
export function withWeightStorage(config: LayerConfig, storage: WeightStorage): LayerConfig {
  if (!(WEIGHT_STORAGES as readonly unknown[]).includes(storage)) {
    throw new SeqLayersError('BAD_ARGUMENT', `withWeightStorage: expected one of ${WEIGHT_STORAGES.map((s) => show(s)).join(', ')}, got ${show(storage)}`);
  }
  return copyConfig(normalizeConfig(config), (copy, o) => {
    const def = typeof o.type === 'string' ? layerDef(o.type) : undefined;
    if (def?.fields.weightStorage && (storage !== 'int8' || (def.storesInt8?.(o as never) ?? true))) copy.weightStorage = storage;
  });
}

/** What Q8Weights needs from its layer: the runtime and derived buffers (filled in prepare()). */
interface Host {
  readonly rt: Runtime;
  derive(bytes: number): Derived;
}

const roundUpEven = (v: number) => v + (v & 1);

/**
 * A kernel [k, n] stored as int8 for q8_gemv and q8_gemm, made of blocks of rows stacked in
 * order (an LSTM's [W; U]: blocks din and units), each starting at an even packed row.
 */
export class Q8Weights {
  /** Rows of the packing: every block rounded up to even. */
  readonly rows: number;
  readonly packed: Derived;
  readonly scales: Derived;

  constructor(host: Host, private readonly blockRows: readonly number[], readonly n: number) {
    this.rows = blockRows.reduce((s, r) => s + roundUpEven(r), 0);
    this.packed = host.derive(host.rt.k.q8_gemv_packed_len(this.rows, n));
    this.scales = host.derive(n * 4);
  }

  /** Packed row where block i starts. */
  blockStart(i: number): number {
    return this.blockRows.slice(0, i).reduce((s, r) => s + roundUpEven(r), 0);
  }

  /**
   * Quantises the blocks (float32 [blockRows[i], n] at blocks[i], rows `ld` floats apart: n,
   * or more for columns of a wider matrix) with column scales over all of them.
   */
  pack(rt: Runtime, blocks: readonly number[], ld = this.n): void {
    const { n } = this, s = this.scales.ptr >> 2;
    rt.f32.fill(0, s, s + n);
    blocks.forEach((ptr, i) => rt.k.f32_column_absmax(this.blockRows[i]!, n, ptr, ld, this.scales.ptr));
    for (let j = s; j < s + n; j++) rt.f32[j] = rt.f32[j]! / 127;
    rt.k.mem_fill(this.packed.ptr, 0, this.packed.bytes);
    blocks.forEach((ptr, i) => rt.k.q8_gemv_pack_b(this.rows, this.blockStart(i), this.blockRows[i]!, n, ptr, ld, this.scales.ptr, this.packed.ptr));
  }

  /** Int16 scratch q8_gemm and q8_gemv need for the rows of all blocks, in bytes. */
  get scratchBytes(): number {
    return this.rows * 2;
  }

  /**
   * y [m, n] (row stride n) = x [m, k] (rows `lda` floats apart: k, or less where they overlap,
   * as a strided convolution's windows) · kernel + bias (0: none), one row at a time; a
   * one-block kernel.
   */
  gemm(ctx: RunContext, m: number, x: number, bias: number, y: number, lda = this.blockRows[0]!): void {
    const k = this.blockRows[0]!;
    ctx.rt.k.q8_gemm(m, this.n, k, x, lda, ctx.alloc(this.scratchBytes), this.packed.ptr, this.scales.ptr, bias, y, this.n);
  }
}
