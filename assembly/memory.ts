// Byte-level copies over [batch, time, row] tensors: the time-axis bookkeeping every streaming
// layer needs (concatenating a state buffer with a block, keeping the tail, padding).
// A "row" is one time step of one batch item: C floats for values, 1 byte for a mask.

/** First byte after the static data; the JS allocator owns memory from here on. */
export function heap_base(): usize {
  return __heap_base;
}

/** dst[0..n) = src[0..n) (bytes; regions may overlap). */
export function mem_copy(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}

/** dst[0..n) = value (bytes). */
export function mem_fill(dst: usize, value: u8, n: usize): void {
  memory.fill(dst, value, n);
}

/** y[0..n) = value (f32). */
export function f32_fill(n: i32, value: f32, y: usize): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v);
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), value);
}

/**
 * out[b] = a[b] ‖ c[b] along time: a [B, Ta, row], c [B, Tc, row] -> out [B, Ta + Tc, row].
 * rowBytes = bytes per time step. out must not overlap a or c.
 */
export function seq_concat_time(batch: i32, ta: i32, tc: i32, rowBytes: i32, a: usize, c: usize, out: usize): void {
  const sa = <usize>(ta * rowBytes), sc = <usize>(tc * rowBytes);
  for (let b = 0; b < batch; b++) {
    const o = out + <usize>b * (sa + sc);
    memory.copy(o, a + <usize>b * sa, sa);
    memory.copy(o + sa, c + <usize>b * sc, sc);
  }
}

/** out [B, tOut, row] = src[:, t0 : t0 + tOut] where src is [B, tIn, row]; no overlap. */
export function seq_slice_time(batch: i32, tIn: i32, t0: i32, tOut: i32, rowBytes: i32, src: usize, out: usize): void {
  const si = <usize>(tIn * rowBytes), so = <usize>(tOut * rowBytes);
  for (let b = 0; b < batch; b++) {
    memory.copy(out + <usize>b * so, src + <usize>b * si + <usize>(t0 * rowBytes), so);
  }
}

/**
 * state [B, W, row] = the last W steps of [state ‖ block] along time, in place; block
 * [B, T, row] must not overlap state. The buffer of a streaming layer after a block.
 */
export function seq_shift_in(batch: i32, w: i32, t: i32, rowBytes: i32, state: usize, block: usize): void {
  const sw = <usize>(w * rowBytes), st = <usize>(t * rowBytes);
  const kept = t < w ? sw - st : 0;
  for (let b = 0; b < batch; b++) {
    const sb = state + <usize>b * sw, bb = block + <usize>b * st;
    if (kept) memory.copy(sb, sb + st, kept);
    memory.copy(sb + kept, bb + st - (sw - kept), sw - kept);
  }
}

/**
 * out [B, left + T + right, row] = src padded in time; the padding bytes are leftByte and
 * rightByte (0 gives 0.0f values or invalid mask steps, 1 gives valid mask steps).
 */
export function seq_pad_time(
  batch: i32, t: i32, left: i32, right: i32, rowBytes: i32,
  src: usize, out: usize, leftByte: u8, rightByte: u8,
): void {
  const si = <usize>(t * rowBytes), sl = <usize>(left * rowBytes), sr = <usize>(right * rowBytes);
  const so = sl + si + sr;
  for (let b = 0; b < batch; b++) {
    const o = out + <usize>b * so;
    memory.fill(o, leftByte, sl);
    memory.copy(o + sl, src + <usize>b * si, si);
    memory.fill(o + sl + si, rightByte, sr);
  }
}

/** 1 in the relaxed-SIMD build, 0 in the baseline SIMD build. */
export function relaxed_build(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** out[b, t] = src[b, T - 1 - t] for [B, T, row] tensors (rowBytes per step); no overlap. */
export function seq_reverse_time(batch: i32, t: i32, rowBytes: i32, src: usize, out: usize): void {
  const r = <usize>rowBytes, s = <usize>(t * rowBytes);
  for (let b = 0; b < batch; b++) {
    const ib = src + <usize>b * s, ob = out + <usize>b * s;
    for (let i = 0; i < t; i++) memory.copy(ob + <usize>(t - 1 - i) * r, ib + <usize>i * r, r);
  }
}

/** dst[b, t0 : t0 + n] = src[b, 0 : n] for src [B, n, row] and dst [B, tDst, row]; no overlap. */
export function seq_place_time(batch: i32, n: i32, tDst: i32, t0: i32, rowBytes: i32, src: usize, dst: usize): void {
  const sn = <usize>(n * rowBytes), sd = <usize>(tDst * rowBytes);
  for (let b = 0; b < batch; b++) memory.copy(dst + <usize>b * sd + <usize>(t0 * rowBytes), src + <usize>b * sn, sn);
}
