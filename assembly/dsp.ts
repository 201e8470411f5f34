// Time-axis kernels of the DSP layers (src/layers/dsp.ts): framing, overlap-add and the Lookahead
// countdown (overlap-add masks use mask_conv_transpose in conv.ts). Layouts are [batch, time, ...]
// row-major; a "row" is one time step of one batch item (rowBytes bytes, or c floats).
import { runEnd } from './mask';
import { addInto } from './simd';

/**
 * Frames: out[b, j, i] = row (j * frameStep + i - padLeft) of src[b], for j < tOut and i <
 * frameLength; rows outside [0, tIn), and rows whose mask byte is 0 when mask != 0, read as
 * zero bytes (the reference masks the input before framing, with zero padding).
 * src [B, tIn, row], mask [B, tIn] (bytes 0 or 1) or 0, out [B, tOut, frameLength, row]; not in place.
 */
export function seq_frame(
  batch: i32, tIn: i32, tOut: i32, frameLength: i32, frameStep: i32, padLeft: i32, rowBytes: i32,
  src: usize, mask: usize, out: usize,
): void {
  const rb = <usize>rowBytes;
  for (let b = 0; b < batch; b++) {
    const sb = src + <usize>(b * tIn) * rb, mb = mask + <usize>(b * tIn);
    let o = out + <usize>(b * tOut) * <usize>frameLength * rb;
    for (let j = 0; j < tOut; j++) {
      const start = j * frameStep - padLeft;
      // The in-range rows [lo, hi), zeros around them.
      const lo = min(max(start, 0), start + frameLength), hi = max(min(start + frameLength, tIn), lo);
      memory.fill(o, 0, <usize>(lo - start) * rb);
      if (!mask) memory.copy(o + <usize>(lo - start) * rb, sb + <usize>lo * rb, <usize>(hi - lo) * rb);
      else {
        // Runs of valid rows are copied whole, the others zeroed (audio: one copy).
        for (let r = lo; r < hi; ) {
          const valid = load<u8>(mb + <usize>r);
          const e = runEnd(mb, r + 1, hi, valid);
          const d = o + <usize>(r - start) * rb, bytes = <usize>(e - r) * rb;
          if (valid) memory.copy(d, sb + <usize>r * rb, bytes);
          else memory.fill(d, 0, bytes);
          r = e;
        }
      }
      memory.fill(o + <usize>(hi - start) * rb, 0, <usize>(start + frameLength - hi) * rb);
      o += <usize>frameLength * rb;
    }
  }
}

/**
 * Overlap-add: y[b, r] = (r < prefixLen ? prefix[b, r] : 0) + sum of x[b, t, i] over frames t
 * (skipping frames whose mask byte is 0 when mask != 0) and taps i with t * frameStep + i - skip == r,
 * for r < tOut. x [B, tIn, frameLength, c], prefix [B, prefixLen, c] or 0, y [B, tOut, c]; all f32;
 * y must not overlap x or prefix. A frame's taps land on consecutive rows of y, so each frame adds
 * as one contiguous run of floats (whatever c is).
 */
export function f32_overlap_add(
  batch: i32, tIn: i32, frameLength: i32, frameStep: i32, c: i32, skip: i32, tOut: i32,
  x: usize, mask: usize, prefix: usize, prefixLen: i32, y: usize,
): void {
  const row = <usize>c << 2;
  const pl = min(prefixLen, tOut);
  for (let b = 0; b < batch; b++) {
    const yb = y + <usize>(b * tOut) * row;
    if (pl > 0) memory.copy(yb, prefix + <usize>(b * prefixLen) * row, <usize>pl * row);
    memory.fill(yb + <usize>pl * row, 0, <usize>(tOut - pl) * row);
    for (let t = 0; t < tIn; t++) {
      if (mask && !load<u8>(mask + <usize>(b * tIn + t))) continue;
      const xf = x + <usize>(b * tIn + t) * <usize>frameLength * row;
      const i0 = max(0, skip - t * frameStep), i1 = min(frameLength, tOut + skip - t * frameStep);
      if (i1 > i0) addInto(yb + <usize>(t * frameStep + i0 - skip) * row, xf + <usize>i0 * row, (i1 - i0) * c);
    }
  }
}

/**
 * Lookahead's streaming mask: per item, counter = state[b]; at every step (every valid step when
 * validOnly) counter = max(0, counter - 1), and a valid step stays valid only when the counter
 * reached 0. state [B] i32 is updated in place; mask, out [B, time] (may be the same).
 */
export function mask_countdown(batch: i32, time: i32, validOnly: bool, mask: usize, state: usize, out: usize): void {
  for (let b = 0; b < batch; b++) {
    let counter = load<i32>(state + (<usize>b << 2));
    for (let t = 0; t < time; t++) {
      const i = <usize>(b * time + t);
      const m = load<u8>(mask + i);
      if ((m || !validOnly) && counter > 0) counter--;
      store<u8>(out + i, m && counter == 0 ? 1 : 0);
    }
    store<i32>(state + (<usize>b << 2), counter);
  }
}
