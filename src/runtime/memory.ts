// Linear-memory management on the JS side: the kernels never allocate. Weights and states come
// from a Heap (alloc/free, first fit with coalescing); activations come from an Arena that is
// reset after every public call. WebAssembly memory can grow but never shrink: freed blocks are
// reused, and the Arena keeps one chunk sized to the largest call that succeeded so steady
// streaming never grows. The chunk it keeps between calls is idle and counts as in use, so the
// Heap takes it back when an allocation would otherwise be refused (see Reclaimable).
import { SeqLayersError } from '../errors.js';

const PAGE = 65536;
const ALIGN = 16;
/** Pointers stay below 2^31 so they are small integers in JS and i32 in the kernels. */
export const MAX_MEMORY_BYTES = 2 ** 31 - PAGE;
/** Default budget for one runtime's memory (override with init({ maxMemoryBytes })). */
export const DEFAULT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024;

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

interface Block {
  ptr: number;
  size: number;
}

/** Memory held for reuse that its owner can give back on demand (the Arena's idle scratch). */
export interface Reclaimable {
  /** Bytes held that no live data uses. */
  idleBytes(): number;
  /** Gives those bytes back to the Heap. */
  releaseIdle(): void;
}

export class Heap {
  private readonly free: Block[] = []; // sorted by ptr, coalesced
  private readonly sizes = new Map<number, number>();
  private top: number; // first byte past the managed region (= memory size)
  inUse = 0;
  /**
   * Asked to give back its idle memory when an allocation or a checkBudget() would otherwise be
   * refused: scratch kept for the next call never stands between a caller and the budget.
   */
  reclaimable: Reclaimable | null = null;

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    readonly maxBytes: number,
  ) {
    const start = align(base);
    this.top = memory.buffer.byteLength;
    if (this.top > start) this.free.push({ ptr: start, size: this.top - start });
    else this.top = start; // the region starts at `start` even if memory is smaller for now
    this.regionStart = start;
  }
  private readonly regionStart: number;

  /** Bytes of linear memory (never decreases). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Throws MEMORY_BUDGET unless `bytes` more fit in what is left of the budget: lets a caller
   * about to make several allocations refuse before taking any. `needs` starts the message,
   * e.g. "the model's parameters need".
   */
  checkBudget(bytes: number, needs: string): void {
    const left = this.maxBytes - this.inUse;
    if (bytes <= left) return;
    // Only give the idle scratch back when that makes the request fit: a refusal changes nothing.
    const idle = this.reclaimable?.idleBytes() ?? 0;
    if (idle > 0 && bytes <= left + idle) {
      this.reclaimable!.releaseIdle();
      return;
    }
    throw new SeqLayersError('MEMORY_BUDGET', `${needs} ${bytes} bytes, over the ${left} bytes left in the budget of ${this.maxBytes}`);
  }

  /** Allocates `bytes` (rounded up to 16), 16-aligned; `what` names it in a budget error. */
  alloc(bytes: number, what = 'buffer'): number {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new SeqLayersError('BAD_ARGUMENT', `allocation of ${bytes} bytes for ${what} is not a valid size`);
    }
    const size = align(Math.max(bytes, ALIGN));
    let ptr = this.take(size);
    if (ptr >= 0) return ptr;
    // Growing past the budget is refused: first take back the idle scratch and look again.
    if (this.growPages(size) < 0 && (this.reclaimable?.idleBytes() ?? 0) > 0) {
      this.reclaimable!.releaseIdle();
      if ((ptr = this.take(size)) >= 0) return ptr;
    }
    this.grow(size, what);
    return this.take(size);
  }

  /** First fit from the free list: the block's pointer, or -1 when no free block is big enough. */
  private take(size: number): number {
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.size >= size) {
        const ptr = b.ptr;
        if (b.size === size) this.free.splice(i, 1);
        else {
          b.ptr += size;
          b.size -= size;
        }
        this.sizes.set(ptr, size);
        this.inUse += size;
        return ptr;
      }
    }
    return -1;
  }

  /** Returns a block to the heap. Freeing an unknown pointer is a bug and throws. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new SeqLayersError('BAD_ARGUMENT', `free of unknown pointer ${ptr}`);
    this.sizes.delete(ptr);
    this.inUse -= size;
    this.insertFree(ptr, size);
  }

  private insertFree(ptr: number, size: number): void {
    const f = this.free;
    let i = 0;
    while (i < f.length && f[i]!.ptr < ptr) i++;
    const prev = f[i - 1];
    const next = f[i];
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += size;
      if (next && prev.ptr + prev.size === next.ptr) {
        prev.size += next.size;
        f.splice(i, 1);
      }
    } else if (next && ptr + size === next.ptr) {
      next.ptr = ptr;
      next.size += size;
    } else {
      f.splice(i, 0, { ptr, size });
    }
  }

  /**
   * Pages to grow so a block of `size` fits at the end, or -1 when even the fewest pages that
   * make it fit would pass the budget.
   */
  private growPages(size: number): number {
    const last = this.free[this.free.length - 1];
    const tail = last && last.ptr + last.size === this.top ? last.size : 0;
    const need = size - tail;
    const current = this.memory.buffer.byteLength;
    // Grow by at least a quarter of the current size so many small allocations grow rarely.
    const wanted = Math.max(need, Math.floor(current / 4), PAGE);
    let pages = Math.ceil((this.top - current + wanted) / PAGE);
    if (current + pages * PAGE > this.maxBytes) pages = Math.ceil((this.top - current + need) / PAGE);
    return current + pages * PAGE > this.maxBytes ? -1 : pages;
  }

  /** Grows memory so a block of `size` fits at the end, within the budget. */
  private grow(size: number, what: string): void {
    const pages = this.growPages(size);
    const current = this.memory.buffer.byteLength;
    if (pages < 0) {
      const last = this.free[this.free.length - 1];
      const tail = last && last.ptr + last.size === this.top ? last.size : 0;
      throw new SeqLayersError(
        'MEMORY_BUDGET',
        `allocating ${size} bytes for ${what} needs ${current + Math.ceil((this.top - current + size - tail) / PAGE) * PAGE} bytes of WebAssembly memory, ` +
          `over the budget of ${this.maxBytes} bytes (in use: ${this.inUse}); ` +
          `dispose models or states you no longer need, or raise init({ maxMemoryBytes })`,
      );
    }
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new SeqLayersError('MEMORY_BUDGET', `the host refused to grow WebAssembly memory by ${pages * PAGE} bytes for ${what}: ${(e as Error).message}`);
    }
    const newTop = this.memory.buffer.byteLength;
    this.insertFree(Math.max(this.top, this.regionStart), newTop - Math.max(this.top, this.regionStart));
    this.top = newTop;
  }
}

/**
 * Per-call scratch: bump allocation in chunks taken from the Heap, all released by reset().
 *
 * What it keeps between calls, and why:
 * - After a call that succeeded with several chunks, reset() replaces them by one chunk of their
 *   total size, so the next call of the same shape allocates nothing from the Heap: a
 *   steady-state step (stepInto in an audio thread) neither touches the JS heap nor re-grows
 *   the arena.
 * - After a call in which taking a chunk failed (MEMORY_BUDGET), reset() gives back every chunk
 *   that call took and keeps only what it held before the call. Those chunks were sized for a
 *   call that cannot run under the budget, so keeping them would only eat the budget for good.
 *   (A call that fails for another reason keeps its chunks as a successful one would: they are
 *   no larger than a successful call of that shape needs.)
 * - The chunk kept between calls is idle: the Heap takes it back (Reclaimable) when an
 *   allocation or budget check would otherwise be refused, so retained scratch never makes
 *   building a model or a state fail. The next call then takes a chunk again, once.
 */
export class Arena implements Reclaimable {
  private chunks: Block[] = [];
  private index = 0;
  private offset = 0;
  private depth = 0;
  /** Chunks held when the outermost call began; a failed call keeps only these. */
  private held = 0;
  /** Taking a chunk failed during the current call. */
  private failed = false;
  // A stack of marks (chunk index, offset) in preallocated arrays: marking allocates nothing.
  private readonly markIndex = new Int32Array(64);
  private readonly markOffset = new Float64Array(64);
  private marks = 0;

  constructor(private readonly heap: Heap) {
    heap.reclaimable = this;
  }

  alloc(bytes: number): number {
    const size = align(Math.max(bytes, ALIGN));
    let chunk = this.chunks[this.index];
    if (chunk && this.offset + size > chunk.size) {
      // Try the next chunk kept from an earlier call before taking a new one.
      this.index++;
      this.offset = 0;
      chunk = this.chunks[this.index];
      while (chunk && size > chunk.size) chunk = this.chunks[++this.index];
    }
    if (!chunk) {
      const last = this.chunks[this.chunks.length - 1];
      let chunkSize = Math.max(size, last ? last.size * 2 : 1 << 16);
      let ptr: number;
      try {
        try {
          ptr = this.heap.alloc(chunkSize, 'scratch activations');
        } catch (e) {
          // Doubling only saves later allocations: near the budget, take exactly what this one needs.
          if (chunkSize === size || !(e instanceof SeqLayersError) || e.code !== 'MEMORY_BUDGET') throw e;
          ptr = this.heap.alloc((chunkSize = size), 'scratch activations');
        }
      } catch (e) {
        this.failed = true;
        throw e;
      }
      chunk = { ptr, size: chunkSize };
      this.chunks.push(chunk);
      this.index = this.chunks.length - 1;
      this.offset = 0;
    }
    const ptr = chunk.ptr + this.offset;
    this.offset += size;
    return ptr;
  }

  /** Starts a public call; calls may nest (a Lambda layer can run another model). */
  begin(): void {
    if (this.depth++ === 0) {
      this.held = this.chunks.length;
      this.failed = false;
    }
  }

  /** Ends a public call; the outermost end releases all scratch. */
  end(): void {
    if (--this.depth === 0) this.reset();
  }

  /**
   * Remembers the current allocation point; release() frees everything allocated after it.
   * Lets a layer bound its scratch by reusing it block after block (Blockwise).
   */
  mark(): void {
    if (this.marks === this.markIndex.length) throw new Error('Arena: marks nest too deep');
    this.markIndex[this.marks] = this.index;
    this.markOffset[this.marks++] = this.offset;
  }

  release(): void {
    this.index = this.markIndex[--this.marks]!;
    this.offset = this.markOffset[this.marks]!;
  }

  /**
   * The first chunk no live scratch is in: allocation is a bump pointer, so everything live lies
   * before (index, offset), and the chunks from here on (the current one too while its offset
   * is 0) hold nothing. Between calls that is every chunk.
   */
  private firstIdle(): number {
    return Math.min(this.offset === 0 ? this.index : this.index + 1, this.chunks.length);
  }

  idleBytes(): number {
    let n = 0;
    for (let i = this.firstIdle(); i < this.chunks.length; i++) n += this.chunks[i]!.size;
    return n;
  }

  releaseIdle(): void {
    this.dropFrom(this.firstIdle());
  }

  /** Gives chunks [from, ...) back to the Heap. */
  private dropFrom(from: number): void {
    for (let i = from; i < this.chunks.length; i++) this.heap.release(this.chunks[i]!.ptr);
    if (from < this.chunks.length) this.chunks.length = from;
    if (this.held > from) this.held = from;
  }

  /** Releases everything at the end of the outermost call (see the class comment for what it keeps). */
  private reset(): void {
    if (this.failed) this.dropFrom(this.held);
    else if (this.chunks.length > 1) {
      const total = this.chunks.reduce((s, c) => s + c.size, 0);
      this.dropFrom(0);
      try {
        this.chunks.push({ ptr: this.heap.alloc(total, 'scratch activations'), size: total });
      } catch {
        // Freed chunks that do not coalesce may not fit in one block under the budget: keep no
        // chunk rather than a stale one; the next call takes what it needs.
      }
    }
    this.failed = false;
    this.index = 0;
    this.offset = 0;
    this.marks = 0;
  }
}
