// Elementwise kernels over contiguous f32 arrays: x, y [n]; may run in place (x == y).

/** y[r, :] = x[r, :] + bias[:] for r < rows; x, y [rows, n], bias [n]. */
export function f32_vadd_rows(rows: i32, n: i32, x: usize, bias: usize, y: usize): void {
  const rowB = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB, yr = y + <usize>r * rowB;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(yr + o, f32x4.add(v128.load(xr + o), v128.load(bias + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, load<f32>(xr + o) + load<f32>(bias + o));
    }
  }
}

/** y = a + b over n floats; may run in place. */
export function f32_vadd(n: i32, a: usize, b: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}
