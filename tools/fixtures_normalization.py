"""Oracle fixtures for src/layers/normalization.ts, all in float64 from float32 inputs with
random lengths:
- LayerNormalization: torch.nn.functional.layer_norm;
- RMSNormalization: the NumPy formula x / sqrt(mean(x^2) + eps) * scale;
- L2Normalize: the NumPy formula x / sqrt(sum(x^2) + eps);
- BatchNormalization: torch.nn.functional.batch_norm in eval mode with running statistics;
- GroupNormalization: torch.nn.functional.group_norm on each batch item's valid steps only
  (the reference's statistics over time and grouped channels of valid steps), and for
  cumulative=True a NumPy loop over steps written from the reference's
  _cumulative_masked_moments_streaming (running sums of valid steps; each step's squared
  deviations taken from its running mean; counts floored at 1).

Reduction axes that are not the trailing channel axes are moved to the end for torch (which
only normalises trailing dims) and moved back. Writes test/fixtures/normalization.json.
Run: /usr/bin/python3 tools/fixtures_normalization.py
"""
import numpy as np
import torch

from fixtures_common import case, random_lengths, write_fixture

rng = np.random.default_rng(20240611)


def full_axes(axis, rank):
    axes = [axis] if isinstance(axis, int) else axis
    return sorted({a % rank for a in axes})


def moved_to_end(x, axes):
    """x with `axes` moved to the end (in order), and the permutation that undoes it."""
    keep = [a for a in range(x.ndim) if a not in axes]
    perm = keep + list(axes)
    return np.transpose(x, perm), np.argsort(perm)


def layer_norm(x, axis, eps, scale, bias):
    axes = full_axes(axis, x.ndim)
    xt, undo = moved_to_end(x.astype(np.float64), axes)
    shape = [x.shape[a] for a in axes]
    w = None if scale is None else torch.from_numpy(scale.astype(np.float64))
    b = None if bias is None else torch.from_numpy(bias.astype(np.float64))
    y = torch.nn.functional.layer_norm(torch.from_numpy(np.ascontiguousarray(xt)), shape, w, b, eps).numpy()
    return np.transpose(y, undo)


def rms_norm(x, axis, eps, scale):
    axes = tuple(full_axes(axis, x.ndim))
    x = x.astype(np.float64)
    y = x / np.sqrt(np.mean(np.square(x), axis=axes, keepdims=True) + eps)
    if scale is not None:
        shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
        y = y * scale.astype(np.float64).reshape(shape)
    return y


def l2_normalize(x, axis, eps):
    axes = tuple(full_axes(axis, x.ndim))
    x = x.astype(np.float64)
    return x / np.sqrt(np.sum(np.square(x), axis=axes, keepdims=True) + eps)


def batch_norm(x, axis, eps, scale, bias, mean, var):
    """torch's eval-mode batch_norm over the feature axis `axis` (moved to dim 1 for torch)."""
    a = axis % x.ndim
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x.astype(np.float64), a, 1)))
    as64 = lambda v: None if v is None else torch.from_numpy(v.astype(np.float64))
    y = torch.nn.functional.batch_norm(xt, as64(mean), as64(var), as64(scale), as64(bias), training=False, eps=eps)
    return np.moveaxis(y.numpy(), 1, a)


def group_norm(x, lengths, axis, groups, eps, scale, bias):
    """torch's group_norm of each batch item's valid steps, the grouped axis moved to dim 1
    (torch pools the statistics over that group's channels and every other dim, time
    included). Invalid steps are left 0 (never compared)."""
    a = axis % x.ndim
    y = np.zeros(x.shape)
    as64 = lambda v: None if v is None else torch.from_numpy(v.astype(np.float64))
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        xb = np.moveaxis(x[b, :n].astype(np.float64), a - 1, 0)[None]  # [1, A, n, ...]
        yb = torch.nn.functional.group_norm(torch.from_numpy(np.ascontiguousarray(xb)), groups, as64(scale), as64(bias), eps)
        y[b, :n] = np.moveaxis(yb.numpy()[0], 0, a - 1)
    return y


def cumulative_group_norm(x, lengths, axis, groups, eps, scale, bias):
    """The reference's cumulative GroupNormalization, one step at a time in float64."""
    a = axis % x.ndim
    b_, t_ = x.shape[:2]
    y = np.zeros(x.shape)
    for b in range(b_):
        sum_v = np.zeros(groups)
        count_v = np.zeros(groups)
        sum_vv = np.zeros(groups)
        for t in range(t_):
            step = np.moveaxis(x[b, t].astype(np.float64), a - 2, 0)  # [A, ...]
            v = step.reshape(groups, -1, *step.shape[1:]).reshape(groups, -1)  # [groups, elements]
            valid = t < lengths[b]
            if valid:
                sum_v += v.sum(1)
                count_v += v.shape[1]
            count = np.maximum(count_v, 1)
            mean = sum_v / count
            if valid:
                sum_vv += np.square(v - mean[:, None]).sum(1)
            var = sum_vv / count
            out = (v - mean[:, None]) / np.sqrt(var + eps)[:, None]
            y[b, t] = np.moveaxis(out.reshape(step.shape), 0, a - 2)
    shape = [x.shape[a] if i == a else 1 for i in range(x.ndim)]
    if scale is not None:
        y = y * scale.astype(np.float64).reshape(shape)
    if bias is not None:
        y = y + bias.astype(np.float64).reshape(shape)
    return y


def random_input(channels, offset=0.0, std=1.0):
    b, t = 2, int(rng.integers(1, 9))
    x = (offset + std * rng.standard_normal((b, t, *channels))).astype(np.float32)
    lengths = random_lengths(rng, b, t)
    return x, lengths


def partial_input(channels, offset=0.0, std=1.0):
    """Like random_input, but 3..8 steps, one full item and one shorter (possibly empty)."""
    t = int(rng.integers(3, 9))
    x = (offset + std * rng.standard_normal((2, t, *channels))).astype(np.float32)
    return x, [t, int(rng.integers(0, t))]


def reduced_shape(channels, axis):
    """The parameter shape: sizes of the reduced channel axes, in axis order."""
    return [channels[a - 2] for a in full_axes(axis, len(channels) + 2)]


cases = []

# LayerNormalization: (name, channels, axis, extra config, input offset and spread)
for name, channels, axis, extra, offset, std in [
    ("last axis", [8], -1, {}, 0, 1),
    ("last axis of [3, 5]", [3, 5], -1, {}, 0, 1),
    ("row of 1", [1], -1, {}, 0, 1),
    ("row of 17", [17], [-1], {}, 0.5, 2),
    ("axis -2 (strided)", [4, 9], [-2], {}, 0, 1),
    ("axes -1 and -2", [4, 8], [-1, -2], {}, 0, 1),
    ("positive axis 2 of [2, 3, 5]", [2, 3, 5], 2, {}, 0, 1),
    ("axes 3 and 4 of [2, 3, 5]", [2, 3, 5], [3, 4], {}, 0, 1),
    ("non-adjacent axes 2 and 4", [2, 3, 5], [2, 4], {}, 0, 1),
    ("no bias", [6], -1, {"use_bias": False}, 0, 1),
    ("no scale, no bias, epsilon 1", [4, 8], [-1, -2], {"use_bias": False, "use_scale": False, "epsilon": 1.0}, 0, 1),
    ("large offset", [64], -1, {}, 1e3, 0.1),
]:
    x, lengths = random_input(channels, offset, std)
    config = {"type": "LayerNormalization", "axis": axis, **extra}
    eps = extra.get("epsilon", 1e-6)
    shape = reduced_shape(channels, axis)
    weights = {}
    scale = bias = None
    if extra.get("use_scale", True):
        scale = weights["scale"] = (1 + 0.5 * rng.standard_normal(shape)).astype(np.float32)
    if extra.get("use_bias", True):
        bias = weights["bias"] = rng.standard_normal(shape).astype(np.float32)
    y = layer_norm(x, axis, eps, scale, bias)
    cases.append(case(f"LayerNormalization {name}", config, x, y, weights=weights, lengths=lengths, rtol=1e-5, atol=2e-6))

# RMSNormalization
for name, channels, axis, extra, offset in [
    ("last axis", [3], -1, {"epsilon": 0.1}, 0),
    ("last axis of [5, 9]", [5, 9], [-1], {}, 0),
    ("axis -2 (strided)", [5, 9], [-2], {}, 0),
    ("axes -1 and -2", [5, 9], [-1, -2], {}, 0),
    ("non-adjacent axes 2 and 4", [2, 3, 5], [2, 4], {}, 0),
    ("row of 127", [127], -1, {}, 0),
    ("no scale", [6], -1, {"use_scale": False}, 0),
    ("offset input", [16], -1, {}, 1e3),
]:
    x, lengths = random_input(channels, offset)
    config = {"type": "RMSNormalization", "axis": axis, **extra}
    eps = extra.get("epsilon", 1e-6)
    weights = {}
    scale = None
    if extra.get("use_scale", True):
        scale = weights["scale"] = (1 + 0.5 * rng.standard_normal(reduced_shape(channels, axis))).astype(np.float32)
    y = rms_norm(x, axis, eps, scale)
    cases.append(case(f"RMSNormalization {name}", config, x, y, weights=weights, lengths=lengths, rtol=1e-5, atol=2e-6))

# L2Normalize
for name, channels, axis, extra, offset in [
    ("last axis", [3], -1, {}, 0),
    ("last axis of [3, 5]", [3, 5], [-1], {}, 0),
    ("axis -2 (strided)", [5, 3], [-2], {}, 0),
    ("axes -1 and -2", [3, 5], [-1, -2], {}, 0),
    ("non-adjacent axes 2 and 4", [2, 3, 2], [2, 4], {}, 0),
    ("row of 17, epsilon 1", [17], -1, {"epsilon": 1.0}, 0),
    ("offset input", [16], -1, {}, 1e3),
]:
    x, lengths = partial_input(channels, offset)
    config = {"type": "L2Normalize", "axis": axis, **extra}
    y = l2_normalize(x, axis, extra.get("epsilon", 1e-12))
    cases.append(case(f"L2Normalize {name}", config, x, y, lengths=lengths, rtol=1e-5, atol=2e-6))


def affine_weights(size, extra):
    """Random scale and bias (None when the config drops them) as float32 [size]."""
    scale = bias = None
    if extra.get("use_scale", True):
        scale = (1 + 0.5 * rng.standard_normal(size)).astype(np.float32)
    if extra.get("use_bias", True):
        bias = rng.standard_normal(size).astype(np.float32)
    return scale, bias


# BatchNormalization: (name, channels, axis, extra config)
for name, channels, axis, extra in [
    ("last axis", [3], -1, {}),
    ("axis -2 of [5, 3] (strided)", [5, 3], -2, {}),
    ("positive axis 3 of [2, 3, 2]", [2, 3, 2], 3, {}),
    ("9 features", [9], -1, {"momentum": 0.9}),
    ("no bias, epsilon 1", [6], -1, {"use_bias": False, "epsilon": 1.0}),
    ("no scale, no bias", [5, 3], -2, {"use_bias": False, "use_scale": False, "use_fast_variance": False}),
]:
    x, lengths = partial_input(channels, 0.3, 2)
    size = channels[(axis % (len(channels) + 2)) - 2]
    config = {"type": "BatchNormalization", "axis": axis, **extra}
    scale, bias = affine_weights(size, extra)
    mean = rng.standard_normal(size).astype(np.float32)
    var = rng.uniform(0.2, 3, size).astype(np.float32)
    weights = {"mean": mean, "var": var}
    if scale is not None:
        weights["scale"] = scale
    if bias is not None:
        weights["bias"] = bias
    y = batch_norm(x, axis, extra.get("epsilon", 1e-3), scale, bias, mean, var)
    cases.append(case(f"BatchNormalization {name}", config, x, y, weights=weights, lengths=lengths, rtol=1e-5, atol=2e-6))

# GroupNormalization: (name, channels, axis, num_groups, extra config, input offset), each
# non-cumulative (torch) and cumulative (NumPy loop).
for name, channels, axis, groups, extra, offset in [
    ("[6], 3 groups", [6], -1, 3, {}, 0),
    ("[5, 3] axis -2, 5 groups", [5, 3], -2, 5, {}, 0),
    ("[5, 3] axis -2, 1 group", [5, 3], -2, 1, {}, 0),
    ("[2, 4, 2] axis 3, 2 groups", [2, 4, 2], 3, 2, {}, 0),
    ("[8], 8 groups", [8], -1, 8, {}, 0),
    ("[12], 2 groups, epsilon 1", [12], -1, 2, {"epsilon": 1.0}, 0),
    ("[8], 4 groups, no bias", [8], -1, 4, {"use_bias": False}, 0),
    ("[3, 4], 2 groups, no scale, no bias", [3, 4], -1, 2, {"use_bias": False, "use_scale": False}, 0),
    ("[12], 3 groups, offset input", [12], -1, 3, {}, 10),
]:
    for cumulative in (False, True):
        x, lengths = partial_input(channels, offset)
        size = channels[(axis % (len(channels) + 2)) - 2]
        config = {"type": "GroupNormalization", "num_groups": groups, "axis": axis, "cumulative": cumulative, **extra}
        scale, bias = affine_weights(size, extra)
        weights = {k: v for k, v in (("scale", scale), ("bias", bias)) if v is not None}
        eps = extra.get("epsilon", 1e-6)
        if cumulative:
            y = cumulative_group_norm(x, lengths, axis, groups, eps, scale, bias)
        else:
            y = group_norm(x, lengths, axis, groups, eps, scale, bias)
        label = "cumulative" if cumulative else "whole sequence"
        cases.append(case(f"GroupNormalization {name}, {label}", config, x, y, weights=weights, lengths=lengths, rtol=1e-5, atol=1e-5))

write_fixture(
    "normalization",
    cases,
    "tools/fixtures_normalization.py: torch.nn.functional layer_norm, batch_norm (eval) and group_norm (valid steps); "
    "NumPy RMSNorm, L2 and cumulative group norm formulas (all float64)",
)
