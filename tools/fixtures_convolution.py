"""Oracle fixtures for Conv1D and DepthwiseConv1D (src/layers/convolution.ts).

Values come from torch.nn.functional.conv1d on inputs zero-padded per padding mode (the reference's
convolution_explicit_padding, re-derived here); expected masks come from the reference's rules in
NumPy (mask[:, ::s] for same-like modes, a window AND/OR otherwise), independent of seqlayers.
Inputs carry garbage at invalid steps: the layer must zero them before convolving.

Run: /usr/bin/python3 tools/fixtures_convolution.py
"""
import numpy as np
import torch
import torch.nn.functional as F

from fixtures_common import case, write_fixture

SAME_LIKE = ("same", "causal", "reverse_causal", "semicausal")
rng = np.random.default_rng(20240611)


def normal(size, std=1.0):
    """Normal values rounded to multiples of 1/256: exact in float32 and short in JSON."""
    return np.round(rng.normal(size=size) * std * 256) / 256


def explicit_padding(padding, k, s, d):
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


def expected_mask(mask, padding, k, s, d):
    """The reference's layer-wise mask rule (compute_conv_mask, is_step=False)."""
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


def oracle(x, lengths, w, bias, padding, k, s, d, groups):
    """x [B, T, C] with garbage at invalid steps; w in our layout [k, C/groups, out]."""
    b, t, _ = x.shape
    mask = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
    xm = np.where(mask[:, :, None], x, 0.0)
    left, right = explicit_padding(padding, k, s, d)
    xt = F.pad(torch.tensor(xm, dtype=torch.float64).permute(0, 2, 1), (left, right))
    wt = torch.tensor(np.transpose(w, (2, 1, 0)), dtype=torch.float64)  # [out, C/groups, k]
    bt = None if bias is None else torch.tensor(bias, dtype=torch.float64)
    y = F.conv1d(xt, wt, bt, stride=s, dilation=d, groups=groups).permute(0, 2, 1).numpy()
    return y, expected_mask(mask, padding, k, s, d)


def weight_norm(w, scale):
    """The reference's _weight_norm: normalise each output channel over all other axes."""
    norm = np.sqrt((w.reshape(-1, w.shape[-1]) ** 2).sum(axis=0) + 1e-12)
    return w * (scale / norm)


ACTIVATIONS = {"tanh": np.tanh, "swish": lambda v: v / (1 + np.exp(-v))}


def make_case(name, layer, cin, k, s, d, padding, groups=1, depth_multiplier=None, use_bias=True, use_weight_norm=False, activation=None):
    b = 2
    t = int(rng.integers(7, 15))
    lengths = [t, int(rng.integers(1, t))]
    x = normal((b, t, cin))
    if depth_multiplier is None:
        filters = layer
        w = normal((k, cin // groups, filters), 1 / np.sqrt(k * cin // groups))
        config = {"type": "Conv1D", "filters": filters, "kernel_size": k, "strides": s, "dilation_rate": d, "padding": padding, "groups": groups}
        out = filters
    else:
        out = cin * depth_multiplier
        w = normal((k, 1, out), 1 / np.sqrt(k))
        config = {"type": "DepthwiseConv1D", "kernel_size": k, "strides": s, "depth_multiplier": depth_multiplier, "dilation_rate": d, "padding": padding}
        groups = cin
    config["use_bias"] = use_bias
    weights = {"kernel": w}
    effective = w
    if use_weight_norm:
        config["use_weight_norm"] = True
        scale = np.round(rng.uniform(0.5, 2.0, size=(out,)) * 256) / 256
        weights["scale"] = scale
        effective = weight_norm(w, scale)
    bias = normal((out,)) if use_bias else None
    if use_bias:
        weights["bias"] = bias
    y, mask = oracle(x, lengths, effective, bias, padding, k, s, d, groups)
    if activation:
        config["activation"] = activation
        y = ACTIVATIONS[activation](y)
    return case(name, config, x, y, weights=weights, lengths=lengths, output_mask=mask)


MODES = ("valid", "same", "causal_valid", "reverse_causal_valid", "causal", "reverse_causal", "semicausal", "semicausal_full")
cases = []
for padding in MODES:
    for k, s, d in ((3, 1, 1), (4, 2, 1), (3, 2, 2), (5, 3, 1), (2, 1, 3), (1, 2, 1)):
        cases.append(make_case(f"Conv1D {padding} k={k} s={s} d={d}", 5, 3, k, s, d, padding))
for padding in ("causal", "same", "reverse_causal_valid", "semicausal_full"):
    cases.append(make_case(f"Conv1D {padding} groups=2", 6, 4, 3, 2, 2, padding, groups=2))
    cases.append(make_case(f"Conv1D {padding} groups=4", 4, 4, 3, 1, 1, padding, groups=4))
cases.append(make_case("Conv1D 9 filters (two GEMM panels)", 9, 3, 3, 1, 1, "causal", use_bias=False))
cases.append(make_case("Conv1D weight norm", 5, 3, 3, 2, 1, "causal", use_weight_norm=True))
cases.append(make_case("Conv1D tanh activation", 5, 3, 3, 2, 1, "semicausal", activation="tanh"))
for padding in MODES:
    for dm, (k, s, d) in ((1, (3, 1, 1)), (2, (3, 2, 2)), (3, (4, 3, 1))):
        cases.append(make_case(f"DepthwiseConv1D {padding} dm={dm} k={k} s={s} d={d}", None, 5, k, s, d, padding, depth_multiplier=dm))
cases.append(make_case("DepthwiseConv1D weight norm, no bias", None, 4, 3, 1, 2, "semicausal", depth_multiplier=2, use_bias=False, use_weight_norm=True))
cases.append(make_case("DepthwiseConv1D swish activation", None, 4, 3, 1, 1, "causal", depth_multiplier=2, activation="swish"))

write_fixture("convolution", cases, "torch.nn.functional.conv1d " + torch.__version__ + " on explicitly padded inputs; masks from the reference's rules in NumPy")
