"""Oracle fixtures for src/layers/pooling.ts (test/fixtures/pooling.json).

Max and average values from torch.nn.functional max_pool1d/2d/3d and avg_pool1d/2d/3d on inputs
whose invalid steps and padding hold the reduction's identity (-inf for max, 0 for average), as
the reference does before its reduce_window; the padding is applied here with F.pad from the
reference's convolution_explicit_padding (fixtures_common.explicit_padding) or the explicit
spatial amounts. Min is -max_pool(-x) with +inf. torch's avg_pool has no dilation: dilated
averages are a depthwise conv with a ones kernel divided by the number of taps. Masks follow the
reference's compute_conv_mask in NumPy (fixtures_common.conv_mask). masked_average values and
int32 inputs (max, min, floor-divided averages) come from plain NumPy window loops.

Inputs carry garbage at invalid steps: a layer must never let it through.

Run: /usr/bin/python3 tools/fixtures_pooling.py
"""
import itertools

import numpy as np
import torch
import torch.nn.functional as F

from fixtures_common import case, conv_mask, explicit_padding, padding_amounts, write_fixture

rng = np.random.default_rng(20240612)
MODES = ("valid", "same", "causal_valid", "reverse_causal_valid", "causal", "reverse_causal", "semicausal", "semicausal_full")
IDENTITY = {"max": -np.inf, "min": np.inf, "average": 0.0}
INT_IDENTITY = {"max": np.iinfo(np.int32).min, "min": np.iinfo(np.int32).max, "average": 0}
NAMES = {"max": "MaxPooling", "min": "MinPooling", "average": "AveragePooling"}


def normal(size):
    """Normal values rounded to multiples of 1/256: exact in float32 and short in JSON."""
    return np.round(rng.normal(size=size) * 256) / 256


def pad_input(x, mask, value, pads):
    """x [B, T, *S, *rest] with invalid steps set to `value`, padded by pads [(l, r)] on T and S."""
    xm = np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, value)
    widths = [(0, 0)] + list(pads) + [(0, 0)] * (x.ndim - 1 - len(pads))
    return np.pad(xm, widths, constant_values=value)


def torch_pool(op, xp, n, k, s, d):
    """op over windows of the n leading axes after batch of xp [B, T, *S, *rest] (already padded)."""
    b, rest = xp.shape[0], xp.shape[1 + n:]
    r = int(np.prod(rest))
    t = torch.tensor(xp.reshape(xp.shape[: 1 + n] + (r,)), dtype=torch.float64)
    t = t.permute(0, n + 1, *range(1, n + 1))  # [B, R, T, *S]
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
    if op == "max":
        y = pool(t, k, s, dilation=d)
    elif op == "min":
        y = -pool(-t, k, s, dilation=d)
    elif all(v == 1 for v in d):
        y = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1](t, k, s)
    else:
        w = torch.ones((r, 1) + tuple(k), dtype=torch.float64) / np.prod(k)
        y = (F.conv1d, F.conv2d, F.conv3d)[n - 1](t, w, stride=s, dilation=d, groups=r)
    y = y.permute(0, *range(2, n + 2), 1).numpy()
    return y.reshape(y.shape[: 1 + n] + rest)


def numpy_pool(op, xp, mp, n, k, s, d, masked_average=False, integer=False):
    """The same reduction by explicit windows; mp [B, Tp] is the padded mask (padding invalid)."""
    eks = [(ka - 1) * da + 1 for ka, da in zip(k, d)]
    outs = [(xp.shape[1 + a] - eks[a]) // s[a] + 1 for a in range(n)]
    y = np.zeros((xp.shape[0], *outs) + xp.shape[1 + n:], dtype=np.int64 if integer else np.float64)
    for idx in itertools.product(*(range(o) for o in outs)):
        sl = tuple(slice(i * sa, i * sa + e, da) for i, sa, e, da in zip(idx, s, eks, d))
        window = xp[(slice(None),) + sl].astype(np.int64 if integer else np.float64)
        axes = tuple(range(1, 1 + n))
        if op == "max":
            v = window.max(axis=axes)
        elif op == "min":
            v = window.min(axis=axes)
        else:
            total = window.sum(axis=axes)
            if masked_average:
                divisor = mp[:, sl[0]].sum(axis=1) * int(np.prod(k[1:]))
                divisor = divisor.reshape((-1,) + (1,) * (total.ndim - 1))
            else:
                divisor = np.full((xp.shape[0],) + (1,) * (total.ndim - 1), int(np.prod(k)))
            if integer:
                v = np.where(divisor > 0, np.floor_divide(total, np.maximum(divisor, 1)), 0)
            else:
                v = np.where(divisor > 0, total / np.maximum(divisor, 1), 0.0)
        y[(slice(None),) + idx] = v
    return y


def make_case(op, n, shape, k, s, d, time_padding, spatial_padding=(), masked_average=False, integer=False, t=11, lengths=None):
    """A pooling of the n leading axes of [B, t, *shape]; k, s, d per axis (time first)."""
    b = 2
    if lengths is None:
        lengths = [t, int(rng.integers(t // 2, t))]
    if integer:
        x = rng.integers(-60, 60, size=(b, t) + tuple(shape))
        garbage = rng.integers(-10**6, 10**6, size=x.shape)
    else:
        x = normal((b, t) + tuple(shape))
        garbage = normal(x.shape) * 1000
    mask = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
    x_in = np.where(mask.reshape(mask.shape + (1,) * len(shape)), x, garbage)

    spatial = [padding_amounts(p, ka, sa, da) for p, ka, sa, da in zip(spatial_padding, k[1:], s[1:], d[1:])]
    pads = [explicit_padding(time_padding, k[0], s[0], d[0])] + spatial
    identity = (INT_IDENTITY if integer else IDENTITY)[op]
    xp = pad_input(x_in, mask, identity, pads)
    mp = np.pad(mask, ((0, 0), pads[0]), constant_values=False)
    if integer or masked_average:
        y = numpy_pool(op, xp, mp, n, k, s, d, masked_average, integer)
    else:
        y = torch_pool(op, xp, n, k, s, d)
    y_mask = conv_mask(mask, time_padding, k[0], s[0], d[0])
    assert y.shape[1] == y_mask.shape[1], (y.shape, y_mask.shape)
    valid = y[y_mask]
    assert np.all(np.isfinite(valid)), "a valid output is infinite: pick other lengths"
    y = np.where(y_mask.reshape(y_mask.shape + (1,) * (y.ndim - 2)), y, 0)

    name = f"{NAMES[op]}{n}D"
    if n == 1:
        config = {"type": name, "pool_size": k[0], "strides": s[0], "dilation_rate": d[0], "padding": time_padding}
    else:
        sp = [list(p) if not isinstance(p, str) else p for p in spatial_padding]
        config = {"type": name, "pool_size": list(k), "strides": list(s), "dilation_rate": list(d), "time_padding": time_padding,
                  "spatial_padding": sp[0] if n == 2 else sp}
    if op == "average":
        config["masked_average"] = masked_average
    label = f"{name} k={list(k)} s={list(s)} d={list(d)} {time_padding}" + (f" {spatial_padding}" if n > 1 else "")
    label += " masked" if masked_average else ""
    label += " int32" if integer else ""
    return case(label, config, x_in, y, lengths=lengths, output_mask=y_mask,
                input_dtype="int32" if integer else "float32", rtol=1e-5, atol=1e-5)


PARAMS_1D = [(3, 2, 1), (2, 1, 2), (4, 3, 1), (3, 1, 3), (2, 2, 1), (5, 2, 1), (3, 3, 2), (1, 1, 1)]

cases = []
# 1-D: every (reduction, padding) once, the parameter triple rotating.
for i, op in enumerate(("max", "min", "average")):
    for j, padding in enumerate(MODES):
        k, s, d = PARAMS_1D[(i * 3 + j) % len(PARAMS_1D)]
        cases.append(make_case(op, 1, (3,), (k,), (s,), (d,), padding))
for j, padding in enumerate(MODES):
    k, s, d = PARAMS_1D[(j + 5) % len(PARAMS_1D)]
    cases.append(make_case("average", 1, (5,), (k,), (s,), (d,), padding, masked_average=True, lengths=[6, 9]))
cases.append(make_case("max", 1, (), (3,), (1,), (1,), "causal"))
cases.append(make_case("average", 1, (2, 3), (2,), (2,), (1,), "semicausal"))

# 2-D: [space, channels] pooled over time and space.
for op, time_padding, spatial, (k, s, d) in [
    ("max", "causal", "same", ((3, 2), (2, 1), (1, 1))),
    ("min", "reverse_causal", "valid", ((2, 3), (1, 2), (1, 1))),
    ("average", "semicausal", "causal", ((3, 3), (2, 2), (1, 1))),
    ("max", "same", (1, 1), ((2, 2), (1, 1), (2, 1))),
    ("average", "reverse_causal_valid", "reverse_causal", ((2, 2), (2, 1), (1, 2))),
    ("min", "valid", "semicausal", ((3, 2), (1, 1), (1, 1))),
    ("average", "causal_valid", (0, 2), ((2, 3), (1, 1), (1, 1))),
]:
    cases.append(make_case(op, 2, (6, 2), k, s, d, time_padding, (spatial,)))
cases.append(make_case("average", 2, (6, 2), (3, 2), (3, 2), (1, 1), "reverse_causal", ("reverse_causal",), masked_average=True, lengths=[4, 8]))
cases.append(make_case("average", 2, (5,), (2, 3), (1, 2), (2, 1), "causal", ("same",), masked_average=True, lengths=[5, 11]))

# 3-D: [space1, space2, channels].
for op, time_padding, spatial, (k, s, d) in [
    ("max", "causal", ("same", "valid"), ((2, 2, 3), (1, 2, 1), (1, 1, 1))),
    ("min", "reverse_causal", ("causal", "same"), ((3, 2, 2), (2, 1, 2), (1, 1, 1))),
    ("average", "semicausal", ((1, 0), "same"), ((2, 2, 2), (2, 2, 1), (1, 1, 2))),
    ("max", "valid", ("reverse_causal", (0, 1)), ((2, 3, 2), (1, 1, 1), (2, 1, 1))),
]:
    cases.append(make_case(op, 3, (4, 5, 2), k, s, d, time_padding, spatial, t=8))
cases.append(make_case("average", 3, (4, 3, 2), (3, 2, 2), (3, 2, 2), (1, 1, 1), "reverse_causal", ("reverse_causal", "reverse_causal"), masked_average=True, t=9, lengths=[5, 7]))

# int32: int min / int max identities, floor-divided averages of negative sums.
for op, padding, masked in [("max", "causal", False), ("min", "reverse_causal", False), ("average", "reverse_causal", False),
                            ("average", "semicausal", True), ("average", "same", False)]:
    cases.append(make_case(op, 1, (3,), (3,), (2,), (1,), padding, masked_average=masked, integer=True))
cases.append(make_case("average", 2, (5, 2), (3, 2), (2, 1), (1, 1), "causal", ("same",), integer=True))
cases.append(make_case("max", 3, (3, 4), (2, 2, 2), (1, 1, 1), (1, 1, 1), "reverse_causal", ("same", "causal"), integer=True, t=7))

write_fixture("pooling", cases, "torch.nn.functional max_pool1d/2d/3d, avg_pool1d/2d/3d, conv (dilated averages) "
              + torch.__version__ + " on inputs padded with the reduction's identity; masked averages and int32 by NumPy windows; masks from the reference's rules in NumPy")
