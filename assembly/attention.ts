// Attention kernels of src/layers/attention/: fused multi-head dot-product attention of a block
// of queries over keys held in two parts (a ring buffer, the KV cache, then a linear block), and
// the ring-buffer write that keeps a cache (and a query delay buffer) up to date.
//
// Every score, softmax and weighted sum of one (batch item, query, head) is computed from the
// same keys in the same chronological order, whichever part holds them: a stream stepped in
// blocks of any size (keys in the ring) equals one call over the whole sequence (keys in the
// linear part), bit for bit. Keys that are not visible (masked, outside the window) are
// skipped, never read: NaN or Inf stored at invalid steps cannot reach a valid output.
import { expShiftedSum } from './activations';
import { expV, tanhV } from './math';
import { hmax, hsum, loadLanes, madd, storeLanes } from './simd';

// Descriptor slots of f32_attention (i32 unless noted); mirrored by ATT in
// src/layers/attention/common.ts.
const BATCH = 0; // B
const QUERIES = 1; // nq: output queries per batch item
const HEADS = 2; // H query heads
const KV_HEADS = 3; // KVH key/value heads (H % KVH == 0; query head h reads the kv head KV_CYCLE says)
const UNITS = 4; // U units per head
const SINKS = 5; // S sink positions (0 = none)
const Q_RING = 6; // queries ring [B, Q_CAP, H, U] (the query delay buffer)
const Q_CAP = 7; // its capacity (0 = no ring)
const Q_HEAD = 8; // slot of its oldest query (logical query 0)
const Q_RING_MASK = 9; // u8 [B, Q_CAP]
const Q_LIN = 10; // linear queries: query t of item b at Q_LIN + (b * Q_BATCH_STRIDE + t * Q_STRIDE) elements
const Q_STRIDE = 11;
const Q_BATCH_STRIDE = 12;
const Q_LIN_MASK = 13; // u8 [B, Q_LIN_COUNT]
const Q_LIN_COUNT = 14;
const K_RING = 15; // keys ring [B, KV_CAP, KVH, U]
const V_RING = 16; // values ring, same layout
const KV_CAP = 17; // ring capacity (0 = no ring)
const KV_HEAD = 18; // slot of the oldest key (logical key 0)
const KV_RING_MASK = 19; // u8 [B, KV_CAP]
const K_LIN = 20; // linear keys: key t of item b at K_LIN + (b * KV_BATCH_STRIDE + t * KV_STRIDE) elements
const V_LIN = 21; // linear values, same strides
const KV_STRIDE = 22;
const KV_BATCH_STRIDE = 23;
const KV_LIN_MASK = 24; // u8 [B, KV_LIN_COUNT]
const KV_LIN_COUNT = 25;
const KV_FIRST = 26; // logical keys below this one were never written: the window starts here at the earliest
const Q_OFFSET = 27; // query i sits at logical key position i + Q_OFFSET
const PAST = 28; // keys visible before it (-1 = all)
const FUTURE = 29; // keys visible after it (-1 = all)
const Q_SCALE = 30; // f32 [U]: query scale per unit
const K_SCALE = 31; // f32 [U] key scale per unit, or 0 (1)
const Q_BIAS = 32; // f32 [H, U] added to the scaled query for the content logits (Transformer-XL u), or 0
const SINK_KEYS = 33; // f32 [S, H, U] sink key embeddings, or 0
const SINK_VALUES = 34; // f32 [S, KVH, U] sink values, or 0 (zero values)
const SINK_SCALARS = 35; // f32 [H] sink logits (S = 1), or 0
const REL_MODE = 36; // relative position logit bias: 0 none, 1 table, 2 raw query · E, 3 (scaled query + REL_Q_BIAS) · E
const REL_TABLE = 37; // mode 1: f32 [REL_BUCKETS, H]; modes 2, 3: f32 [REL_BUCKETS, H, U]
const REL_BUCKETS = 38;
const REL_BUCKET_MAP = 39; // i32 [D_HI - D_LO + 1]: bucket of a relative distance key - query, clamped to [D_LO, D_HI]
const D_LO = 40;
const D_HI = 41;
const REL_Q_BIAS = 42; // mode 3: f32 [H, U] (Transformer-XL v), or 0
const SOFT_CAP = 43; // f32: cap * tanh(logit / cap) when > 0
const ZERO_FULLY_MASKED = 44; // 1: a query that sees no key gets zero probabilities
const OUT = 45; // f32 [B, nq, H, U]
const OUT_MASK = 46; // u8 [B, nq] validity of each query, or 0 (not written)
const PROBS = 47; // f32 [B, nq, H, S + KV_CAP + KV_LIN_COUNT], or 0 (not written)
const SCRATCH = 48; // (H + 1) U + REL_BUCKETS + H + (H + 3) (S + KV_CAP + KV_LIN_COUNT) floats (see f32_attention)
const WINDOW_BLOCK = 49; // windows start at the query's block of this many steps (0 or 1: at the query)
const WINDOW_PHASE = 50; // logical key j is step j + WINDOW_PHASE of the blocks' grid (0 <= phase < WINDOW_BLOCK)
const SEGMENTS = 51; // 1: a query sees only keys of its own segment id (the four i32 arrays below)
const Q_RING_SEG = 52; // i32 [B, Q_CAP] segment ids of the query ring
const Q_LIN_SEG = 53; // i32 [B, Q_LIN_COUNT] of the linear queries
const KV_RING_SEG = 54; // i32 [B, KV_CAP] of the KV ring
const KV_LIN_SEG = 55; // i32 [B, KV_LIN_COUNT] of the linear keys
const POSITIONS = 56; // 1: windows by the positions below instead of logical indices
const Q_RING_POS = 57; // i32 [B, Q_CAP] positions of the query ring
const Q_LIN_POS = 58; // i32 [B, Q_LIN_COUNT] of the linear queries
const KV_RING_POS = 59; // i32 [B, KV_CAP] of the KV ring, or 0 (logical indices)
const KV_LIN_POS = 60; // i32 [B, KV_LIN_COUNT] of the linear keys, or 0 (logical indices)
const KV_CYCLE = 61; // 1: query head h reads kv head h % KVH (the reference's flash attention); 0: h / (H / KVH)

/** Lane indices, to mask the lanes of a partial vector. */
const LANES = i32x4(0, 1, 2, 3);

@inline function slot(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}
@inline function ptr(d: usize, i: i32): usize {
  return <usize>load<i32>(d + (<usize>i << 2));
}

/**
 * a · b over n floats from two partial sums: even 4-float chunks into the first, odd ones and
 * the partial tail into the second (two chains: half the rounding error of one on long rows).
 * dot3() sums each key in the same order, so a key's logit is bit-identical whichever of the
 * two computes it.
 */
@inline function dot(n: i32, a: usize, b: usize): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    i += 4;
  }
  if (i < n) {
    const o = <usize>i << 2;
    s1 = madd(loadLanes(a + o, n - i), loadLanes(b + o, n - i), s1);
  }
  return hsum(f32x4.add(s0, s1));
}

/**
 * a · b0, a · b1, a · b2 into out[0 .. 3), each summed exactly as dot() does. Six chains hide
 * the madd latency; with the two query vectors and six loaded ones that is 14 registers, which
 * V8 keeps in registers (four keys, eight chains, spill).
 */
@inline function dot3(n: i32, a: usize, b0: usize, b1: usize, b2: usize, out: usize): void {
  let x0 = f32x4.splat(0), y0 = f32x4.splat(0), x1 = f32x4.splat(0), y1 = f32x4.splat(0), x2 = f32x4.splat(0), y2 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const qa = v128.load(a + o), qb = v128.load(a + o, 16);
    x0 = madd(qa, v128.load(b0 + o), x0); y0 = madd(qb, v128.load(b0 + o, 16), y0);
    x1 = madd(qa, v128.load(b1 + o), x1); y1 = madd(qb, v128.load(b1 + o, 16), y1);
    x2 = madd(qa, v128.load(b2 + o), x2); y2 = madd(qb, v128.load(b2 + o, 16), y2);
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    const qa = v128.load(a + o);
    x0 = madd(qa, v128.load(b0 + o), x0);
    x1 = madd(qa, v128.load(b1 + o), x1);
    x2 = madd(qa, v128.load(b2 + o), x2);
    i += 4;
  }
  if (i < n) {
    const o = <usize>i << 2, m = n - i;
    const qa = loadLanes(a + o, m);
    y0 = madd(qa, loadLanes(b0 + o, m), y0);
    y1 = madd(qa, loadLanes(b1 + o, m), y1);
    y2 = madd(qa, loadLanes(b2 + o, m), y2);
  }
  // hsum of each key's [a, b, c, d] is (a + c) + (b + d): the same adds, three keys at once.
  const s0 = f32x4.add(x0, y0), s1 = f32x4.add(x1, y1), s2 = f32x4.add(x2, y2);
  const h01 = f32x4.add(i32x4.shuffle(s0, s1, 0, 1, 4, 5), i32x4.shuffle(s0, s1, 2, 3, 6, 7));
  const h2 = f32x4.add(s2, i32x4.shuffle(s2, s2, 2, 3, 0, 1));
  const r = f32x4.add(i32x4.shuffle(h01, h2, 0, 2, 4, 6), i32x4.shuffle(h01, h2, 1, 3, 5, 7));
  v128.store64_lane(out, r, 0);
  store<f32>(out, f32x4.extract_lane(r, 2), 8);
}

/** Whether a key is visible: its mask set, and with them its segment id (at seg) the query's and its position in [pLo, pHi]. */
@inline function visible(mask: u8, segments: bool, seg: usize, qSeg: i32, positions: bool, position: i64, pLo: i64, pHi: i64): bool {
  let v = mask != 0;
  if (segments) v = v && load<i32>(seg) == qSeg;
  if (positions) v = v && position >= pLo && position <= pHi;
  return v;
}

/** The position of a key held at `at` in a positions array, or without one (0) its logical index j. */
@inline function keyPosition(positions: usize, at: usize, j: i32): i64 {
  return positions ? <i64>load<i32>(positions + (at << 2)) : <i64>j;
}

/**
 * out[0 .. m) += p0 v0 + p1 v1 + p2 v2 + p3 v3 (m <= 4 floats; the values of four keys, in list
 * order): each element is one chain of madds over the keys in list order, however the keys are
 * grouped. Loading and storing out around each four keys' madds measured faster than six
 * accumulators kept in registers over blocks of 16 keys (8 x 64 over 257 keys: the kernel
 * 29.0 -> 26.2 µs): those accumulators' madds waited on each other.
 */
@inline function addFourKeys(m: i32, out: usize, v0: usize, v1: usize, v2: usize, v3: usize, p0: v128, p1: v128, p2: v128, p3: v128): void {
  if (m == 4) {
    let a = v128.load(out);
    a = madd(p0, v128.load(v0), a);
    a = madd(p1, v128.load(v1), a);
    a = madd(p2, v128.load(v2), a);
    a = madd(p3, v128.load(v3), a);
    v128.store(out, a);
  } else {
    let a = loadLanes(out, m);
    a = madd(p0, loadLanes(v0, m), a);
    a = madd(p1, loadLanes(v1, m), a);
    a = madd(p2, loadLanes(v2, m), a);
    a = madd(p3, loadLanes(v3, m), a);
    storeLanes(out, a, m);
  }
}

/**
 * Multi-head dot-product attention, one call for every batch item, query and head. The
 * descriptor at `d` (i32 slots listed above; pointers are byte addresses, strides elements)
 * describes:
 *
 * - queries: logical query i of item b is the i-th of [query ring (Q_CAP, oldest first) ‖
 *   linear queries]; the first nq are answered. A query whose mask is 0 gets a zero output
 *   (and zero probabilities).
 * - keys and values: logical key j is the j-th of [KV ring (KV_CAP, oldest first) ‖ linear
 *   keys], K = KV_CAP + KV_LIN_COUNT in all. Query i sees the keys j in its window
 *   [c - PAST, c + FUTURE] ∩ [KV_FIRST, K) whose mask is 1, the others are never read; c is
 *   the query's logical position i + Q_OFFSET, or with WINDOW_BLOCK = W > 1 the first of its
 *   block (blockwise attention: c rounded down to a multiple of W, counted from -WINDOW_PHASE).
 *   With SEGMENTS, a key is visible only if its segment id equals the query's. With POSITIONS
 *   the window is one of positions instead: query i at position p (its block's first, p
 *   rounded down to a multiple of W) sees the keys j in [KV_FIRST, K) whose position is in
 *   [p - PAST, p + FUTURE] (the reference's LocalCausalMask and BlockwiseLocalCausalMask over
 *   given positions), and relative positions take the distance key position - query position;
 *   every key is scanned. A KV position pointer of 0 gives each key of that part its logical
 *   index as position (a cross attention's source steps).
 * - logits: l_j = ((q ⊙ Q_SCALE + Q_BIAS_h) ⊙ K_SCALE) · k_j + bias_h(j - i - Q_OFFSET), then
 *   the soft cap. Sink logits (raw q · SINK_KEYS_s,h, or SINK_SCALARS_h) come first and are
 *   capped too. Relative position bias: rel_h[r] for the bucket r of the clamped distance,
 *   with rel_h[r] = REL_TABLE[r, h] (mode 1), q · REL_TABLE[r, h] (mode 2, raw query), or
 *   (q ⊙ Q_SCALE + REL_Q_BIAS_h) · REL_TABLE[r, h] (mode 3).
 * - softmax over the sinks and the visible keys (f32, max subtracted): e = exp(l - max), Σe
 *   summed in four lanes (keys k ≡ lane mod 4, in list order) then as hsum(), p = e / Σe, and
 *   out = (Σ e_s SINK_VALUES_s + Σ e_j v_j) * (1 / Σe), sinks first, then keys in logical
 *   order, one chain of madds per output element. A query that sees no key and has no sink
 *   gets out = 0 and uniform probabilities over its window (zero with ZERO_FULLY_MASKED). The
 *   reference differs there unless zero_fully_masked: every masked key carries a -1e9 logit,
 *   so the softmax is uniform over all key columns of its call, outside the window too, and
 *   the output is the mean of their values (invalid ones zeroed), which is non-zero when any
 *   of them is a valid key. Only windowed cross attention (the streaming layers, when the
 *   source is invalid throughout a valid query's window) meets this: in self attention a valid
 *   query sees its own key, and without a window every key column is in view.
 *
 * Writes OUT [B, nq, H, U], OUT_MASK [B, nq] (the query masks) when not 0, and PROBS
 * [B, nq, H, S + K] when not 0 (zeros outside each window). SCRATCH holds, in floats: the
 * effective queries [H, U], the relative-position query [U], rel [REL_BUCKETS], 1 / Σe [H],
 * logits/probabilities [H, S + K], then three lists of S + K: value pointers, key pointers and
 * logical indices. Any sizes >= 1 (nq, S, KV_CAP, KV_LIN_COUNT, Q_CAP >= 0); no alignment
 * assumed; OUT, PROBS and SCRATCH must not overlap the inputs; never reads or writes past the
 * last element of any buffer. Measured error against an f64 reference
 * (test/kernels/attention.test.ts, both builds): |out - ref| <= 4.4e-7 (1 + |ref|) for U <= 17,
 * 1.04e-6 (1 + |ref|) for U = 24 .. 64 (the logits' f32 rounding grows with U).
 *
 * Work per query, all heads together: the visible keys are listed once (pointers to kv head
 * 0, without a division or a branch per key); the logits of three keys at a time come for every
 * head in turn (dot3: six independent chains), so the cache, whose steps hold the keys of all
 * heads side by side, is read front to back; exp runs on vectors; the weighted sum takes four
 * keys at a time for every head in turn (addFourKeys), the sums kept in OUT. Decode step d =
 * 512 (8 x 64) over 257 keys, relaxed build: 43 µs before (one head at a time, a list and a
 * division per key and head, scalar Σe, p = e / Σe per key, accumulators spilled) -> 28.5 µs
 * -> 26.2 µs (four keys at a time instead of blocks of 16 keys with six accumulators; the
 * logits' three horizontal sums together).
 */
export function f32_attention(d: usize): void {
  const batch = slot(d, BATCH), nq = slot(d, QUERIES), heads = slot(d, HEADS), kvHeads = slot(d, KV_HEADS);
  const u = slot(d, UNITS), sinks = slot(d, SINKS);
  const qRing = ptr(d, Q_RING), qCap = slot(d, Q_CAP), qHead = slot(d, Q_HEAD), qRingMask = ptr(d, Q_RING_MASK);
  const qLin = ptr(d, Q_LIN), qStride = slot(d, Q_STRIDE), qBatchStride = slot(d, Q_BATCH_STRIDE);
  const qLinMask = ptr(d, Q_LIN_MASK), qLinCount = slot(d, Q_LIN_COUNT);
  const kRing = ptr(d, K_RING), vRing = ptr(d, V_RING), kvCap = slot(d, KV_CAP), kvHead = slot(d, KV_HEAD);
  const kvRingMask = ptr(d, KV_RING_MASK);
  const kLin = ptr(d, K_LIN), vLin = ptr(d, V_LIN), kvStride = slot(d, KV_STRIDE), kvBatchStride = slot(d, KV_BATCH_STRIDE);
  const kvLinMask = ptr(d, KV_LIN_MASK), kvLinCount = slot(d, KV_LIN_COUNT), kvFirst = slot(d, KV_FIRST);
  const qOffset = slot(d, Q_OFFSET), past = slot(d, PAST), future = slot(d, FUTURE);
  const qScale = ptr(d, Q_SCALE), kScale = ptr(d, K_SCALE), qBias = ptr(d, Q_BIAS);
  const sinkKeys = ptr(d, SINK_KEYS), sinkValues = ptr(d, SINK_VALUES), sinkScalars = ptr(d, SINK_SCALARS);
  const relMode = slot(d, REL_MODE), relTable = ptr(d, REL_TABLE), relBuckets = slot(d, REL_BUCKETS);
  const bucketMap = ptr(d, REL_BUCKET_MAP), dLo = slot(d, D_LO), dHi = slot(d, D_HI), relQBias = ptr(d, REL_Q_BIAS);
  const cap = load<f32>(d + (<usize>SOFT_CAP << 2)), zeroFullyMasked = slot(d, ZERO_FULLY_MASKED) != 0;
  const block = max(1, slot(d, WINDOW_BLOCK)), phase = slot(d, WINDOW_PHASE);
  const out = ptr(d, OUT), outMask = ptr(d, OUT_MASK), probs = ptr(d, PROBS);
  const segments = slot(d, SEGMENTS) != 0, positions = slot(d, POSITIONS) != 0;
  const qRingSeg = ptr(d, Q_RING_SEG), qLinSeg = ptr(d, Q_LIN_SEG), kvRingSeg = ptr(d, KV_RING_SEG), kvLinSeg = ptr(d, KV_LIN_SEG);
  const qRingPos = ptr(d, Q_RING_POS), qLinPos = ptr(d, Q_LIN_POS), kvRingPos = ptr(d, KV_RING_POS), kvLinPos = ptr(d, KV_LIN_POS);

  const keys = kvCap + kvLinCount;
  const probRow = sinks + keys;
  // Query head h reads kv head offset h * headStep + (h / period) * periodStep (bytes, wrapping):
  // (h % KVH) U floats cycling, (h / group) U floats grouped. Head loops step it with a counter.
  const cycle = slot(d, KV_CYCLE) != 0, group = heads / kvHeads;
  const uB = <usize>u << 2, listB = <usize>probRow << 2, rowB = <usize>kvHeads * uB;
  const period = cycle ? kvHeads : group, headStep: usize = cycle ? uB : 0, periodStep: usize = cycle ? 0 - rowB : uB;
  // Scratch: effective queries [H, U], relative-position query [U], rel [REL_BUCKETS], 1 / Σe [H],
  // logits [H, S + K], then value pointers, key pointers and logical indices [S + K].
  const qe = ptr(d, SCRATCH), qr = qe + <usize>heads * uB, rel = qr + uB, inv = rel + (<usize>relBuckets << 2);
  const rows = inv + (<usize>heads << 2), vptr = rows + <usize>heads * listB, kptr = vptr + listB, jidx = kptr + listB;
  const vCap = f32x4.splat(cap);
  // Sinks without values add nothing to the output: the weighted sum starts after them.
  const from = sinkValues ? 0 : sinks;

  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < nq; i++) {
      // The query: ring (delayed queries) first, then the linear block; head h at qp + h U.
      let qp: usize, qm: u8, qSeg = 0, qPos = 0;
      if (i < qCap) {
        const s = (qHead + i) % qCap, e = <usize>(b * qCap + s);
        qp = qRing + e * <usize>heads * uB;
        qm = load<u8>(qRingMask + e);
        if (segments) qSeg = load<i32>(qRingSeg + (e << 2));
        if (positions) qPos = load<i32>(qRingPos + (e << 2));
      } else {
        const t = i - qCap, e = <usize>(b * qLinCount + t);
        qp = qLin + (<usize>(b * qBatchStride + t * qStride) << 2);
        qm = load<u8>(qLinMask + e);
        if (segments) qSeg = load<i32>(qLinSeg + (e << 2));
        if (positions) qPos = load<i32>(qLinPos + (e << 2));
      }
      if (outMask) store<u8>(outMask + <usize>(b * nq + i), qm);
      const op = out + <usize>(b * nq + i) * <usize>heads * uB;
      const pq = probs ? probs + (<usize>((b * nq + i) * heads * probRow) << 2) : 0;
      if (pq) memory.fill(pq, 0, <usize>heads * listB);
      if (!qm) {
        memory.fill(op, 0, <usize>heads * uB);
        continue;
      }

      // The window's visible keys, listed in logical order after the sinks, as pointers to
      // their kv head 0 (head h reads kvh U floats further).
      const c = i + qOffset, first = c - (c + phase) % block; // (c >= 0 where block > 1)
      let lo = max(0, max(kvFirst, past < 0 ? 0 : first - past));
      let hi = future < 0 ? keys - 1 : min(keys - 1, first + future);
      // A window of positions: every key is scanned and kept when its position is in [pLo, pHi].
      let pLo = i64.MIN_VALUE, pHi = i64.MAX_VALUE;
      if (positions) {
        lo = max(0, kvFirst);
        hi = keys - 1;
        const w = <i64>block, p = <i64>qPos - ((<i64>qPos % w + w) % w);
        if (past >= 0) pLo = p - <i64>past;
        if (future >= 0) pHi = p + <i64>future;
      }
      let n = sinks;
      // Ring part: slot (kvHead + j) mod kvCap, stepped without a division. Every key is
      // written at n and kept (n + 1) only when visible: its mask set (and its segment and
      // position in range).
      const ringHi = min(hi, kvCap - 1);
      if (lo <= ringHi) {
        const row = <usize>(b * kvCap), mk = kvRingMask + row, sk = kvRingSeg + (row << 2);
        const at = row * rowB;
        const kb = kRing + at, vb = vRing + at;
        let s = (kvHead + lo) % kvCap;
        for (let j = lo; j <= ringHi; j++) {
          const e = <usize>n << 2, off = <usize>s * rowB;
          store<i32>(kptr + e, <i32>(kb + off));
          store<i32>(vptr + e, <i32>(vb + off));
          store<i32>(jidx + e, j);
          const kp = positions ? keyPosition(kvRingPos, row + <usize>s, j) : 0;
          n += <i32>visible(load<u8>(mk + <usize>s), segments, sk + (<usize>s << 2), qSeg, positions, kp, pLo, pHi);
          if (++s == kvCap) s = 0;
        }
      }
      // Linear part.
      const row = <usize>(b * kvLinCount), mk = kvLinMask + row, sk = kvLinSeg + (row << 2);
      for (let j = max(lo, kvCap); j <= hi; j++) {
        const t = j - kvCap, e = <usize>n << 2;
        const off = <usize>(b * kvBatchStride + t * kvStride) << 2;
        store<i32>(kptr + e, <i32>(kLin + off));
        store<i32>(vptr + e, <i32>(vLin + off));
        store<i32>(jidx + e, j);
        const kp = positions ? keyPosition(kvLinPos, row + <usize>t, j) : 0;
        n += <i32>visible(load<u8>(mk + <usize>t), segments, sk + (<usize>t << 2), qSeg, positions, kp, pLo, pHi);
      }
      if (n == 0) {
        // Nothing to attend to: zero output; uniform probabilities as the reference's
        // all-masked softmax gives (unless zeroFullyMasked).
        memory.fill(op, 0, <usize>heads * uB);
        if (pq && hi >= lo && !zeroFullyMasked) {
          const p = f32(1) / f32(hi - lo + 1);
          for (let h = 0; h < heads; h++) {
            const pp = pq + <usize>h * listB;
            for (let j = lo; j <= hi; j++) store<f32>(pp + (<usize>(sinks + j) << 2), p);
          }
        }
        continue;
      }

      // Per head: the effective query of the content logits, (q * qs + u_h) * ks, and the
      // sink logits (raw query).
      for (let h = 0; h < heads; h++) {
        const qh = qp + <usize>h * uB, qeh = qe + <usize>h * uB, row = rows + <usize>h * listB;
        for (let j = 0; j < u; j += 4) {
          const o = <usize>j << 2, m = u - j;
          let v = f32x4.mul(loadLanes(qh + o, m), loadLanes(qScale + o, m));
          if (qBias) v = f32x4.add(v, loadLanes(qBias + <usize>h * uB + o, m));
          if (kScale) v = f32x4.mul(v, loadLanes(kScale + o, m));
          storeLanes(qeh + o, v, m);
        }
        for (let s = 0; s < sinks; s++) {
          const l = sinkScalars ? load<f32>(sinkScalars + (<usize>h << 2)) : dot(u, qh, sinkKeys + <usize>(s * heads + h) * uB);
          store<f32>(row + (<usize>s << 2), l);
        }
      }
      if (sinkValues) for (let s = 0; s < sinks; s++) store<i32>(vptr + (<usize>s << 2), <i32>(sinkValues + <usize>s * rowB));

      // Content logits, three keys at a time for every head in turn: the keys of all heads of
      // a step are adjacent, so the cache is read front to back.
      let t = sinks;
      for (; t + 3 <= n; t += 3) {
        const e = kptr + (<usize>t << 2), tB = <usize>t << 2;
        const k0 = <usize>load<i32>(e), k1 = <usize>load<i32>(e, 4), k2 = <usize>load<i32>(e, 8);
        // o: the offset of head h's kv head, stepped without a division per head (5 %).
        let o: usize = 0, g = 0;
        for (let h = 0; h < heads; h++) {
          dot3(u, qe + <usize>h * uB, k0 + o, k1 + o, k2 + o, rows + <usize>h * listB + tB);
          o += headStep;
          if (++g == period) { g = 0; o += periodStep; }
        }
      }
      for (; t < n; t++) {
        const k0 = <usize>load<i32>(kptr + (<usize>t << 2)), tB = <usize>t << 2;
        for (let h = 0; h < heads; h++) store<f32>(rows + <usize>h * listB + tB, dot(u, qe + <usize>h * uB, k0 + <usize>(cycle ? h % kvHeads : h / group) * uB));
      }

      for (let h = 0; h < heads; h++) {
        const row = rows + <usize>h * listB;
        // Relative position bias by the bucket of each key's distance.
        if (relMode) {
          const qh = qp + <usize>h * uB;
          if (relMode == 1) {
            for (let r = 0; r < relBuckets; r++) store<f32>(rel + (<usize>r << 2), load<f32>(relTable + (<usize>(r * heads + h) << 2)));
          } else {
            let qv = qh;
            if (relMode == 3) {
              for (let j = 0; j < u; j += 4) {
                const o = <usize>j << 2, m = u - j;
                let v = f32x4.mul(loadLanes(qh + o, m), loadLanes(qScale + o, m));
                if (relQBias) v = f32x4.add(v, loadLanes(relQBias + <usize>h * uB + o, m));
                storeLanes(qr + o, v, m);
              }
              qv = qr;
            }
            for (let r = 0; r < relBuckets; r++) store<f32>(rel + (<usize>r << 2), dot(u, qv, relTable + <usize>(r * heads + h) * uB));
          }
          for (let k = sinks; k < n; k++) {
            // The distance key - query: of positions when given, else of logical indices.
            const j = load<i32>(jidx + (<usize>k << 2));
            let d = <i64>(j - c);
            if (positions) {
              const ring = j < kvCap;
              d = ring ? keyPosition(kvRingPos, <usize>(b * kvCap + (kvHead + j) % kvCap), j) : keyPosition(kvLinPos, <usize>(b * kvLinCount + j - kvCap), j);
              d -= <i64>qPos;
            }
            const dist = <i32>min<i64>(dHi, max<i64>(dLo, d));
            const at = row + (<usize>k << 2);
            store<f32>(at, load<f32>(at) + load<f32>(rel + (<usize>load<i32>(bucketMap + (<usize>(dist - dLo) << 2)) << 2)));
          }
        }

        // Soft cap, max, e = exp(l - max) and Σe (four lanes, then hsum).
        let vmax = f32x4.splat(<f32>-Infinity);
        let k = 0;
        for (; k + 4 <= n; k += 4) {
          const at = row + (<usize>k << 2);
          let l = v128.load(at);
          if (cap > 0) {
            l = f32x4.mul(vCap, tanhV(f32x4.div(l, vCap)));
            v128.store(at, l);
          }
          vmax = f32x4.max(vmax, l);
        }
        const tail = n - k, tailLanes = i32x4.lt_s(LANES, i32x4.splat(tail));
        if (tail) {
          const at = row + (<usize>k << 2);
          let l = loadLanes(at, tail);
          if (cap > 0) {
            l = f32x4.mul(vCap, tanhV(f32x4.div(l, vCap)));
            storeLanes(at, l, tail);
          }
          // Missing lanes (zeros) must not raise the max: keep -Inf there.
          vmax = f32x4.max(vmax, v128.bitselect(l, f32x4.splat(<f32>-Infinity), tailLanes));
        }
        const vm = f32x4.splat(hmax(vmax));
        k = n & ~3;
        let vsum = expShiftedSum(k, row, row, vm);
        if (tail) {
          const at = row + (<usize>k << 2);
          const e = v128.and(expV(f32x4.sub(loadLanes(at, tail), vm)), tailLanes);
          storeLanes(at, e, tail);
          vsum = f32x4.add(vsum, e);
        }
        const sum = hsum(vsum);
        store<f32>(inv + (<usize>h << 2), f32(1) / sum);
        if (pq) {
          const pp = pq + <usize>h * listB;
          for (let k = 0; k < sinks; k++) store<f32>(pp + (<usize>k << 2), load<f32>(row + (<usize>k << 2)) / sum);
          for (let k = sinks; k < n; k++) store<f32>(pp + (<usize>(sinks + load<i32>(jidx + (<usize>k << 2))) << 2), load<f32>(row + (<usize>k << 2)) / sum);
        }
      }

      // out = (Σ e v) · (1 / Σe), sinks first, then keys.
      memory.fill(op, 0, <usize>heads * uB);
      let t0 = from;
      for (; t0 + 4 <= n; t0 += 4) {
        const e = vptr + (<usize>t0 << 2), tB = <usize>t0 << 2;
        const v0 = <usize>load<i32>(e), v1 = <usize>load<i32>(e, 4), v2 = <usize>load<i32>(e, 8), v3 = <usize>load<i32>(e, 12);
        let vo: usize = 0, g = 0; // head h's kv head offset, as for the logits
        for (let h = 0; h < heads; h++) {
          const oh = op + <usize>h * uB, row = rows + <usize>h * listB + tB;
          const p0 = f32x4.splat(load<f32>(row)), p1 = f32x4.splat(load<f32>(row, 4)), p2 = f32x4.splat(load<f32>(row, 8)), p3 = f32x4.splat(load<f32>(row, 12));
          // Whole vectors, then the partial one (a branch on the width inside the loop cost 1.3x).
          let j = 0;
          for (; j + 4 <= u; j += 4) {
            const o = vo + (<usize>j << 2);
            addFourKeys(4, oh + (<usize>j << 2), v0 + o, v1 + o, v2 + o, v3 + o, p0, p1, p2, p3);
          }
          if (j < u) {
            const o = vo + (<usize>j << 2);
            addFourKeys(u - j, oh + (<usize>j << 2), v0 + o, v1 + o, v2 + o, v3 + o, p0, p1, p2, p3);
          }
          vo += headStep;
          if (++g == period) { g = 0; vo += periodStep; }
        }
      }
      for (; t0 < n; t0++) {
        const v0 = <usize>load<i32>(vptr + (<usize>t0 << 2)), tB = <usize>t0 << 2;
        for (let h = 0; h < heads; h++) {
          const vo = <usize>(cycle ? h % kvHeads : h / group) * uB, oh = op + <usize>h * uB, p0 = f32x4.splat(load<f32>(rows + <usize>h * listB + tB));
          for (let j = 0; j < u; j += 4) {
            const o = vo + (<usize>j << 2), m = u - j, oo = oh + (<usize>j << 2);
            storeLanes(oo, madd(p0, loadLanes(v0 + o, m), loadLanes(oo, m)), m);
          }
        }
      }
      for (let h = 0; h < heads; h++) {
        const oh = op + <usize>h * uB, sc = f32x4.splat(load<f32>(inv + (<usize>h << 2)));
        for (let j = 0; j < u; j += 4) {
          const o = <usize>j << 2, m = u - j;
          storeLanes(oh + o, f32x4.mul(loadLanes(oh + o, m), sc), m);
        }
      }
    }
  }
}

/**
 * Appends n rows per batch item to ring buffers of `cap` rows: row t of item b, at
 * src + (b * n + t) * srcStrideBytes, goes to slot (head + t) % cap of dst [batch, cap,
 * rowBytes]. Only the last min(n, cap) rows are written (the earlier ones would be
 * overwritten by this call anyway). Serves the KV cache and the query delay buffer (values
 * and masks: rowBytes 1) and, with head 0 and cap n, a strided row copy. Sizes in bytes
 * here, as the other time-axis copies (assembly/memory.ts); src must not overlap dst.
 */
export function seq_ring_write(batch: i32, n: i32, cap: i32, head: i32, rowBytes: i32, srcStrideBytes: i32, src: usize, dst: usize): void {
  const first = max(0, n - cap);
  for (let b = 0; b < batch; b++) {
    for (let t = first; t < n; t++) {
      const s = (head + t) % cap;
      memory.copy(dst + <usize>(b * cap + s) * <usize>rowBytes, src + <usize>(b * n + t) * <usize>srcStrideBytes, <usize>rowBytes);
    }
  }
}
