// Recurrent cells (LSTM, GRU, RG-LRU): one call runs a whole block of steps for every batch
// item. The input projections of all steps come first, as one GEMM over batch * time rows;
// then the recurrence runs step by step (the h-dependent GEMM has batch rows). The state is
// updated in place and only at valid steps (mask != 0): an invalid step, NaN included, changes
// nothing but its own output row. Outputs at invalid steps are whatever the cell computes.
//
// Layouts (sizes in elements, pointers in bytes, no alignment assumed): x [batch, time, din],
// mask u8 [batch, time], y [batch, time, units], state [batch, units]; packed weights come from
// f32_gemm_pack_b. Every element is computed by the same operations in the same order whatever
// the block length, so a stream stepped in blocks of any size equals one call over the whole
// sequence, bit for bit (the GEMM tiles agree exactly, activations are lane-independent).
// Nothing is read or written past the last element of any buffer; y and the scratch buffers
// must not overlap x, the weights or the state.
import { f32_vactivation } from './activations';
import { f32_gemm, f32_gemm_batch } from './gemm/f32-gemm-4x8';
import { f32_gemv } from './gemm/f32-gemv';
import { q8_gemv, q8_quantize } from './gemm/q8-gemv';
import { expV, sigmoidV } from './math';
import { loadLanes, madd, storeLanes } from './simd';

/**
 * LSTM (Keras gate order i, f, g, o): z = x W + h U + b, i = ract(z_i), f = ract(z_f),
 * g = act(z_g), o = ract(z_o), c' = f c + i g, h' = o act(c'); y = h'.
 *
 * wx: W [din, 4u] packed; wh: U [u, 4u] packed (f32_gemm_pack_b); wxh: [W; U] packed by
 * f32_gemv_pack_b (rows din + u), for a block of one step of one item: z is then a single GEMV
 * over [x ‖ h], one pass over the weights in wide streams (LSTM 512/512 step, relaxed build,
 * same run: 121 µs with the GEMM + GEMV pair, 105 µs fused). The sums are the same either way
 * (bias, then x's rows, then h's, one madd each), so a step equals the layer's GEMM + GEMV bit
 * for bit. Longer blocks keep f32_gemm for h U: a U that fits in L2 streams as fast from its
 * 8-column panels, which are contiguous (in wxh, U's rows are split between W's). bias [4u] or
 * 0. act/ract: activation codes of f32_vactivation with their parameters. c, h [batch, u]: the
 * state, read and updated in place. z: scratch of batch * time * 4u floats. Any sizes >= 1.
 */
export function f32_lstm(
  batch: i32, time: i32, din: i32, units: i32, act: i32, actP: f32, ract: i32, ractP: f32,
  x: usize, mask: usize, wx: usize, wh: usize, wxh: usize, bias: usize, c: usize, h: usize, z: usize, y: usize,
): void {
  const u = units, g4 = 4 * u;
  const rowB = <usize>g4 << 2, uB = <usize>u << 2;
  const fused = batch == 1 && time == 1;
  // Input projection of every step at once: z [batch * time, 4u] = x W + b (and + h U when fused).
  if (fused) f32_gemv(g4, din + u, 0, din, x, u, h, wxh, z, bias, false);
  else f32_gemm(batch * time, g4, din, x, din, wx, z, g4, bias, false);
  for (let t = 0; t < time; t++) {
    // z[:, t] += h U: batch rows, strided by time rows of z.
    if (!fused) f32_gemm(batch, g4, u, h, u, wh, z + <usize>t * rowB, time * g4, 0, true);
    for (let b = 0; b < batch; b++) {
      const r = b * time + t;
      lstmCell(u, act, actP, ract, ractP, z + <usize>r * rowB, c + <usize>b * uB, h + <usize>b * uB, y + <usize>r * uB, load<u8>(mask + <usize>r) != 0);
    }
  }
}

/**
 * One LSTM cell update from its gate pre-activations z [4u] (i, f, g, o; overwritten): c' = f c
 * + i g, h' = o act(c') written to yr, and to c and h when the step is valid.
 */
@inline function lstmCell(u: i32, act: i32, actP: f32, ract: i32, ractP: f32, z: usize, c: usize, h: usize, yr: usize, valid: bool): void {
  const uB = <usize>u << 2;
  const zi = z, zf = zi + uB, zg = zf + uB, zo = zg + uB;
  f32_vactivation(ract, 2 * u, zi, ractP, zi);
  f32_vactivation(act, u, zg, actP, zg);
  f32_vactivation(ract, u, zo, ractP, zo);
  // c' = f c + i g, written over i (read first at the same lanes).
  for (let j = 0; j < u; j += 4) {
    const o = <usize>j << 2, n = u - j;
    storeLanes(zi + o, madd(loadLanes(zf + o, n), loadLanes(c + o, n), f32x4.mul(loadLanes(zi + o, n), loadLanes(zg + o, n))), n);
  }
  // act(c') over f, then h' = o act(c').
  f32_vactivation(act, u, zi, actP, zf);
  for (let j = 0; j < u; j += 4) {
    const o = <usize>j << 2, n = u - j;
    const hn = f32x4.mul(loadLanes(zo + o, n), loadLanes(zf + o, n));
    storeLanes(yr + o, hn, n);
    if (valid) {
      storeLanes(h + o, hn, n);
      storeLanes(c + o, loadLanes(zi + o, n), n);
    }
  }
}

/**
 * LSTM with int8 weights (the layer's weightStorage 'int8'): the cell of f32_lstm, with z =
 * [x ‖ h] · [W; U] from q8_gemv (assembly/gemm/q8-gemv.ts) for every step of every item: x's
 * row and h quantised to int16 each with its own scale, then one pass over the int8 weights.
 * wq: [W; U] packed by q8_gemv_pack_b with rows = din' + u' (primes: rounded up to even), W
 * at row 0 and U at row din'; scales: the 4u column scales. z: scratch of 4u floats; xq:
 * scratch of din' + u' int16s. Each step is computed alone, so any split into blocks equals one
 * call bit for bit. Other arguments as f32_lstm's.
 */
export function q8_lstm(
  batch: i32, time: i32, din: i32, units: i32, act: i32, actP: f32, ract: i32, ractP: f32,
  x: usize, mask: usize, wq: usize, scales: usize, bias: usize, c: usize, h: usize, z: usize, xq: usize, y: usize,
): void {
  const u = units, uB = <usize>u << 2, din2 = (din + 1) & ~1, rows = din2 + ((u + 1) & ~1);
  const hq = xq + (<usize>din2 << 1);
  for (let t = 0; t < time; t++) {
    for (let b = 0; b < batch; b++) {
      const r = b * time + t, hb = h + <usize>b * uB;
      const sx = q8_quantize(din, x + (<usize>(r * din) << 2), xq), sh = q8_quantize(u, hb, hq);
      q8_gemv(4 * u, rows, 0, din, xq, sx, u, hq, sh, wq, scales, bias, z);
      lstmCell(u, act, actP, ract, ractP, z, c + <usize>b * uB, hb, y + <usize>r * uB, load<u8>(mask + <usize>r) != 0);
    }
  }
}

/**
 * GRU (Keras gate order z, r, h): with xz, xr, xh the columns of x W + bx,
 *   reset_after (PyTorch, cuDNN, Keras 2 default): z = ract(xz + h Uz), r = ract(xr + h Ur),
 *     n = act(xh + r (h Uh + bh));
 *   reset before (Cho et al. 2014): z, r as above, n = act(xh + (r h) Uh);
 * then h' = z h + (1 - z) n; y = h'. Recurrent biases of z and r fold into bx (they only add).
 *
 * wx: W [din, 3u] packed; bx [3u] or 0; uzr: U[:, 0:2u] packed [u, 2u]; uh: U[:, 2u:3u] packed
 * [u, u]; bh [u] or 0 (reset_after only). h [batch, u]: the state, in place. Scratch: z
 * batch * time * 3u floats, q batch * u floats. Any sizes >= 1.
 *
 * gzr, gwh, guh: [W_zr; U_zr] (rows din + u, 2u columns), W_h (din rows) and U_h (u rows)
 * packed by f32_gemv_pack_b, for a block of one step of one item: it then runs as q8_gru does,
 * with f32_gemv streaming each packing once (as the LSTM step; the sums are the GEMMs', bias,
 * then x's rows, then h's, so a step equals the layer bit for bit).
 */
export function f32_gru(
  batch: i32, time: i32, din: i32, units: i32, resetAfter: bool, act: i32, actP: f32, ract: i32, ractP: f32,
  x: usize, mask: usize, wx: usize, bx: usize, uzr: usize, uh: usize, bh: usize, h: usize, z: usize, q: usize, y: usize,
  gzr: usize, gwh: usize, guh: usize,
): void {
  const u = units, g3 = 3 * u;
  const rowB = <usize>g3 << 2, uB = <usize>u << 2;
  if (batch == 1 && time == 1) {
    const zh = z + (<usize>(2 * u) << 2);
    f32_gemv(2 * u, din + u, 0, din, x, u, h, gzr, z, bx, false);
    f32_gemv(u, din, 0, din, x, 0, 0, gwh, zh, bx ? bx + (<usize>(2 * u) << 2) : 0, false);
    f32_vactivation(ract, 2 * u, z, ractP, z);
    if (resetAfter) f32_gemv(u, u, 0, u, h, 0, 0, guh, q, bh, false);
    gruReset(u, resetAfter, z, h, q);
    if (!resetAfter) f32_gemv(u, u, 0, u, q, 0, 0, guh, zh, 0, true);
    gruUpdate(u, act, actP, z, h, y, load<u8>(mask) != 0);
    return;
  }
  // Input projection of every step at once: z [batch * time, 3u] = x W + bx.
  f32_gemm(batch * time, g3, din, x, din, wx, z, g3, bx, false);
  for (let t = 0; t < time; t++) {
    const zt = z + <usize>t * rowB;
    // z[:, t, 0:2u] += h [Uz Ur]; reset_after also needs q = h Uh + bh before h changes.
    f32_gemm(batch, 2 * u, u, h, u, uzr, zt, time * g3, 0, true);
    if (resetAfter) f32_gemm(batch, u, u, h, u, uh, q, u, bh, false);
    for (let b = 0; b < batch; b++) {
      const zz = z + <usize>(b * time + t) * rowB;
      f32_vactivation(ract, 2 * u, zz, ractP, zz);
      gruReset(u, resetAfter, zz, h + <usize>b * uB, q + <usize>b * uB);
    }
    if (!resetAfter) f32_gemm(batch, u, u, q, u, uh, zt + (<usize>(2 * u) << 2), time * g3, 0, true);
    for (let b = 0; b < batch; b++) {
      const r = b * time + t;
      gruUpdate(u, act, actP, z + <usize>r * rowB, h + <usize>b * uB, y + <usize>r * uB, load<u8>(mask + <usize>r) != 0);
    }
  }
}

/**
 * The reset gate of one GRU row, z [3u] holding the activated gates z, r and the candidate's
 * input part xh: reset_after adds r q to xh (q = h Uh + bh); reset before writes q = r h.
 */
@inline function gruReset(u: i32, resetAfter: bool, z: usize, h: usize, q: usize): void {
  const zr = z + (<usize>u << 2), zh = zr + (<usize>u << 2);
  for (let j = 0; j < u; j += 4) {
    const o = <usize>j << 2, n = u - j;
    const r = loadLanes(zr + o, n);
    if (resetAfter) storeLanes(zh + o, madd(r, loadLanes(q + o, n), loadLanes(zh + o, n)), n);
    else storeLanes(q + o, f32x4.mul(r, loadLanes(h + o, n)), n);
  }
}

/** The end of one GRU row: n = act(candidate), h' = z h + (1 - z) n to yr, and to h when valid. */
@inline function gruUpdate(u: i32, act: i32, actP: f32, z: usize, h: usize, yr: usize, valid: bool): void {
  const zh = z + (<usize>(2 * u) << 2), one = f32x4.splat(1);
  f32_vactivation(act, u, zh, actP, zh);
  for (let j = 0; j < u; j += 4) {
    const o = <usize>j << 2, n = u - j;
    const zg = loadLanes(z + o, n);
    const hn = f32x4.add(f32x4.mul(zg, loadLanes(h + o, n)), f32x4.mul(f32x4.sub(one, zg), loadLanes(zh + o, n)));
    storeLanes(yr + o, hn, n);
    if (valid) storeLanes(h + o, hn, n);
  }
}

/**
 * GRU with int8 weights (the layer's weightStorage 'int8'): the cell of f32_gru, each step of
 * each item on its own. x's row and h are quantised to int16 (q8_quantize); then z, r = [x ‖
 * h] · [W_zr; U_zr] + bx[0:2u] (one q8_gemv over wzr, rows din' + u'), the candidate's x part
 * x W_h + bx[2u:3u] (wh, rows din'), and its h part from uh (rows u'): reset_after q = h U_h +
 * bh, reset before (r h) U_h, r h quantised again. Packings by q8_gemv_pack_b with their column
 * scales (sZr, sWh, sUh); primes: rounded up to even. Scratch: z 3u floats, q u floats, xq
 * din' + u' int16s. Other arguments as f32_gru's.
 */
export function q8_gru(
  batch: i32, time: i32, din: i32, units: i32, resetAfter: bool, act: i32, actP: f32, ract: i32, ractP: f32,
  x: usize, mask: usize, wzr: usize, sZr: usize, wh: usize, sWh: usize, uh: usize, sUh: usize, bx: usize, bh: usize,
  h: usize, z: usize, q: usize, xq: usize, y: usize,
): void {
  const u = units, uB = <usize>u << 2, din2 = (din + 1) & ~1, u2 = (u + 1) & ~1;
  const hq = xq + (<usize>din2 << 1), zh = z + (<usize>(2 * u) << 2);
  for (let t = 0; t < time; t++) {
    for (let b = 0; b < batch; b++) {
      const r = b * time + t, hb = h + <usize>b * uB;
      const sx = q8_quantize(din, x + (<usize>(r * din) << 2), xq), sh = q8_quantize(u, hb, hq);
      q8_gemv(2 * u, din2 + u2, 0, din, xq, sx, u, hq, sh, wzr, sZr, bx, z);
      q8_gemv(u, din2, 0, din, xq, sx, 0, 0, 0, wh, sWh, bx ? bx + (<usize>(2 * u) << 2) : 0, zh);
      f32_vactivation(ract, 2 * u, z, ractP, z);
      if (resetAfter) q8_gemv(u, u2, 0, u, hq, sh, 0, 0, 0, uh, sUh, bh, q);
      gruReset(u, resetAfter, z, hb, q);
      if (!resetAfter) {
        // zh += (r h) U_h, r h quantised in hq's place (h itself is read again below).
        const srh = q8_quantize(u, q, hq);
        q8_gemv(u, u2, 0, u, hq, srh, 0, 0, 0, uh, sUh, 0, q);
        for (let j = 0; j < u; j += 4) {
          const o = <usize>j << 2, n = u - j;
          storeLanes(zh + o, f32x4.add(loadLanes(zh + o, n), loadLanes(q + o, n)), n);
        }
      }
      gruUpdate(u, act, actP, z, hb, y + <usize>r * uB, load<u8>(mask + <usize>r) != 0);
    }
  }
}

/**
 * RG-LRU, real variant (Griffin, recurrentgemma): per step, with block-diagonal gates over
 * `heads` heads of p = units / heads channels,
 *   gx = sigmoid(x Wx + bx), ga = sigmoid(x Wa + ba), log a = -8 ga softplus(a_param),
 *   a = e^(log a), at segment position 0: h' = x gx, elsewhere: h' = a h + sqrt(1 - a^2) x gx;
 * y = h'. The segment position of step t of item b is pos[b] + t.
 *
 * wIn, wA: the gate kernels [heads, p, p], each head packed (heads consecutive packed [p, p]);
 * bIn, bA [heads, p]; spA [units] = softplus(a_param). h [batch, units]: the state, in place;
 * pos: int32 [batch] segment position of the block's first step, advanced by `time`
 * (saturating at 2^31 - 1, so the reset never comes back). Scratch gx, ga: batch * time * units
 * floats each. Any sizes >= 1 with heads dividing units.
 */
export function f32_rglru(
  batch: i32, time: i32, units: i32, heads: i32,
  x: usize, mask: usize, wIn: usize, bIn: usize, wA: usize, bA: usize, spA: usize, h: usize, pos: usize,
  gx: usize, ga: usize, y: usize,
): void {
  const u = units, p = units / heads, rows = batch * time;
  const uB = <usize>u << 2;
  f32_gemm_batch(heads, rows, p, p, x, u, p, wIn, gx, u, p, bIn, false);
  f32_gemm_batch(heads, rows, p, p, x, u, p, wA, ga, u, p, bA, false);
  const one = f32x4.splat(1), m8 = f32x4.splat(-8);
  for (let b = 0; b < batch; b++) {
    const start = load<i32>(pos + (<usize>b << 2));
    const hb = h + <usize>b * uB;
    for (let t = 0; t < time; t++) {
      const r = b * time + t;
      const ro = <usize>r * uB;
      const valid = load<u8>(mask + <usize>r) != 0;
      const reset = start + t == 0;
      for (let j = 0; j < u; j += 4) {
        const o = <usize>j << 2, n = u - j;
        const xg = f32x4.mul(loadLanes(x + ro + o, n), sigmoidV(loadLanes(gx + ro + o, n)));
        let hn = xg;
        if (!reset) {
          const logA = f32x4.mul(f32x4.mul(m8, sigmoidV(loadLanes(ga + ro + o, n))), loadLanes(spA + o, n));
          const a = expV(logA);
          const norm = f32x4.sqrt(f32x4.sub(one, expV(f32x4.add(logA, logA))));
          hn = madd(a, loadLanes(hb + o, n), f32x4.mul(xg, norm));
        }
        storeLanes(y + ro + o, hn, n);
        if (valid) storeLanes(hb + o, hn, n);
      }
    }
    // Saturating start + time: i64 so the sum cannot wrap.
    store<i32>(pos + (<usize>b << 2), <i32>min<i64>(<i64>start + <i64>time, <i64>i32.MAX_VALUE));
  }
}
