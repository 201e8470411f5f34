// Linear-memory management on the JS side: the kernels never allocate. Weights and states come
// from a Heap (alloc/free, first fit with coalescing); activations come from an Arena that is
// reset after every public call. WebAssembly memory can grow but never shrink: freed blocks are
// reused, and the Arena keeps one chunk sized to the largest call so steady streaming never grows.
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

export class Heap {
  private readonly free: Block[] = []; // sorted by ptr, coalesced
  private readonly sizes = new Map<number, number>();
  private top: number; // first byte past the managed region (= memory size)
  inUse = 0;

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
    if (!(bytes <= left)) throw new SeqLayersError('MEMORY_BUDGET', `${needs} ${bytes} bytes, over the ${left} bytes left in the budget of ${this.maxBytes}`);
  }

  /** Allocates `bytes` (rounded up to 16), 16-aligned; `what` names it in a budget error. */
  alloc(bytes: number, what = 'buffer'): number {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new SeqLayersError('BAD_ARGUMENT', `allocation of ${bytes} bytes for ${what} is not a valid size`);
    }
    const size = align(Math.max(bytes, ALIGN));
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
    this.grow(size, what);
    return this.alloc(size, what);
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

  /** Grows memory so a block of `size` fits at the end, within the budget. */
  private grow(size: number, what: string): void {
    const last = this.free[this.free.length - 1];
    const tail = last && last.ptr + last.size === this.top ? last.size : 0;
    const need = size - tail;
    const current = this.memory.buffer.byteLength;
    // Grow by at least a quarter of the current size so many small allocations grow rarely.
    const wanted = Math.max(need, Math.floor(current / 4), PAGE);
    let pages = Math.ceil((this.top - current + wanted) / PAGE);
    if (current + pages * PAGE > this.maxBytes) pages = Math.ceil((this.top - current + need) / PAGE);
    if (current + pages * PAGE > this.maxBytes) {
      throw new SeqLayersError(
        'MEMORY_BUDGET',
        `allocating ${size} bytes for ${what} needs ${current + pages * PAGE} bytes of WebAssembly memory, ` +
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
 * After a call that needed several chunks, reset() replaces them by one chunk of their total
 * size, so the next call of the same shape allocates nothing from the Heap.
 */
export class Arena {
  private chunks: Block[] = [];
  private index = 0;
  private offset = 0;
  private depth = 0;
  // A stack of marks (chunk index, offset) in preallocated arrays: marking allocates nothing.
  private readonly markIndex = new Int32Array(64);
  private readonly markOffset = new Float64Array(64);
  private marks = 0;

  constructor(private readonly heap: Heap) {}

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
        ptr = this.heap.alloc(chunkSize, 'scratch activations');
      } catch (e) {
        // Doubling only saves later allocations: near the budget, take exactly what this one needs.
        if (chunkSize === size || !(e instanceof SeqLayersError) || e.code !== 'MEMORY_BUDGET') throw e;
        ptr = this.heap.alloc((chunkSize = size), 'scratch activations');
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
    this.depth++;
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

  /** Releases everything; several chunks are merged into one for the next call. */
  private reset(): void {
    if (this.chunks.length > 1) {
      const total = this.chunks.reduce((s, c) => s + c.size, 0);
      for (const c of this.chunks) this.heap.release(c.ptr);
      this.chunks = [{ ptr: this.heap.alloc(total, 'scratch activations'), size: total }];
    }
    this.index = 0;
    this.offset = 0;
    this.marks = 0;
  }
}
