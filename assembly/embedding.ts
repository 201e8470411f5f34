// Lookups by integer id: one-hot vectors and embedding rows (OneHot, Embedding).
// ids are i32 [n]; an id outside the table never reads outside it.

/**
 * y[i, :] = one_hot(ids[i], depth): 1 at column ids[i], 0 elsewhere; all 0 when ids[i] is
 * outside [0, depth) (as jax.nn.one_hot). y [n, depth].
 */
export function f32_one_hot(n: i32, depth: i32, ids: usize, y: usize): void {
  memory.fill(y, 0, <usize>n * <usize>depth << 2);
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    if (<u32>id < <u32>depth) store<f32>(y + ((<usize>i * <usize>depth + <usize>id) << 2), 1);
  }
}

/**
 * y[i, :] = table[ids[i], :] with table [v, d], y [n, d]. Ids in [-v, 0) count from the end
 * (jnp.take normalises negative indices); ids outside [-v, v) give a row of NaN (jnp.take's
 * default fill mode).
 */
export function f32_embedding_lookup(n: i32, v: i32, d: i32, ids: usize, table: usize, y: usize): void {
  const rowB = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    let id = load<i32>(ids + (<usize>i << 2));
    if (id < 0) id += v; // cannot overflow: id >= -2^31 and v >= 1
    const out = y + <usize>i * rowB;
    // 0xffffffff in every float is a NaN.
    if (<u32>id < <u32>v) memory.copy(out, table + <usize>id * rowB, rowB);
    else memory.fill(out, 0xff, rowB);
  }
}
