"""Oracle fixtures for src/layers/normalization.ts: LayerNormalization from
torch.nn.functional.layer_norm (float64), RMSNormalization from the NumPy formula
x / sqrt(mean(x^2) + eps) * scale (float64). Inputs are float32, with random lengths.

Reduction axes that are not the trailing channel axes are moved to the end for torch (which
only normalises trailing dims) and moved back. Writes test/fixtures/normalization.json.
Run: /usr/bin/python3 tools/fixtures_normalization.py
"""
import numpy as np
import torch

from fixtures_common import case, write_fixture

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


def random_input(channels, offset=0.0, std=1.0):
    b, t = 2, int(rng.integers(1, 9))
    x = (offset + std * rng.standard_normal((b, t, *channels))).astype(np.float32)
    lengths = rng.integers(0, t + 1, size=b)
    return x, lengths


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

write_fixture(
    "normalization",
    cases,
    "tools/fixtures_normalization.py: torch.nn.functional.layer_norm (float64) and the NumPy RMSNorm formula (float64)",
)
