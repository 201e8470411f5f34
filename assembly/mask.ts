// Mask kernels. A mask is u8 [B, T] with 1 = valid step, 0 = invalid (the reference's bool mask).

/**
 * The end of the run of mask bytes equal to `byte` (0 or 1) that starts at `from`: the first r
 * in [from, to) whose byte differs, else `to`. Eight bytes at a time: framing 16 kHz audio
 * scans 400 bytes per frame, which one byte at a time took longer than copying the frame (STFT
 * 400/160 over 40,960 samples: seq_frame 4.4 % of a frontend's layer() call). Shared by
 * seq_frame (assembly/dsp.ts) and f32_mask_invalid.
 */
@inline export function runEnd(mb: usize, from: i32, to: i32, byte: u8): i32 {
  const word = <u64>byte * 0x0101010101010101;
  let r = from;
  while (r + 8 <= to && load<u64>(mb + <usize>r) == word) r += 8;
  while (r < to && load<u8>(mb + <usize>r) == byte) r++;
  return r;
}

/**
 * Replaces the values of invalid steps by `fill` (the reference's mask_invalid): a select,
 * never a multiply, so NaN or Inf at invalid steps disappear. x, y [B*T, C]; may run in place.
 * Runs of valid rows are copied with one memory.copy each (V8 calls out for every copy, which
 * for rows of one float, as audio samples are, cost more than the copying).
 */
export function f32_mask_invalid(rows: i32, c: i32, mask: usize, x: usize, y: usize, fill: f32): void {
  const rowBytes = <usize>c << 2;
  const v = f32x4.splat(fill);
  let r = 0;
  while (r < rows) {
    const o = <usize>r * rowBytes;
    if (load<u8>(mask + <usize>r)) {
      const end = runEnd(mask, r + 1, rows, load<u8>(mask + <usize>r));
      if (x != y) memory.copy(y + o, x + o, <usize>(end - r) * rowBytes);
      r = end;
    } else {
      let i = 0;
      for (; i + 4 <= c; i += 4) v128.store(y + o + (<usize>i << 2), v);
      for (; i < c; i++) store<f32>(y + o + (<usize>i << 2), fill);
      r++;
    }
  }
}

/**
 * out[b, j] = mask[b, offset + j * stride], or 0 where that index falls outside [0, tIn).
 * Covers mask[:, ::s] (offset 0) and the reference's one-tap "selector" used when stepping.
 */
export function mask_select(batch: i32, tIn: i32, tOut: i32, stride: i32, offset: i32, mask: usize, out: usize): void {
  for (let b = 0; b < batch; b++) {
    const mi = mask + <usize>(b * tIn), mo = out + <usize>(b * tOut);
    for (let j = 0; j < tOut; j++) {
      const i = offset + j * stride;
      store<u8>(mo + <usize>j, i >= 0 && i < tIn ? load<u8>(mi + <usize>i) : 0);
    }
  }
}

/**
 * Window rule of a convolution: out[b, j] = AND (or OR when useOr) over taps t in [0, k) of
 * mask[b, j * stride + t * dilation - padLeft], where a tap outside [0, tIn) reads padValue.
 */
export function mask_window(
  batch: i32, tIn: i32, tOut: i32, k: i32, stride: i32, dilation: i32, padLeft: i32,
  padValue: u8, useOr: bool, mask: usize, out: usize,
): void {
  for (let b = 0; b < batch; b++) {
    const mi = mask + <usize>(b * tIn), mo = out + <usize>(b * tOut);
    for (let j = 0; j < tOut; j++) {
      let acc: u8 = useOr ? 0 : 1;
      for (let t = 0; t < k; t++) {
        const i = j * stride + t * dilation - padLeft;
        const m: u8 = i >= 0 && i < tIn ? load<u8>(mi + <usize>i) : padValue;
        if (useOr) { if (m) { acc = 1; break; } } else if (!m) { acc = 0; break; }
      }
      store<u8>(mo + <usize>j, acc);
    }
  }
}

/** out = a AND b over n steps (may run in place). */
export function mask_and(n: i32, a: usize, b: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    store<u8>(out + <usize>i, load<u8>(a + <usize>i) & load<u8>(b + <usize>i));
  }
}

/** Index of the first of n mask bytes that is neither 0 nor 1, or -1 if there is none. */
export function mask_first_bad(n: i32, mask: usize): i32 {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    if (v128.any_true(i8x16.gt_u(v128.load(mask + <usize>i), i8x16.splat(1)))) break;
  }
  for (; i < n; i++) {
    if (load<u8>(mask + <usize>i) > 1) return i;
  }
  return -1;
}
