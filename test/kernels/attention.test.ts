// Tester of assembly/attention.ts against a scalar f64 reference written from the kernel's doc
// block. f32_attention: units around the SIMD width (1..9, 16, 17) and beyond (24, 25, 64),
// many keys (counts leaving 0-3 after the weighted sum's fours, sinks without values), MHA and GQA, queries and
// keys split between a ring (wrapping at every head position) and a linear block, windows
// (past/future, unbounded, KV_FIRST), random masks with NaN at invalid keys and values, queries
// that see nothing, sinks (embeddings and scalars), soft cap, per-unit query and key scales,
// relative position modes 1-3 (over logical indices or given positions), segment ids and
// windows of positions, probabilities, unaligned pointers (4, 8, 12 bytes) and guard
// values around every output. seq_ring_write: blocks shorter and longer than the ring, every
// head, strided sources. Runs on both builds (vitest projects).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { ATT } from '../../src/layers/attention/common.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 4;
const SENTINEL = -12345.5;

/** Memory for one test: buffers at a byte offset from 16-byte alignment, with sentinel guards. */
class Arena {
  private blocks: number[] = [];
  constructor(private readonly offset: number) {}
  f32(values: ArrayLike<number>): number {
    const ptr = this.place(values.length * 4);
    rt.f32.set(values, ptr >> 2);
    return ptr;
  }
  u8(values: ArrayLike<number>): number {
    const ptr = this.place(values.length);
    rt.u8.set(values, ptr);
    return ptr;
  }
  i32(values: ArrayLike<number>): number {
    const ptr = this.place(values.length * 4);
    rt.i32.set(values, ptr >> 2);
    return ptr;
  }
  /** n floats of output, filled with the sentinel, with guards checked by guards(). */
  out(n: number): number {
    const ptr = this.place(n * 4);
    rt.f32.fill(SENTINEL, ptr >> 2, (ptr >> 2) + n);
    return ptr;
  }
  private place(bytes: number): number {
    const block = rt.heap.alloc(bytes + 2 * GUARD * 4 + 16);
    this.blocks.push(block);
    const ptr = block + GUARD * 4 + this.offset;
    rt.f32.fill(SENTINEL, (ptr >> 2) - GUARD, (ptr >> 2) - GUARD + GUARD);
    // Guards after: whole floats past the end (byte buffers get theirs rounded up).
    const end = Math.ceil((ptr + bytes) / 4);
    rt.f32.fill(SENTINEL, end, end + GUARD);
    return ptr;
  }
  guards(ptr: number, bytes: number, what: string): void {
    const end = Math.ceil((ptr + bytes) / 4);
    for (let g = 0; g < GUARD; g++) {
      expect(rt.f32[(ptr >> 2) - 1 - g], `guard before ${what}`).toBe(SENTINEL);
      expect(rt.f32[end + g], `guard after ${what}`).toBe(SENTINEL);
    }
  }
  free(): void {
    for (const b of this.blocks) rt.heap.release(b);
  }
}

interface Case {
  batch: number; nq: number; heads: number; kvHeads: number; units: number; sinks: number; scalars: boolean;
  qCap: number; qLin: number; kvCap: number; kvLin: number; past: number; future: number; qOffset: number; kvFirst: number;
  softCap: number; kScale: boolean; qBias: boolean; relMode: 0 | 1 | 2 | 3; zeroFullyMasked: boolean; probs: boolean;
  offset: number; seed: number;
  /**
   * Segment ids (SEGMENTS) and windows by positions (POSITIONS, with blocks of `block` steps);
   * with `indexKeys` the keys' positions are their logical indices (KV position pointers 0).
   */
  segments: boolean; positions: boolean; block: number; indexKeys: boolean;
}

function run(c: Case) {
  const random = seededRandom(c.seed);
  const g = sl.normal(random);
  const vec = (n: number) => Array.from({ length: n }, g);
  const { batch: B, heads: H, kvHeads: KVH, units: U, sinks: S } = c;
  const qStride = H * U + 3, kvStride = KVH * U + 2; // strided linear rows
  const qHead = c.qCap ? Math.floor(random() * c.qCap) : 0, kvHead = c.kvCap ? Math.floor(random() * c.kvCap) : 0;
  const qRing = vec(B * c.qCap * H * U), qRingMask = Array.from({ length: B * c.qCap }, () => (random() < 0.8 ? 1 : 0));
  const qLin = vec(B * c.qLin * qStride), qLinMask = Array.from({ length: B * c.qLin }, () => (random() < 0.8 ? 1 : 0));
  const kRing = vec(B * c.kvCap * KVH * U), vRing = vec(B * c.kvCap * KVH * U), kvRingMask = Array.from({ length: B * c.kvCap }, () => (random() < 0.7 ? 1 : 0));
  const kLin = vec(B * c.kvLin * kvStride), vLin = vec(B * c.kvLin * kvStride), kvLinMask = Array.from({ length: B * c.kvLin }, () => (random() < 0.7 ? 1 : 0));
  // NaN at every invalid key and value: it must never reach an output.
  for (let i = 0; i < B * c.kvCap; i++) if (!kvRingMask[i]) for (let u = 0; u < KVH * U; u++) kRing[i * KVH * U + u] = vRing[i * KVH * U + u] = NaN;
  for (let i = 0; i < B * c.kvLin; i++) if (!kvLinMask[i]) for (let u = 0; u < kvStride; u++) kLin[i * kvStride + u] = vLin[i * kvStride + u] = NaN;
  const qScale = vec(U).map((v) => 0.3 + 0.2 * Math.abs(v)), kScale = vec(U).map((v) => 0.5 + 0.5 * Math.abs(v));
  const qBias = vec(H * U), relQBias = vec(H * U);
  const sinkKeys = vec(S * H * U), sinkValues = vec(S * KVH * U), sinkScalars = vec(H);
  const buckets = 5, dLo = -3, dHi = 2;
  const bucketMap = Array.from({ length: dHi - dLo + 1 }, () => Math.floor(random() * buckets));
  const relTable = c.relMode === 1 ? vec(buckets * H) : vec(buckets * H * U);
  const keys = c.kvCap + c.kvLin, probRow = S + keys;
  // Few segments (so some keys match) and positions around 0 with repeats and gaps, negative too.
  const ids = (n: number, of: () => number) => Array.from({ length: n }, of);
  const segment = () => Math.floor(random() * 3) - 1, position = () => Math.floor(random() * 13) - 4;
  const qRingSeg = ids(B * c.qCap, segment), qLinSeg = ids(B * c.qLin, segment), kvRingSeg = ids(B * c.kvCap, segment), kvLinSeg = ids(B * c.kvLin, segment);
  const qRingPos = ids(B * c.qCap, position), qLinPos = ids(B * c.qLin, position), kvRingPos = ids(B * c.kvCap, position), kvLinPos = ids(B * c.kvLin, position);

  // The f64 reference.
  const expected = new Float64Array(B * c.nq * H * U), expectedProbs = new Float64Array(B * c.nq * H * probRow), expectedMask: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < c.nq; i++) {
      const ring = i < c.qCap;
      const qs = ring ? (b * c.qCap + (qHead + i) % c.qCap) : b * c.qLin + (i - c.qCap);
      const qm = ring ? qRingMask[qs]! : qLinMask[qs]!;
      const qSeg = ring ? qRingSeg[qs]! : qLinSeg[qs]!, qPos = ring ? qRingPos[qs]! : qLinPos[qs]!;
      expectedMask.push(qm);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / KVH));
        const q = (u: number) => (ring ? qRing[(qs * H + h) * U + u]! : qLin[qs * qStride + h * U + u]!);
        const o = ((b * c.nq + i) * H + h) * U, po = ((b * c.nq + i) * H + h) * probRow;
        if (!qm) continue;
        const key = (j: number) => (j < c.kvCap
          ? { m: kvRingMask[b * c.kvCap + (kvHead + j) % c.kvCap]!, seg: kvRingSeg[b * c.kvCap + (kvHead + j) % c.kvCap]!, pos: kvRingPos[b * c.kvCap + (kvHead + j) % c.kvCap]!, k: (u: number) => kRing[((b * c.kvCap + (kvHead + j) % c.kvCap) * KVH + kvh) * U + u]!, v: (u: number) => vRing[((b * c.kvCap + (kvHead + j) % c.kvCap) * KVH + kvh) * U + u]! }
          : { m: kvLinMask[b * c.kvLin + j - c.kvCap]!, seg: kvLinSeg[b * c.kvLin + j - c.kvCap]!, pos: kvLinPos[b * c.kvLin + j - c.kvCap]!, k: (u: number) => kLin[(b * c.kvLin + j - c.kvCap) * kvStride + kvh * U + u]!, v: (u: number) => vLin[(b * c.kvLin + j - c.kvCap) * kvStride + kvh * U + u]! });
        const qe = (u: number) => (q(u) * qScale[u]! + (c.qBias ? qBias[h * U + u]! : 0)) * (c.kScale ? kScale[u]! : 1);
        const rel = (r: number) => {
          if (c.relMode === 1) return relTable[r * H + h]!;
          let s = 0;
          for (let u = 0; u < U; u++) s += (c.relMode === 2 ? q(u) : q(u) * qScale[u]! + relQBias[h * U + u]!) * relTable[(r * H + h) * U + u]!;
          return s;
        };
        const cap = (l: number) => (c.softCap > 0 ? c.softCap * Math.tanh(l / c.softCap) : l);
        const center = i + c.qOffset;
        const lo = c.positions ? Math.max(0, c.kvFirst) : Math.max(0, c.kvFirst, c.past < 0 ? 0 : center - c.past);
        const hi = c.positions || c.future < 0 ? keys - 1 : Math.min(keys - 1, center + c.future);
        // A window of positions starts at the query's block (positions floored to multiples of block).
        const p0 = qPos - (((qPos % c.block) + c.block) % c.block);
        const inWindow = (p: number) => (c.past < 0 || p >= p0 - c.past) && (c.future < 0 || p <= p0 + c.future);
        const logits: { j: number; l: number }[] = [];
        for (let s = 0; s < S; s++) {
          let l = 0;
          if (c.scalars) l = sinkScalars[h]!;
          else for (let u = 0; u < U; u++) l += q(u) * sinkKeys[(s * H + h) * U + u]!;
          logits.push({ j: -1 - s, l: cap(l) });
        }
        for (let j = lo; j <= hi; j++) {
          const k = key(j);
          const kPos = c.indexKeys ? j : k.pos;
          if (!k.m || (c.segments && k.seg !== qSeg) || (c.positions && !inWindow(kPos))) continue;
          let l = 0;
          for (let u = 0; u < U; u++) l += qe(u) * k.k(u);
          if (c.relMode) l += rel(bucketMap[Math.min(dHi, Math.max(dLo, c.positions ? kPos - qPos : j - center)) - dLo]!);
          logits.push({ j, l: cap(l) });
        }
        if (logits.length === 0) {
          if (!c.zeroFullyMasked && hi >= lo) for (let j = lo; j <= hi; j++) expectedProbs[po + S + j] = 1 / (hi - lo + 1);
          continue;
        }
        const mx = Math.max(...logits.map((e) => e.l));
        const sum = logits.reduce((a, e) => a + Math.exp(e.l - mx), 0);
        for (const { j, l } of logits) {
          const p = Math.exp(l - mx) / sum;
          if (j < 0) {
            expectedProbs[po + (-1 - j)] = p;
            if (!c.scalars) for (let u = 0; u < U; u++) expected[o + u]! += p * sinkValues[((-1 - j) * KVH + kvh) * U + u]!;
          } else {
            expectedProbs[po + S + j] = p;
            for (let u = 0; u < U; u++) expected[o + u]! += p * key(j).v(u);
          }
        }
      }
    }
  }

  const mem = new Arena(c.offset);
  try {
    const d = new Int32Array(Object.keys(ATT).length);
    d[ATT.BATCH] = B; d[ATT.QUERIES] = c.nq; d[ATT.HEADS] = H; d[ATT.KV_HEADS] = KVH; d[ATT.UNITS] = U; d[ATT.SINKS] = S;
    d[ATT.Q_RING] = mem.f32(qRing); d[ATT.Q_CAP] = c.qCap; d[ATT.Q_HEAD] = qHead; d[ATT.Q_RING_MASK] = mem.u8(qRingMask);
    d[ATT.Q_LIN] = mem.f32(qLin); d[ATT.Q_STRIDE] = qStride; d[ATT.Q_BATCH_STRIDE] = c.qLin * qStride; d[ATT.Q_LIN_MASK] = mem.u8(qLinMask); d[ATT.Q_LIN_COUNT] = c.qLin;
    d[ATT.K_RING] = mem.f32(kRing); d[ATT.V_RING] = mem.f32(vRing); d[ATT.KV_CAP] = c.kvCap; d[ATT.KV_HEAD] = kvHead; d[ATT.KV_RING_MASK] = mem.u8(kvRingMask);
    d[ATT.K_LIN] = mem.f32(kLin); d[ATT.V_LIN] = mem.f32(vLin); d[ATT.KV_STRIDE] = kvStride; d[ATT.KV_BATCH_STRIDE] = c.kvLin * kvStride;
    d[ATT.KV_LIN_MASK] = mem.u8(kvLinMask); d[ATT.KV_LIN_COUNT] = c.kvLin; d[ATT.KV_FIRST] = c.kvFirst;
    d[ATT.Q_OFFSET] = c.qOffset; d[ATT.PAST] = c.past; d[ATT.FUTURE] = c.future;
    d[ATT.Q_SCALE] = mem.f32(qScale); d[ATT.K_SCALE] = c.kScale ? mem.f32(kScale) : 0; d[ATT.Q_BIAS] = c.qBias ? mem.f32(qBias) : 0;
    d[ATT.SINK_KEYS] = S && !c.scalars ? mem.f32(sinkKeys) : 0; d[ATT.SINK_VALUES] = S && !c.scalars ? mem.f32(sinkValues) : 0; d[ATT.SINK_SCALARS] = c.scalars ? mem.f32(sinkScalars) : 0;
    d[ATT.REL_MODE] = c.relMode; d[ATT.REL_TABLE] = mem.f32(relTable); d[ATT.REL_BUCKETS] = buckets; d[ATT.REL_BUCKET_MAP] = mem.i32(bucketMap);
    d[ATT.D_LO] = dLo; d[ATT.D_HI] = dHi; d[ATT.REL_Q_BIAS] = mem.f32(relQBias);
    d[ATT.ZERO_FULLY_MASKED] = c.zeroFullyMasked ? 1 : 0;
    d[ATT.WINDOW_BLOCK] = c.block;
    d[ATT.SEGMENTS] = c.segments ? 1 : 0;
    d[ATT.Q_RING_SEG] = mem.i32(qRingSeg); d[ATT.Q_LIN_SEG] = mem.i32(qLinSeg); d[ATT.KV_RING_SEG] = mem.i32(kvRingSeg); d[ATT.KV_LIN_SEG] = mem.i32(kvLinSeg);
    d[ATT.POSITIONS] = c.positions ? 1 : 0;
    d[ATT.Q_RING_POS] = mem.i32(qRingPos); d[ATT.Q_LIN_POS] = mem.i32(qLinPos); d[ATT.KV_RING_POS] = c.indexKeys ? 0 : mem.i32(kvRingPos); d[ATT.KV_LIN_POS] = c.indexKeys ? 0 : mem.i32(kvLinPos);
    const outLen = B * c.nq * H * U, probLen = B * c.nq * H * probRow;
    const out = mem.out(outLen), outMask = mem.out(Math.ceil((B * c.nq) / 4)), probs = c.probs ? mem.out(probLen) : 0;
    d[ATT.OUT] = out; d[ATT.OUT_MASK] = outMask; d[ATT.PROBS] = probs;
    const scratchLen = (H + 1) * U + buckets + H + (H + 3) * probRow;
    const scratch = mem.out(scratchLen);
    d[ATT.SCRATCH] = scratch;
    const desc = mem.i32(d);
    new Float32Array(rt.memory.buffer, desc + ATT.SOFT_CAP * 4, 1)[0] = c.softCap;
    rt.k.f32_attention(desc);

    const got = rt.f32.slice(out >> 2, (out >> 2) + outLen);
    // The logits' f32 rounding grows with the units summed: measured 4.4e-7 at U <= 17, 1.04e-6 at U = 64.
    const tol = 1e-6 * Math.max(1, Math.sqrt(U / 16));
    for (let i = 0; i < outLen; i++) {
      const want = expected[i]!;
      if (!(Math.abs(got[i]! - want) <= tol * (1 + Math.abs(want)))) expect.fail(`${JSON.stringify(c)}: out[${i}] = ${got[i]}, reference ${want}`);
    }
    expect(Array.from(rt.u8.slice(outMask, outMask + B * c.nq))).toEqual(expectedMask);
    if (probs) {
      const gp = rt.f32.slice(probs >> 2, (probs >> 2) + probLen);
      for (let i = 0; i < probLen; i++) {
        if (!(Math.abs(gp[i]! - expectedProbs[i]!) <= 3e-6)) expect.fail(`${JSON.stringify(c)}: probs[${i}] = ${gp[i]}, reference ${expectedProbs[i]}`);
      }
      mem.guards(probs, probLen * 4, 'probs');
    }
    mem.guards(out, outLen * 4, 'out');
    mem.guards(outMask, B * c.nq, 'out mask');
    mem.guards(scratch, scratchLen * 4, 'scratch');
  } finally {
    mem.free();
  }
}

const base: Case = {
  batch: 2, nq: 5, heads: 2, kvHeads: 1, units: 5, sinks: 0, scalars: false, qCap: 0, qLin: 5, kvCap: 0, kvLin: 7,
  past: -1, future: -1, qOffset: 0, kvFirst: 0, softCap: 0, kScale: false, qBias: false, relMode: 0, zeroFullyMasked: false,
  probs: true, offset: 0, seed: 1, segments: false, positions: false, block: 1, indexKeys: false,
};

describe('f32_attention', () => {
  it('units around the SIMD width, MHA and GQA, unaligned pointers', () => {
    let seed = 10;
    for (const units of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 24, 25, 64]) {
      for (const [heads, kvHeads] of [[1, 1], [2, 1], [4, 2], [3, 3]] as const) {
        for (const offset of [0, 4, 8, 12]) run({ ...base, units, heads, kvHeads, offset, seed: seed++ });
      }
    }
  });

  it('keys in a ring (every head) then a linear block, with windows and KV_FIRST', () => {
    let seed = 100;
    for (const kvCap of [1, 3, 7]) {
      for (const kvLin of [0, 1, 4]) {
        for (const [past, future] of [[-1, -1], [2, 0], [0, 3], [3, 1], [-1, 0]] as const) {
          for (const kvFirst of [0, 2]) {
            for (let rep = 0; rep < 2; rep++) {
              run({ ...base, kvCap, kvLin, past, future, kvFirst, qOffset: kvCap - Math.max(0, future), qCap: 0, qLin: 4, nq: 4, seed: seed++ });
            }
          }
        }
      }
    }
  });

  it('queries from a delay ring then a linear block', () => {
    let seed = 200;
    for (const qCap of [1, 2, 3]) {
      for (const nq of [1, 2, 4]) run({ ...base, qCap, qLin: 4, nq, kvCap: 4, kvLin: 4, past: 3, future: 1, qOffset: 3, seed: seed++ });
    }
  });

  it('many keys: logits three at a time, values four keys at a time (and 1-3 left), sinks without values', () => {
    let seed = 250;
    for (const [kvCap, kvLin] of [[20, 17], [37, 0], [0, 40]] as const) {
      for (const [sinks, scalars] of [[0, false], [2, false], [1, true]] as const) {
        for (const units of [5, 24, 64]) {
          run({ ...base, kvCap, kvLin, sinks, scalars, units, past: -1, future: 0, qOffset: kvCap, qLin: 3, nq: 3, seed: seed++ });
        }
      }
    }
  });

  it('sinks, soft cap, per-unit scales, query bias, zero_fully_masked', () => {
    let seed = 300;
    for (const [sinks, scalars] of [[0, false], [1, false], [3, false], [1, true]] as const) {
      for (const softCap of [0, 1.5]) {
        for (const kScale of [false, true]) {
          run({ ...base, sinks, scalars, softCap, kScale, qBias: kScale, seed: seed++ });
          run({ ...base, sinks, scalars, softCap, kScale, past: 1, future: 0, kvLin: 5, seed: seed++ });
        }
      }
    }
    for (let rep = 0; rep < 4; rep++) run({ ...base, zeroFullyMasked: true, past: 0, future: 0, seed: seed++ });
  });

  it('relative position modes 1 (table), 2 (raw query), 3 (scaled query + bias)', () => {
    let seed = 400;
    for (const relMode of [1, 2, 3] as const) {
      for (const units of [3, 8]) {
        run({ ...base, relMode, units, kvCap: 3, kvLin: 5, qOffset: 3, past: 4, future: 1, seed: seed++ });
        run({ ...base, relMode, units, qBias: relMode === 3, seed: seed++ });
      }
    }
  });

  it('segment ids, windows of positions (blocks of 1 to 3 steps), both, over rings and linear blocks', () => {
    let seed = 500;
    for (const [segments, positions] of [[true, false], [false, true], [true, true]] as const) {
      for (const block of positions ? [1, 2, 3] : [1]) {
        for (const [past, future] of [[-1, -1], [2, 0], [0, 3], [3, 1], [-1, 0]] as const) {
          run({ ...base, segments, positions, block, past, future, seed: seed++ });
          run({ ...base, segments, positions, block, past, future, kvCap: 5, kvLin: 3, kvFirst: 1, qCap: 2, qLin: 3, nq: 4, qOffset: 4, seed: seed++ });
          run({ ...base, segments, positions, block, past, future, kvCap: 20, kvLin: 17, qLin: 3, nq: 3, units: 24, sinks: 1, seed: seed++ });
        }
      }
    }
  });

  it('relative positions over given positions: query positions against key positions, or against logical indices (KV position pointers 0)', () => {
    let seed = 600;
    for (const relMode of [1, 2, 3] as const) {
      for (const indexKeys of [false, true]) {
        run({ ...base, relMode, positions: true, indexKeys, seed: seed++ });
        run({ ...base, relMode, positions: true, indexKeys, segments: true, kvCap: 3, kvLin: 5, qCap: 1, qLin: 3, nq: 4, qOffset: 3, past: 4, future: 1, seed: seed++ });
      }
    }
  });

  it('no queries, or no keys at all', () => {
    run({ ...base, nq: 0, qLin: 0 });
    run({ ...base, kvLin: 0, kvCap: 0 });
    run({ ...base, kvLin: 0, kvCap: 0, sinks: 2 });
  });
});

describe('seq_ring_write', () => {
  it('writes the last min(n, cap) rows at head + t mod cap, strided source, nothing else', () => {
    for (const cap of [1, 3, 5]) {
      for (const n of [0, 1, 2, 5, 7]) {
        for (let head = 0; head < cap; head++) {
          for (const [rowBytes, stride] of [[12, 12], [12, 20], [1, 1], [1, 3]] as const) {
            const batch = 2;
            const src = Uint8Array.from({ length: batch * n * stride }, (_, i) => (i * 7 + 1) & 255);
            const dst = new Uint8Array(batch * cap * rowBytes).fill(200);
            const expected = dst.slice();
            for (let b = 0; b < batch; b++) {
              for (let t = Math.max(0, n - cap); t < n; t++) {
                const s = (head + t) % cap;
                expected.set(src.subarray((b * n + t) * stride, (b * n + t) * stride + rowBytes), (b * cap + s) * rowBytes);
              }
            }
            const ps = rt.heap.alloc(src.length + 16), pd = rt.heap.alloc(dst.length + 32);
            rt.u8.set(src, ps);
            rt.u8.fill(77, pd, pd + dst.length + 32);
            rt.u8.set(dst, pd + 8);
            rt.k.seq_ring_write(batch, n, cap, head, rowBytes, stride, ps, pd + 8);
            expect(Array.from(rt.u8.slice(pd + 8, pd + 8 + dst.length))).toEqual(Array.from(expected));
            expect(Array.from(rt.u8.slice(pd, pd + 8))).toEqual(Array(8).fill(77));
            expect(Array.from(rt.u8.slice(pd + 8 + dst.length, pd + 16 + dst.length))).toEqual(Array(8).fill(77));
            rt.heap.release(ps);
            rt.heap.release(pd);
          }
        }
      }
    }
  });
});
