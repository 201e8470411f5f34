"""Oracle fixtures for src/layers/shape.ts: NumPy's reshape, expand_dims, squeeze, basic slicing,
transpose, swapaxes, moveaxis, sum/mean/max/min and astype; the einops rearranges written by
hand as NumPy reshapes and transposes (the einops package is not installed); the global layers'
masks by the reference's rule (step mask broadcast to every element, moved like the values,
then all/any per output step). Configs mirror the cases of the reference's simple_test.py.

Inputs are quarter-integers (exact in float32, short in JSON) with random lengths.
Writes test/fixtures/shape.json. Run: /usr/bin/python3 tools/fixtures_shape.py
"""
import numpy as np

from fixtures_common import case, random_lengths, write_fixture

rng = np.random.default_rng(20240612)


def random_input(shape, lengths=True):
    x = (rng.integers(-40, 40, size=shape) / 4).astype(np.float32)
    b, t = shape[:2]
    return x, (random_lengths(rng, b, t) if lengths else None)


cases = []


def add(name, config, shape, fn, lengths=True):
    x, ls = random_input(shape, lengths)
    cases.append(case(name, config, x, fn(x), lengths=ls))


# Reshape, Flatten, ExpandDims, Squeeze: channel shapes only.
for shape, out in [((2, 3, 5), (1, 5, 1)), ((2, 3, 5, 9), (3, 3, 5)), ((2, 3, 1), ()), ((2, 3), (1,))]:
    add(f"Reshape {shape} -> {out}", {"type": "Reshape", "output_shape": list(out)}, shape, lambda x, o=out: x.reshape(x.shape[:2] + o))
for shape in [(2, 3, 5), (2, 3, 4, 3), (2, 3, 2, 3, 2)]:
    add(f"Flatten {shape}", {"type": "Flatten"}, shape, lambda x: x.reshape(x.shape[:2] + (-1,)))


def expand_dims_reference(x, axis):
    """The reference's rule: negatives are a + rank + 1 each; 1s inserted at the sorted positions."""
    rank = x.ndim - 2
    axes = [axis] if isinstance(axis, int) else axis
    dims = sorted({a + rank + 1 if a < 0 else a for a in axes})
    return np.expand_dims(x, [2 + d for d in dims])


for shape, axis in [((2, 3, 4, 5), 0), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), [0, -2]), ((2, 3, 4, 5), [2, 0]), ((2, 3), 0)]:
    add(f"ExpandDims {shape} axis={axis}", {"type": "ExpandDims", "axis": axis}, shape, lambda x, a=axis: expand_dims_reference(x, a))
for shape, axis in [((2, 3, 1, 1, 1), 2), ((2, 3, 1, 2, 1), -1), ((2, 3, 1, 2, 1), [2, -1]), ((2, 3, 1, 2, 1), None), ((2, 3, 1), None)]:
    add(f"Squeeze {shape} axis={axis}", {"type": "Squeeze", "axis": axis}, shape,
        lambda x, a=axis: np.squeeze(x, axis=tuple(i for i in range(2, x.ndim) if x.shape[i] == 1) if a is None else (tuple(a) if isinstance(a, list) else a)))


# Slice: [start, stop, step] triples, int indices, null = new axis.
def slice_of(spec):
    return tuple(slice(*s) if isinstance(s, list) else (np.newaxis if s is None else s) for s in spec)


for shape, spec in [
    ((2, 3, 5), [[None, -1, None]]),
    ((2, 3, 5, 9), [[None, -1, None], [None, -1, None]]),
    ((2, 3, 3, 4), [[None, None, None], None, [None, None, None]]),
    ((2, 3, 3, 4), [None, 0, None, [1, 3, 1]]),
    ((2, 3, 3, 4), [None, 0, 0, None]),
    ((2, 3, 6, 5), [[None, None, -2], [4, 0, -1]]),
    ((2, 3, 6, 5), [[1, None, 2], -1]),
    ((2, 3, 6, 5), [[10, 20, 1], [None, None, None]]),
]:
    add(f"Slice {shape} {spec}", {"type": "Slice", "slices": spec}, shape, lambda x, s=spec: x[(slice(None), slice(None)) + slice_of(s)])

# Transpose, SwapAxes, MoveAxis (full-rank axes, as the reference).
for shape, axes in [((2, 3, 4, 5), [2, 3]), ((2, 3, 4, 5), [3, 2]), ((2, 3, 4, 5, 6), [4, 2, 3]), ((2, 3, 1, 2, 3), None), ((2, 3), [])]:
    add(f"Transpose {shape} axes={axes}", {"type": "Transpose", "axes": axes}, shape,
        lambda x, a=axes: np.transpose(x, (0, 1) + (tuple(range(2, x.ndim))[::-1] if a is None else tuple(a))))
for shape, a1, a2 in [((2, 3, 4, 5), 2, 3), ((2, 3, 4, 5, 6), 4, 2), ((2, 3, 4), 2, 2), ((2, 3, 4, 5, 6), -1, -3)]:
    add(f"SwapAxes {shape} {a1} {a2}", {"type": "SwapAxes", "axis1": a1, "axis2": a2}, shape, lambda x, a=a1, b=a2: np.swapaxes(x, a, b))
for shape, src, dst in [
    ((2, 3, 4, 5), 2, -1), ((2, 3, 4, 5, 6), -1, 2), ((2, 3, 4), 2, 2), ((2, 3, 4, 5, 6), -2, 2),
    ((2, 3, 4, 5, 6), [2, 3], [3, 4]), ((2, 3, 4, 5, 6), [3, 2], [3, 4]), ((2, 3, 4, 5, 6), [2, 4], [3, 2]),
]:
    add(f"MoveAxis {shape} {src} -> {dst}", {"type": "MoveAxis", "source": src, "destination": dst}, shape,
        lambda x, s=src, d=dst: np.moveaxis(x, s, d))

# EinopsRearrange over the channels, by hand: reshape to elementary axes, transpose, reshape.
B, T = 2, 3
for shape, pattern, lengths, fn in [
    ((B, T, 4, 5), "c d -> (c d)", None, lambda x: x.reshape(B, T, 20)),
    ((B, T, 20), "(c d) -> c d", {"c": 4}, lambda x: x.reshape(B, T, 4, 5)),
    ((B, T, 4, 5), "(c d) e ->  c d e", {"c": 2}, lambda x: x.reshape(B, T, 2, 2, 5)),
    ((B, T, 6, 5), "(c d) e ->  d e c", {"c": 2}, lambda x: x.reshape(B, T, 2, 3, 5).transpose(0, 1, 3, 4, 2)),
    ((B, T, 6, 5), "(c d) e -> (e c) d", {"d": 3}, lambda x: x.reshape(B, T, 2, 3, 5).transpose(0, 1, 4, 2, 3).reshape(B, T, 10, 3)),
    ((B, T, 2, 3, 4), "a b c -> c () (b a)", None, lambda x: x.transpose(0, 1, 4, 3, 2).reshape(B, T, 4, 1, 6)),
]:
    cfg = {"type": "EinopsRearrange", "pattern": pattern}
    if lengths:
        cfg["axes_lengths"] = lengths
    add(f"EinopsRearrange {shape} {pattern!r}", cfg, shape, fn)

# Channel reductions: the reference's axis/keepdims product (smaller shapes to keep this file small).
REDUCE = {"Sum": np.sum, "Mean": np.mean, "Max": np.max, "Min": np.min}
for shape, keepdims, axis in [
    ((2, 3, 5), False, None), ((2, 3, 5), False, 2), ((2, 3, 5), False, -1), ((2, 3, 5), False, [2]),
    ((2, 3, 4, 3), False, None), ((2, 3, 4, 3), False, 2), ((2, 3, 4, 3), False, 3), ((2, 3, 4, 3), False, -2),
    ((2, 3, 4, 3), False, [2, -1]), ((2, 3, 4, 3), False, [3, 2]), ((2, 3, 4, 3), True, None), ((2, 3, 4, 3), True, [3, 2]),
    ((2, 3, 2, 3, 4), False, [2, 4]), ((2, 3, 2, 3, 4), True, [2, 4]), ((2, 3, 5, 3, 2), False, 3),
    ((2, 2, 7, 9), False, 2), ((2, 2, 37), False, -1),  # SIMD columns with a tail; rows with every loop
]:
    for name, op in REDUCE.items():
        np_axis = tuple(range(2, len(shape))) if axis is None else (tuple(axis) if isinstance(axis, list) else axis)
        add(f"{name} {shape} axis={axis} keepdims={keepdims}", {"type": name, "axis": axis, "keepdims": keepdims}, shape,
            lambda x, o=op, a=np_axis, k=keepdims: o(x.astype(np.float64), axis=a, keepdims=k))

# Cast: float32 -> int32 truncates toward zero; int32 -> float32.
x = (rng.integers(-400, 400, size=(2, 4, 5)) / 16).astype(np.float32)
cases.append(case("Cast float32 -> int32", {"type": "Cast", "dtype": "int32"}, x, x.astype(np.int32), lengths=[4, 2]))
x = rng.integers(-(1 << 30), 1 << 30, size=(2, 4, 3)).astype(np.int32)
cases.append(case("Cast int32 -> float32", {"type": "Cast", "dtype": "float32"}, x, x.astype(np.float32), lengths=[3, 4], input_dtype="int32", rtol=0, atol=0))


# Global layers: values and the reference's mask rule.
def global_mask(x, lengths, move, any_valid):
    b, t = x.shape[:2]
    mask = (np.arange(t)[None, :] < np.asarray(lengths)[:, None])
    full = np.broadcast_to(mask.reshape((b, t) + (1,) * (x.ndim - 2)), x.shape)
    moved = move(full)
    return (np.any if any_valid else np.all)(moved, axis=tuple(range(2, moved.ndim)))


for shape, out, lengths in [
    ((2, 3), (3,), [3, 1]), ((2, 3, 1), (3, 1), [2, 3]), ((2, 3, 5), (3, 5), [3, 0]), ((2, 3, 5, 7), (7, 5, 3), [2, 3]),
    ((2, 3, 35), (7, 5, 3), [3, 1]), ((2, 3, 5, 7), (7, 15), [1, 3]), ((2, 7, 5, 3), (3, 5, 7), [7, 4]),
    ((2, 7, 15), (3, 5, 7), [5, 6]), ((2, 7, 5, 3), (3, 35), [3, 7]),
]:
    x, _ = random_input(shape)
    move = lambda v, o=out: v.reshape((v.shape[0],) + o)
    cases.append(case(f"GlobalReshape {shape} -> {out}", {"type": "GlobalReshape", "output_shape": list(out)}, x, move(x),
                      lengths=lengths, output_mask=global_mask(x, lengths, move, False)))

for shape, pattern, axes_lengths, lengths, ceil, move in [
    ((2, 3, 4, 5), "t c d -> (t c) d", None, [3, 2], False, lambda v: v.reshape(2, 12, 5)),
    ((2, 12, 5), "(t c) d -> t (c d)", {"c": 4}, [12, 7], False, lambda v: v.reshape(2, 3, 20)),
    ((2, 12, 5), "(t c) d -> t (c d)", {"c": 4}, [12, 7], True, lambda v: v.reshape(2, 3, 20)),
    ((2, 6), "(t1 t2) -> t1 t2", {"t2": 3}, [5, 6], True, lambda v: v.reshape(2, 2, 3)),
    ((2, 6), "(t1 t2) -> t1 t2", {"t2": 3}, [5, 6], False, lambda v: v.reshape(2, 2, 3)),
    ((1, 4, 2), "(a b) c -> a (b c)", {"b": 2}, [3], False, lambda v: v.reshape(1, 2, 4)),
    ((1, 4, 2), "(a b) c -> a (b c)", {"b": 2}, [3], True, lambda v: v.reshape(1, 2, 4)),
    ((2, 6, 4), "(t k) c -> (c t) k", {"k": 2}, [5, 2], True, lambda v: v.reshape(2, 3, 2, 4).transpose(0, 3, 1, 2).reshape(2, 12, 2)),
    ((2, 4, 3), "t c -> c t", {"t": 4}, [4, 3], False, lambda v: v.transpose(0, 2, 1)),
    # "..." for the axes no name covers, time included when it comes first.
    ((2, 6, 3, 4), "t ... -> t (...)", {}, [6, 4], False, lambda v: v.reshape(2, 6, 12)),
    ((2, 6, 3, 4), "(t k) ... -> t (k ...)", {"k": 2}, [5, 6], True, lambda v: v.reshape(2, 3, 24)),
    ((2, 6, 3, 4), "t a ... -> t ... a", {}, [6, 2], False, lambda v: v.transpose(0, 1, 3, 2)),
    ((2, 6, 3, 4), "... a b -> ... (b a)", {}, [3, 6], False, lambda v: v.transpose(0, 1, 3, 2).reshape(2, 6, 12)),
]:
    x, _ = random_input(shape)
    mask = (np.arange(shape[1])[None, :] < np.asarray(lengths)[:, None])
    masked = np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, 0)  # the reference zeroes invalid steps first
    cfg = {"type": "GlobalEinopsRearrange", "pattern": pattern, "ceil_mode": ceil}
    if axes_lengths:
        cfg["axes_lengths"] = axes_lengths
    cases.append(case(f"GlobalEinopsRearrange {shape} {pattern!r} ceil={ceil}", cfg, x, move(masked),
                      lengths=lengths, output_mask=global_mask(x, lengths, move, ceil)))

write_fixture("shape", cases, "NumPy (reshape/transpose/moveaxis/swapaxes/squeeze/expand_dims/slicing/sum/mean/max/min/astype), einops by hand")
