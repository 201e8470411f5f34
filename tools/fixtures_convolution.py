"""Oracle fixtures for src/layers/convolution.ts.

test/fixtures/convolution.json (Conv1D, DepthwiseConv1D): values from torch.nn.functional.conv1d
on inputs zero-padded per padding mode (the reference's convolution_explicit_padding, re-derived
in fixtures_common.explicit_padding); expected masks from the reference's rules in NumPy
(fixtures_common.conv_mask: mask[:, ::s] for same-like modes, a window AND/OR otherwise),
independent of seqlayers.

test/fixtures/convolution2.json (Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Downsample1D,
Upsample1D, Upsample2D): conv2d/conv3d on explicitly padded inputs; conv_transpose1d/2d with the
kernel flipped and in/out swapped (the reference's transposed convolution is an input-dilated
cross-correlation, see Conv1DTransposeLayer), cropped to the reference's padding; masks from the
reference's compute_conv_transpose_mask re-derived in NumPy; resamplers from NumPy slicing.

Inputs carry garbage at invalid steps: a layer must zero them before convolving.

Run: /usr/bin/python3 tools/fixtures_convolution.py
"""
import numpy as np
import torch
import torch.nn.functional as F

from fixtures_common import case, conv_mask, explicit_padding, padding_amounts, write_fixture

rng = np.random.default_rng(20240611)


def normal(size, std=1.0):
    """Normal values rounded to multiples of 1/256: exact in float32 and short in JSON."""
    return np.round(rng.normal(size=size) * std * 256) / 256


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
    return y, conv_mask(mask, padding, k, s, d)


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


# ---------------------------------------------------------------------------------------------
# Conv2D, Conv3D


def random_input(shape):
    """x [B, T, ...] with random lengths (the first item full length) and garbage at invalid steps."""
    b, t = shape[:2]
    lengths = [t] + [int(rng.integers(1, t)) for _ in range(b - 1)]
    return normal(shape), lengths


def valid_mask(lengths, t):
    return np.arange(t)[None, :] < np.asarray(lengths)[:, None]


def masked(x, lengths):
    m = valid_mask(lengths, x.shape[1])
    return np.where(m.reshape(m.shape + (1,) * (x.ndim - 2)), x, 0.0)


def make_spatial_case(name, rank, filters, cin, spatial, k, s, d, time_padding, spatial_padding_, groups=1, use_weight_norm=False, activation=None):
    """Conv2D (rank 2) or Conv3D (rank 3); k, s, d per axis (time first), spatial_padding_ per spatial axis."""
    t = int(rng.integers(6, 12))
    x, lengths = random_input((2, t) + tuple(spatial) + (cin,))
    w = normal(tuple(k) + (cin // groups, filters), 1 / np.sqrt(np.prod(k) * cin // groups))
    bias = normal((filters,))
    config = {"type": "Conv2D" if rank == 2 else "Conv3D", "filters": filters, "kernel_size": list(k), "strides": list(s),
              "dilation_rate": list(d), "time_padding": time_padding, "groups": groups,
              "spatial_padding": spatial_padding_[0] if rank == 2 else list(spatial_padding_)}
    weights = {"kernel": w, "bias": bias}
    effective = w
    if use_weight_norm:
        config["use_weight_norm"] = True
        weights["scale"] = np.round(rng.uniform(0.5, 2.0, size=(filters,)) * 256) / 256
        effective = weight_norm(w, weights["scale"])
    pads = [explicit_padding(time_padding, k[0], s[0], d[0])] + [padding_amounts(p, k[i + 1], s[i + 1], d[i + 1]) for i, p in enumerate(spatial_padding_)]
    xt = torch.tensor(masked(x, lengths), dtype=torch.float64).movedim(-1, 1)  # [B, C, T, *S]
    xt = F.pad(xt, [v for pad in reversed(pads) for v in pad])
    wt = torch.tensor(np.moveaxis(effective, (-1, -2), (0, 1)), dtype=torch.float64)  # [out, C/groups, *k]
    conv = F.conv2d if rank == 2 else F.conv3d
    y = conv(xt, wt, torch.tensor(bias, dtype=torch.float64), stride=tuple(s), dilation=tuple(d), groups=groups).movedim(1, -1).numpy()
    if activation:
        config["activation"] = activation
        y = ACTIVATIONS[activation](y)
    mask = conv_mask(valid_mask(lengths, t), time_padding, k[0], s[0], d[0])
    return case(name, config, x, y, weights=weights, lengths=lengths, output_mask=mask)


# ---------------------------------------------------------------------------------------------
# Transposed convolutions


def transpose_padding(padding, k, s, d):
    """The reference's transpose_conv_explicit_padding."""
    eks = (k - 1) * d + 1
    if padding == "valid":
        return eks - 1, s - 1 + max(eks - s, 0)
    if padding == "causal":
        return eks - 1, s - 1
    if padding == "same":
        total = eks + s - 2
        left = eks - 1 if s > eks - 1 else int(np.ceil(total / 2))
        return left, total - left
    if padding == "semicausal_full":
        return eks - s, eks - 1
    raise ValueError(padding)


def transpose_length(n, padding, k, s, d):
    left, right = transpose_padding(padding, k, s, d)
    return (n - 1) * s + 1 + left + right - (k - 1) * d


def transpose_mask(mask, padding, k, s, d):
    """The reference's compute_conv_transpose_mask: repeat, or a transposed conv of the (inverted) mask."""
    eks = (k - 1) * d + 1
    if eks <= s or padding in ("same", "causal"):
        return np.repeat(mask, s, axis=1)
    left, right = transpose_padding(padding, k, s, d)
    signal = mask if padding == "semicausal_full" else ~mask
    b, t = mask.shape
    dilated = np.zeros((b, (t - 1) * s + 1))
    dilated[:, ::s] = signal
    padded = np.pad(dilated, ((0, 0), (left, right)))
    n = padded.shape[1] - eks + 1
    out = np.stack([padded[:, o : o + eks : d].sum(axis=1) for o in range(n)], axis=1)
    return out > 0 if padding == "semicausal_full" else out == 0


def crop(full, axis, start, length):
    """full[start : start + length] along axis, zero-extended past its end."""
    full = np.moveaxis(full, axis, 0)
    out = np.zeros((length,) + full.shape[1:])
    n = max(0, min(length, full.shape[0] - start))
    out[:n] = full[start : start + n]
    return np.moveaxis(out, 0, axis)


def make_transpose_case(name, cin, filters, k, s, d, padding, spatial=None, groups=1, use_bias=True, use_weight_norm=False, activation=None):
    """Conv1DTranspose, or Conv2DTranspose when spatial = (size, k, s, d, padding)."""
    t = int(rng.integers(5, 10))
    shape = (2, t) + ((spatial[0],) if spatial else ()) + (cin,)
    x, lengths = random_input(shape)
    taps = (k,) + ((spatial[1],) if spatial else ())
    w = normal(taps + (cin // groups, filters), 1 / np.sqrt(np.prod(taps) * cin // groups))
    if spatial:
        config = {"type": "Conv2DTranspose", "filters": filters, "kernel_size": [k, spatial[1]], "strides": [s, spatial[2]],
                  "dilation_rate": [d, spatial[3]], "time_padding": padding, "spatial_padding": spatial[4], "groups": groups}
    else:
        config = {"type": "Conv1DTranspose", "filters": filters, "kernel_size": k, "strides": s, "dilation_rate": d, "padding": padding, "groups": groups}
    config["use_bias"] = use_bias
    weights = {"kernel": w}
    effective = w
    if use_weight_norm:
        config["use_weight_norm"] = True
        weights["scale"] = np.round(rng.uniform(0.5, 2.0, size=(filters,)) * 256) / 256
        effective = weight_norm(w, weights["scale"])
    # PyTorch weight [in, out/groups, *k]: the reference's kernel with its taps flipped.
    cg, fg = cin // groups, filters // groups
    flip = tuple(range(len(taps)))
    wt = np.concatenate([np.flip(np.moveaxis(effective[..., gi * fg : (gi + 1) * fg], (-2, -1), (0, 1)), axis=tuple(a + 2 for a in flip)) for gi in range(groups)])
    xt = torch.tensor(masked(x, lengths), dtype=torch.float64).movedim(-1, 1)
    conv = F.conv_transpose2d if spatial else F.conv_transpose1d
    strides = (s, spatial[2]) if spatial else s
    dilations = (d, spatial[3]) if spatial else d
    full = conv(xt, torch.tensor(wt.copy(), dtype=torch.float64), stride=strides, dilation=dilations, groups=groups).movedim(1, -1).numpy()
    # Output o of the reference is full[o + eks - 1 - left] on each axis.
    axes = [(k, s, d, padding, t)] + ([(spatial[1], spatial[2], spatial[3], spatial[4], spatial[0])] if spatial else [])
    y = full
    for axis, (ka, sa, da, pa, n) in enumerate(axes, start=1):
        left = transpose_padding(pa, ka, sa, da)[0]
        y = crop(y, axis, (ka - 1) * da - left, transpose_length(n, pa, ka, sa, da))
    if use_bias:
        weights["bias"] = normal((filters,))
        y = y + weights["bias"]
    if activation:
        config["activation"] = activation
        y = ACTIVATIONS[activation](y)
    mask = transpose_mask(valid_mask(lengths, t), padding, k, s, d)
    return case(name, config, x, y, weights=weights, lengths=lengths, output_mask=mask)


cases2 = []
for time_padding in MODES:
    cases2.append(make_spatial_case(f"Conv2D time {time_padding} k=(3,3) s=(2,1)", 2, 3, 2, (6,), (3, 3), (2, 1), (1, 1), time_padding, ("same",)))
for time_padding, spatial_padding_, k, s, d in (
    ("causal", "valid", (2, 3), (1, 2), (1, 1)),
    ("reverse_causal", "causal_valid", (3, 2), (2, 2), (2, 1)),
    ("semicausal", "semicausal", (3, 3), (2, 3), (1, 1)),
    ("same", "semicausal_full", (2, 4), (1, 2), (1, 1)),
    ("valid", (2, 3), (3, 3), (1, 2), (1, 2)),
    ("causal_valid", "reverse_causal", (1, 3), (1, 1), (1, 3)),
):
    cases2.append(make_spatial_case(f"Conv2D time {time_padding} space {spatial_padding_} k={k} s={s} d={d}", 2, 3, 2, (7,), k, s, d, time_padding, (spatial_padding_,)))
cases2.append(make_spatial_case("Conv2D groups=2 weight norm relu", 2, 4, 4, (5,), (3, 2), (1, 1), (1, 1), "causal", ("same",), groups=2, use_weight_norm=True, activation="tanh"))
for time_padding, spatial_padding_, k, s, d in (
    ("causal", ("same", "same"), (2, 3, 3), (1, 1, 2), (1, 1, 1)),
    ("reverse_causal_valid", ("valid", (1, 2)), (3, 2, 2), (2, 1, 1), (1, 2, 1)),
    ("semicausal", ("causal", "semicausal"), (3, 3, 2), (2, 2, 1), (1, 1, 1)),
    ("valid", ("reverse_causal_valid", "same"), (1, 2, 3), (1, 1, 1), (1, 1, 2)),
):
    cases2.append(make_spatial_case(f"Conv3D time {time_padding} space {spatial_padding_} k={k} s={s} d={d}", 3, 3, 2, (4, 5), k, s, d, time_padding, spatial_padding_))
cases2.append(make_spatial_case("Conv3D groups=2", 3, 4, 2, (3, 4), (2, 2, 2), (1, 1, 1), (1, 1, 1), "causal", ("same", "same"), groups=2))

for padding in ("valid", "same", "causal"):
    for k, s, d in ((1, 1, 1), (1, 2, 1), (2, 2, 1), (3, 2, 1), (4, 2, 1), (2, 3, 1), (5, 3, 1), (3, 1, 2), (3, 2, 2), (2, 2, 3)):
        cases2.append(make_transpose_case(f"Conv1DTranspose {padding} k={k} s={s} d={d}", 3, 4, k, s, d, padding))
for k, s, d in ((3, 2, 1), (4, 2, 1), (5, 3, 1), (3, 1, 1), (3, 2, 2)):
    cases2.append(make_transpose_case(f"Conv1DTranspose semicausal_full k={k} s={s} d={d}", 3, 4, k, s, d, "semicausal_full"))
for padding in ("valid", "causal"):
    cases2.append(make_transpose_case(f"Conv1DTranspose {padding} groups=2", 4, 6, 3, 2, 1, padding, groups=2))
cases2.append(make_transpose_case("Conv1DTranspose 9 filters, no bias", 3, 9, 4, 2, 1, "causal", use_bias=False))
cases2.append(make_transpose_case("Conv1DTranspose weight norm, swish", 3, 4, 4, 2, 1, "causal", use_weight_norm=True, activation="swish"))
for padding, spatial in (
    ("causal", (5, 3, 2, 1, "same")),
    ("valid", (4, 3, 2, 1, "valid")),
    ("same", (5, 2, 1, 1, "causal")),
    ("causal", (4, 1, 3, 1, "valid")),
    ("semicausal_full", (3, 2, 2, 2, "same")),
    ("valid", (4, 2, 3, 1, "causal")),
):
    cases2.append(make_transpose_case(f"Conv2DTranspose time {padding} space {spatial[4]} k=(3,{spatial[1]}) s=(2,{spatial[2]}) d=(1,{spatial[3]})", 2, 3, 3, 2, 1, padding, spatial=spatial))
cases2.append(make_transpose_case("Conv2DTranspose groups=2 weight norm tanh", 4, 4, 2, 2, 1, "causal", spatial=(3, 2, 2, 1, "same"), groups=2, use_weight_norm=True, activation="tanh"))

# Resamplers: NumPy slicing and repetition.
for rate, shape in ((2, (2, 9, 3)), (3, (2, 10, 2, 3))):
    x, lengths = random_input(shape)
    m = valid_mask(lengths, shape[1])
    cases2.append(case(f"Downsample1D rate={rate} {shape[2:]}", {"type": "Downsample1D", "rate": rate}, x, x[:, ::rate], lengths=lengths, output_mask=m[:, ::rate]))
    cases2.append(case(f"Upsample1D rate={rate} {shape[2:]}", {"type": "Upsample1D", "rate": rate}, x, np.repeat(x, rate, axis=1), lengths=lengths, output_mask=np.repeat(m, rate, axis=1)))
for rate in ((2, 3), (1, 2), (3, 1)):
    x, lengths = random_input((2, 6, 4, 3))
    y = np.repeat(np.repeat(x, rate[0], axis=1), rate[1], axis=2)
    m = np.repeat(valid_mask(lengths, 6), rate[0], axis=1)
    cases2.append(case(f"Upsample2D rate={rate}", {"type": "Upsample2D", "rate": list(rate)}, x, y, lengths=lengths, output_mask=m))

write_fixture("convolution2", cases2, "torch.nn.functional conv2d/conv3d/conv_transpose1d/conv_transpose2d " + torch.__version__ + " on explicitly padded inputs (transposed: flipped kernels, cropped); masks from the reference's rules in NumPy; resamplers from NumPy")
