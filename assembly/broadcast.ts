// N-d strided elementwise binary ops with broadcasting: the combination step of Parallel,
// Residual and the broadcasting layers (Add, Scale, Affine, Conditioning).
//
// y[i] = op(a[i . sa], b[i . sb]) for every index i of `shape`, where sa, sb, sy are strides in
// elements (0 on a broadcast axis). shape, sa, sb, sy point to i32[rank] arrays; rank in 1..8.
// The innermost axis runs SIMD when all three strides there are 1.

export const OP_ADD = 0;
export const OP_MUL = 1;
export const OP_SUB = 2;
export const OP_MAX = 3;
export const OP_MIN = 4;
/** y = a (b is ignored): a broadcasting strided copy. */
export const OP_COPY = 5;

@inline function apply(op: i32, x: f32, z: f32): f32 {
  switch (op) {
    case OP_ADD: return x + z;
    case OP_MUL: return x * z;
    case OP_SUB: return x - z;
    case OP_MAX: return max(x, z);
    case OP_MIN: return min(x, z);
    default: return x;
  }
}

@inline function applyV(op: i32, x: v128, z: v128): v128 {
  switch (op) {
    case OP_ADD: return f32x4.add(x, z);
    case OP_MUL: return f32x4.mul(x, z);
    case OP_SUB: return f32x4.sub(x, z);
    case OP_MAX: return f32x4.max(x, z);
    case OP_MIN: return f32x4.min(x, z);
    default: return x;
  }
}

function row(op: i32, n: i32, a: usize, sa: i32, b: usize, sb: i32, y: usize, sy: i32): void {
  let i = 0;
  if (sa == 1 && sb == 1 && sy == 1) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, applyV(op, v128.load(a + o), v128.load(b + o)));
    }
  } else if (sa == 1 && sb == 0 && sy == 1) {
    const vb = f32x4.splat(load<f32>(b));
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, applyV(op, v128.load(a + o), vb));
    }
  } else if (sa == 0 && sb == 1 && sy == 1) {
    const va = f32x4.splat(load<f32>(a));
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, applyV(op, va, v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    store<f32>(y + (<usize>(i * sy) << 2), apply(op, load<f32>(a + (<usize>(i * sa) << 2)), load<f32>(b + (<usize>(i * sb) << 2))));
  }
}

export function f32_strided_binary(op: i32, rank: i32, shape: usize, a: usize, sa: usize, b: usize, sb: usize, y: usize, sy: usize): void {
  const last = rank - 1;
  const n = load<i32>(shape + (<usize>last << 2));
  const la = load<i32>(sa + (<usize>last << 2)), lb = load<i32>(sb + (<usize>last << 2)), ly = load<i32>(sy + (<usize>last << 2));
  let outer = 1;
  for (let d = 0; d < last; d++) outer *= load<i32>(shape + (<usize>d << 2));
  if (outer == 0 || n == 0) return;
  // Odometer over the outer axes, keeping the three offsets incrementally.
  const idx = memory.data(8 * 4);
  for (let d = 0; d < 8; d++) store<i32>(idx + (<usize>d << 2), 0);
  let oa = 0, ob = 0, oy = 0;
  for (let r = 0; r < outer; r++) {
    row(op, n, a + (<usize>oa << 2), la, b + (<usize>ob << 2), lb, y + (<usize>oy << 2), ly);
    for (let d = last - 1; d >= 0; d--) {
      const p = idx + (<usize>d << 2);
      const v = load<i32>(p) + 1;
      const sad = load<i32>(sa + (<usize>d << 2)), sbd = load<i32>(sb + (<usize>d << 2)), syd = load<i32>(sy + (<usize>d << 2));
      if (v < load<i32>(shape + (<usize>d << 2))) {
        store<i32>(p, v);
        oa += sad; ob += sbd; oy += syd;
        break;
      }
      store<i32>(p, 0);
      oa -= sad * (v - 1); ob -= sbd * (v - 1); oy -= syd * (v - 1);
    }
  }
}

/** y = x * s + c over n floats (scalars s, c); may run in place. */
export function f32_vscale_shift(n: i32, x: usize, s: f32, c: f32, y: usize): void {
  const vs = f32x4.splat(s), vc = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(f32x4.mul(v128.load(x + o), vs), vc));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o) * s + c);
  }
}
