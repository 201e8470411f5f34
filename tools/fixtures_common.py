"""Shared helpers for the fixture scripts in tools/ (oracles we did not write: PyTorch, NumPy, SciPy).

Each script builds cases with `case(...)` and writes them with `write_fixture(name, cases)` to
test/fixtures/<name>.json; test/fixtures.ts runs every case through seqlayers and compares.
A case holds a seqlayers config (reference field names), the input sequence, the weights by
parameter path in seqlayers layouts, and the oracle's output. Run with Debian's python3
(apt-get install python3-torch python3-numpy python3-scipy): /usr/bin/python3 tools/<script>.py
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def f32(v):
    """The shortest decimal that reads back as the same float32 (keeps fixture files small)."""
    return float(str(np.float32(v)))


def q8_columns(kernel_kn):
    """weight_storage 'int8' weights: float32 column scales max |col| / 127 and the int8 values
    np.rint(kernel / scale) (0 where a column is all zero), as int64."""
    kernel_kn = np.asarray(kernel_kn, np.float32)
    scale = (np.abs(kernel_kn).max(axis=0) / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    return np.where(scale > 0, np.clip(np.rint(kernel_kn / safe), -127, 127), 0).astype(np.int64), scale


def q8_rows(rows):
    """weight_storage 'int8' inputs: per row of [R, K] a float32 scale max |row| / 32767 and the
    int16 values np.rint(row / scale) (0 for an all-zero row), as int64."""
    rows = np.asarray(rows, np.float32)
    scale = (np.abs(rows).max(axis=1) / np.float32(32767)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))[:, None]
    return np.where(scale[:, None] > 0, np.clip(np.rint(rows / safe), -32767, 32767), 0).astype(np.int64), scale


def q8_matmul(x, kernel_kn, bias=None):
    """x [..., K] times a [K, N] kernel stored as int8, row by row with exact integer sums, in
    float64: scale * (sx * (xq . q)) (+ bias)."""
    q, scale = q8_columns(kernel_kn)
    xq, sx = q8_rows(np.asarray(x).reshape(-1, q.shape[0]))
    y = (xq @ q).astype(np.float64) * sx[:, None].astype(np.float64) * scale.astype(np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(-1)
    return y.reshape(*np.asarray(x).shape[:-1], q.shape[1])


def random_lengths(rng, batch, time):
    """Valid lengths per batch item, drawn as rng.integers(0, time + 1, size=batch); when every
    item came out empty the first is made full (no extra draw), so that the case compares values."""
    lengths = rng.integers(0, time + 1, size=batch)
    if time > 0 and lengths.max() == 0:
        lengths[0] = time
    return lengths


def tensor(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "values": [f32(v) for v in a.astype(np.float32).ravel()]}


def case(name, config, x, output, weights=None, lengths=None, output_mask=None, input_dtype="float32", rtol=1e-4, atol=1e-5):
    """x: [B, T, ...] input values; output: [B, T', ...] oracle values (compared at valid steps).

    lengths: valid lengths per batch item (default all valid); output_mask: [B, T'] expected mask
    (default: the input's mask). Values are compared at the steps the layer marks valid."""
    x = np.asarray(x)
    c = {
        "name": name,
        "config": config,
        "input_dtype": input_dtype,
        "input": {"shape": list(x.shape), "values": [f32(v) if input_dtype == "float32" else int(v) for v in x.ravel()]},
        "weights": {k: tensor(v) for k, v in (weights or {}).items()},
        "output": tensor(output),
        "rtol": rtol,
        "atol": atol,
    }
    if lengths is not None:
        c["lengths"] = [int(v) for v in lengths]
    if output_mask is not None:
        c["output_mask"] = [int(v) for v in np.asarray(output_mask).ravel()]
    return c


def write_fixture(name, cases, source):
    path = os.path.join(ROOT, "test", "fixtures", f"{name}.json")
    with open(path, "w") as f:
        json.dump({"source": source, "cases": cases}, f, separators=(",", ":"))
    print(f"wrote {path} ({len(cases)} cases)")


SAME_LIKE = ("same", "causal", "reverse_causal", "semicausal")


def explicit_padding(padding, k, s, d):
    """[left, right] time padding of a padding mode (the reference's convolution_explicit_padding)."""
    eks = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (eks - 1) // 2, eks - 1 - (eks - 1) // 2
    if padding in ("causal", "causal_valid"):
        return eks - 1, 0
    if padding in ("reverse_causal", "reverse_causal_valid"):
        return 0, eks - 1
    if padding == "semicausal":
        left = max(eks - s, 0)
        return left, eks - 1 - left
    if padding == "semicausal_full":
        return max(eks - s, 0), eks - 1
    raise ValueError(padding)


def padding_amounts(padding, k, s, d):
    """[left, right] of a padding given as explicit amounts (taken as they are) or as a mode."""
    return tuple(padding) if not isinstance(padding, str) else explicit_padding(padding, k, s, d)


def conv_mask(mask, padding, k, s, d):
    """The reference's layer-wise output mask of a conv-like layer (compute_conv_mask, is_step=False):
    mask[:, ::s] for same-like modes, else a window AND (OR for semicausal_full) over the padded
    mask, causal_valid's padding counting as valid."""
    if padding in SAME_LIKE:
        return mask[:, ::s]
    left, right = explicit_padding(padding, k, s, d)
    m = np.pad(mask, ((0, 0), (left, right)), constant_values=(padding == "causal_valid"))
    eks = (k - 1) * d + 1
    n = max(0, (m.shape[1] - eks) // s + 1)
    out = np.zeros((mask.shape[0], n), dtype=bool)
    for j in range(n):
        window = m[:, j * s : j * s + eks : d]
        out[:, j] = window.any(axis=1) if padding == "semicausal_full" else window.all(axis=1)
    return out
