"""Oracle fixtures for the position, conditioning, time-varying and GMM attention layers.

Writes test/fixtures/{position,conditioning,time_varying,gmm_attention}.json. Every oracle is
written here from the reference's formulas (sequence_layers/jax/position.py, conditioning.py,
time_varying.py, attention/gmm_attention.py) in float64 numpy or torch, never from seqlayers:
  - AddTimingSignal: tensor2tensor's get_timing_signal_1d with explicit positions (numpy);
  - ApplyRotaryPositionalEncoding: the usual rotate-half RoPE (cos/sin of position * inv_freq,
    x * cos + rotate_half(x) * sin) in torch;
  - Conditioning: torch.tensordot projection, then the combination with torch broadcasting;
  - SequenceDense / MaskedDense / SequenceEmbedding: per-step einsums and gathers (numpy);
  - GmmAttention: the mixture of Gaussians over source positions (torch).
Inputs have random lengths (or random non-contiguous masks where positions count valid steps).
Run: /usr/bin/python3 tools/fixtures_position.py
"""
import math

import numpy as np
import torch

from fixtures_common import case, tensor, write_fixture

rng = np.random.default_rng(20240607)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def lengths_mask(b, t, low=1):
    lengths = rng.integers(low, t + 1, size=b)
    return lengths, (np.arange(t)[None, :] < lengths[:, None])


def random_mask(b, t):
    m = rng.random((b, t)) < 0.7
    m[:, 0] |= ~m.any(axis=1)  # at least one valid step per item
    return m


def sequence_constant(values, mask, dtype="float32"):
    v = np.asarray(values)
    return {"kind": "sequence", "dtype": dtype, "shape": list(v.shape), "values": tensor(v)["values"] if dtype == "float32" else [int(a) for a in v.ravel()],
            "mask": [int(a) for a in np.asarray(mask).ravel()]}


def array_constant(values):
    v = np.asarray(values)
    return {"kind": "array", "dtype": "float32", "shape": list(v.shape), "values": tensor(v)["values"]}


def valid_positions(mask):
    """The reference's default position counting: max(0, cumsum(mask) - 1)."""
    return np.maximum(0, np.cumsum(mask.astype(np.int64), axis=1) - 1).astype(np.float64)


def physical_positions(b, t):
    return np.broadcast_to(np.arange(t, dtype=np.float64)[None], (b, t))


# ---------------------------------------------------------------------------------------------
# AddTimingSignal and ApplyRotaryPositionalEncoding


def timing_signal(position, channels, min_timescale, max_timescale):
    """tensor2tensor get_timing_signal_1d with explicit positions [B, T] -> [B, T, channels]."""
    num_timescales = channels // 2
    log_increment = math.log(max_timescale / min_timescale) / max(num_timescales - 1, 1)
    inv = min_timescale * np.exp(np.arange(num_timescales) * -log_increment)
    scaled = position[:, :, None] * inv[None, None, :]
    signal = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=2)
    return np.pad(signal, [[0, 0], [0, 0], [0, channels % 2]])


def along_axes(shape, axes):
    if axes is None:
        return tuple(shape)
    axes = [axes] if isinstance(axes, int) else axes
    out = [1] * len(shape)
    for a in axes:
        out[a] = shape[a]
    return tuple(out)


def timing_cases():
    cases = []
    specs = [
        dict(channels=(3,), axes=None, min_ts=1.0, max_ts=1e4, scale=None, valid=True),
        dict(channels=(8,), axes=None, min_ts=1.0, max_ts=1e4, scale=None, valid=True),
        dict(channels=(7,), axes=None, min_ts=10.0, max_ts=1e5, scale=None, valid=False),
        dict(channels=(5, 9), axes=[1], min_ts=1.0, max_ts=1e4, scale=0.7, valid=True),
        dict(channels=(2, 3, 5), axes=[0, 2], min_ts=1.0, max_ts=1e4, scale=-1.3, valid=False),
        dict(channels=(4, 6), axes=-1, min_ts=2.0, max_ts=500.0, scale=None, valid=True),
    ]
    for i, s in enumerate(specs):
        b, t = 3, 11
        mask = random_mask(b, t) if s["valid"] else lengths_mask(b, t)[1]
        x = normal(b, t, *s["channels"]) * mask.reshape(b, t, *([1] * len(s["channels"])))
        pos = valid_positions(mask) if s["valid"] else physical_positions(b, t)
        target = along_axes(s["channels"], s["axes"])
        signal = timing_signal(pos, int(np.prod(target)), s["min_ts"], s["max_ts"]).reshape(b, t, *target)
        weights = {}
        if s["scale"] is not None:
            signal = signal * s["scale"]
            weights["scale"] = np.float32(s["scale"])
        y = x.astype(np.float64) + signal
        config = {"type": "AddTimingSignal", "min_timescale": s["min_ts"], "max_timescale": s["max_ts"], "trainable_scale": s["scale"] is not None,
                  "axes": s["axes"], "only_advance_position_for_valid_timesteps": s["valid"]}
        c = case(f"AddTimingSignal {i}: channels {s['channels']}, axes {s['axes']}, valid-count {s['valid']}", config, x, y, weights=weights, rtol=1e-5, atol=2e-5)
        c["input_mask"] = [int(v) for v in mask.ravel()]
        cases.append(c)
    return cases


def rope_torch(x, position, max_wavelength, axis):
    """Rotate-half RoPE: x [B, T, ...C] rotated along `axis` (of the full shape) by position [B, T]."""
    xt = torch.tensor(x, dtype=torch.float64).movedim(axis, -1)
    d = xt.shape[-1]
    inv_freq = 1.0 / (max_wavelength ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    pos = torch.tensor(position, dtype=torch.float64)
    angle = pos.reshape(pos.shape + (1,) * (xt.dim() - 2)) * inv_freq  # [B, T, 1.., d/2]
    cos = torch.cat([angle.cos(), angle.cos()], dim=-1)
    sin = torch.cat([angle.sin(), angle.sin()], dim=-1)
    rotate_half = torch.cat([-xt[..., d // 2:], xt[..., : d // 2]], dim=-1)
    return (xt * cos + rotate_half * sin).movedim(-1, axis).numpy()


def rope_cases():
    cases = []
    specs = [
        dict(channels=(4,), axis=-1, wl=1e4, valid=True),
        dict(channels=(16,), axis=-1, wl=1e4, valid=True),
        dict(channels=(3, 6), axis=-1, wl=1e5, valid=False),
        dict(channels=(6, 5), axis=2, wl=100.0, valid=True),
        dict(channels=(2, 8, 3), axis=-2, wl=1e4, valid=False),
    ]
    for i, s in enumerate(specs):
        b, t = 3, 13
        mask = random_mask(b, t) if s["valid"] else lengths_mask(b, t)[1]
        x = normal(b, t, *s["channels"]) * mask.reshape(b, t, *([1] * len(s["channels"])))
        pos = valid_positions(mask) if s["valid"] else physical_positions(b, t)
        y = rope_torch(x, pos, s["wl"], s["axis"])
        config = {"type": "ApplyRotaryPositionalEncoding", "max_wavelength": s["wl"], "axis": s["axis"],
                  "only_advance_position_for_valid_timesteps": s["valid"]}
        c = case(f"ApplyRotaryPositionalEncoding {i}: channels {s['channels']}, axis {s['axis']}, valid-count {s['valid']}", config, x, y, rtol=1e-5, atol=2e-5)
        c["input_mask"] = [int(v) for v in mask.ravel()]
        cases.append(c)
    # Positions from constants (int32, batch 1 broadcast), physical positions ignored.
    b, t = 2, 9
    lengths, mask = lengths_mask(b, t)
    x = normal(b, t, 8) * mask[:, :, None]
    pos = rng.integers(0, 50, size=(1, t))
    y = rope_torch(x, np.broadcast_to(pos, (b, t)), 1e4, -1)
    config = {"type": "ApplyRotaryPositionalEncoding", "max_wavelength": 1e4, "only_advance_position_for_valid_timesteps": False, "positions_name": "positions"}
    c = case("ApplyRotaryPositionalEncoding: positions from constants", config, x, y, lengths=lengths, rtol=1e-5, atol=2e-5)
    c["constants"] = {"positions": sequence_constant(pos.astype(np.int32), np.ones((1, t)), dtype="int32")}
    cases.append(c)
    return cases


# ---------------------------------------------------------------------------------------------
# SequenceDense, MaskedDense, SequenceEmbedding


def time_varying_cases():
    cases = []
    for i, (b, t, din, o, n, use_bias, act) in enumerate([(2, 6, 5, 4, 6, True, None), (3, 5, 3, 7, 9, False, None), (2, 7, 4, 3, 8, True, "tanh")]):
        lengths, mask = lengths_mask(b, t)
        x = normal(b, t, din) * mask[:, :, None]
        kernel, bias = normal(n, din, o), normal(n, o)
        y = np.einsum("bti,tio->bto", x.astype(np.float64), kernel[:t].astype(np.float64))
        if use_bias:
            y = y + bias[None, :t]
        if act == "tanh":
            y = np.tanh(y)
        weights = {"kernel": kernel, **({"bias": bias} if use_bias else {})}
        config = {"type": "SequenceDense", "features": o, "num_steps": n, "use_bias": use_bias, "activation": act}
        cases.append(case(f"SequenceDense {i}: [{b}, {t}, {din}] -> {o}, num_steps {n}, use_bias {use_bias}, activation {act}", config, x, y, weights=weights, lengths=lengths))
    for i, (b, t, din, o, n, use_bias) in enumerate([(2, 6, 5, 4, 6, True), (3, 4, 3, 7, 8, False), (2, 5, 2, 3, 5, True)]):
        mask = random_mask(b, t)
        x = normal(b, t, din) * mask[:, :, None]
        kernel, bias = normal(n, n, din, o), normal(n, o)
        # y[t] = sum_{s <= t} x[s] kernel[s, t] (+ bias[t]): invalid steps enter as zeros.
        causal = np.triu(np.ones((n, n)))[:t, :t]  # [s, t], 1 where s <= t
        y = np.einsum("bsi,st,stio->bto", x.astype(np.float64), causal, kernel[:t, :t].astype(np.float64))
        if use_bias:
            y = y + bias[None, :t]
        weights = {"kernel": kernel, **({"bias": bias} if use_bias else {})}
        config = {"type": "MaskedDense", "features": o, "num_steps": n, "use_bias": use_bias}
        c = case(f"MaskedDense {i}: [{b}, {t}, {din}] -> {o}, num_steps {n}, use_bias {use_bias}, random mask", config, x, y, weights=weights)
        c["input_mask"] = [int(v) for v in mask.ravel()]
        cases.append(c)
    for i, (shape, per, n, d, round_to) in enumerate([((2, 5, 3), 4, 6, 5, None), ((3, 4), [2, 3, 5, 7], 4, 6, 16), ((2, 6, 2, 2), [4, 1, 3, 2, 6, 5, 3], 7, 3, None)]):
        b, t = shape[:2]
        lengths, mask = lengths_mask(b, t)
        limits = np.array([per] * n if isinstance(per, int) else per)
        offsets = np.concatenate([[0], np.cumsum(limits)[:-1]])
        rows = int(limits.sum())
        if round_to:
            rows = -(-rows // round_to) * round_to
        ids = (rng.random(shape) * limits[None, :t].reshape((1, t) + (1,) * (len(shape) - 2))).astype(np.int32)
        ids = ids * mask.reshape((b, t) + (1,) * (len(shape) - 2))
        table = normal(rows, d)
        y = table[ids + offsets[:t].reshape((1, t) + (1,) * (len(shape) - 2))]
        config = {"type": "SequenceEmbedding", "dimension": d, "num_embeddings_per_step": per, "num_steps": n, "round_num_embeddings_to_multiple_of": round_to}
        cases.append(case(f"SequenceEmbedding {i}: ids {shape}, per step {per}, round {round_to}", config, ids, y, weights={"embedding": table}, lengths=lengths, input_dtype="int32"))
    return cases


# ---------------------------------------------------------------------------------------------
# Conditioning


def project_torch(c, kernel, bias, c_shape, p_shape):
    """DenseShaped: tensordot over the conditioning channels ([1] if none) into P ([1] if none)."""
    ct = torch.tensor(c, dtype=torch.float64)
    if not c_shape:
        ct = ct.unsqueeze(-1)
    y = torch.tensordot(ct, torch.tensor(kernel, dtype=torch.float64), dims=max(len(c_shape), 1)) + torch.tensor(bias, dtype=torch.float64)
    return y.squeeze(-1) if not p_shape else y


def broadcast_rank(t, rank):
    """[B, T, *C] -> [B, T, 1.., *C] with `rank` channel axes (right-aligned broadcasting)."""
    return t.reshape(t.shape[:2] + (1,) * (rank - (t.dim() - 2)) + t.shape[2:])


def combine_torch(combination, x, c, offset):
    xt = torch.tensor(x, dtype=torch.float64)
    rank = max(xt.dim(), c.dim()) - 2
    if combination in ("concat", "concat_before"):
        xt = xt.unsqueeze(-1) if xt.dim() == 2 else xt
        c = c.unsqueeze(-1) if c.dim() == 2 else c
        rank = max(xt.dim(), c.dim()) - 2
        xt, c = broadcast_rank(xt, rank), broadcast_rank(c, rank)
        outer = torch.broadcast_shapes(xt.shape[:-1], c.shape[:-1])
        xt, c = xt.expand(outer + xt.shape[-1:]), c.expand(outer + c.shape[-1:])
        return torch.cat([xt, c] if combination == "concat" else [c, xt], dim=-1)
    if combination == "affine":
        scale, shift = c[:, :, 0], c[:, :, 1]
        rank = max(xt.dim(), scale.dim()) - 2
        return broadcast_rank(xt, rank) * broadcast_rank(scale + offset, rank) + broadcast_rank(shift, rank)
    xt, c = broadcast_rank(xt, rank), broadcast_rank(c, rank)
    if combination in ("add", "affine_shift"):
        return xt + c
    if combination == "mul":
        return xt * c
    return xt * (c + offset)  # affine_scale


def conditioning_cases():
    cases = []
    specs = [
        ("identity", "add", (3, 1, 5), (2, 5), None, "sequence", False),
        ("identity", "mul", (4,), (4,), None, "array", False),
        ("identity", "concat", (2, 5), (3,), None, "sequence", False),
        ("identity", "concat_before", (), (2, 5), None, "array", False),
        ("linear", "add", (5,), (7,), None, "sequence", False),
        ("linear", "mul", (2, 7), (3, 1, 5), None, "sequence", False),
        ("linear", "affine_shift", (6,), (3,), None, "array", False),
        ("linear", "affine_scale", (2, 5), (7,), (2, 1), "sequence", False),
        ("linear", "concat", (3, 4), (), None, "sequence", False),
        ("linear", "concat_before", (2, 5), (7,), (1,), "array", False),
        ("linear_affine", "affine", (5,), (7,), None, "sequence", False),
        ("linear_affine", "affine", (2, 7), (3, 1, 5), (1, 1), "array", False),
        ("linear_affine", "affine", (), (4,), None, "sequence", True),
    ]
    for i, (projection, combination, x_shape, c_shape, p_shape, kind, offset_zero) in enumerate(specs):
        b, t = 3, 8
        lengths, mask = lengths_mask(b, t)
        x = normal(b, t, *x_shape) * mask.reshape((b, t) + (1,) * len(x_shape))
        offset = 0.0 if offset_zero else 1.0
        if kind == "sequence":
            c_lengths, c_mask = lengths_mask(b, t)
            c = normal(b, t, *c_shape) * c_mask.reshape((b, t) + (1,) * len(c_shape))
            c_steps = c
        else:
            c_mask = np.ones((b, t), bool)
            c = normal(b, *c_shape)
            c_steps = c[:, None]
        weights = {}
        if projection == "identity":
            projected = torch.tensor(c_steps, dtype=torch.float64)
        else:
            p = tuple(p_shape) if p_shape is not None else tuple(x_shape)
            p = (2,) + p if projection == "linear_affine" else p
            kernel = normal(*((c_shape or (1,)) + (p or (1,))))
            bias = normal(*(p or (1,)))
            weights = {"dense.kernel": kernel, "dense.bias": bias}
            projected = project_torch(c_steps, kernel, bias, c_shape, p)
        y = combine_torch(combination, x, projected, offset)
        y = y.expand((b, t) + tuple(y.shape[2:])).numpy()
        config = {"type": "Conditioning", "conditioning_name": "cond", "projection": projection.upper(), "combination": combination.upper(),
                  "projection_channel_shape": list(p_shape) if p_shape is not None else None, "affine_scale_offset": offset}
        out_mask = mask & c_mask
        cc = case(f"Conditioning {i}: {projection} {combination}, x {x_shape}, {kind} c {c_shape}, projection_channel_shape {p_shape}", config, x, y,
                  weights=weights, lengths=lengths, output_mask=out_mask, rtol=1e-4, atol=2e-5)
        cc["constants"] = {"cond": sequence_constant(c, c_mask) if kind == "sequence" else array_constant(c)}
        cases.append(cc)
    return cases


# ---------------------------------------------------------------------------------------------
# GmmAttention


def gmm_torch(x, source, source_mask, hidden_kernel, output_kernel, output_bias, monotonic, init_offset, init_scale, max_offset):
    """The reference's GmmAttention.attention and _eval_gmm_pdfs, over all query steps at once."""
    t64 = lambda a: torch.tensor(a, dtype=torch.float64)
    hidden = torch.relu(torch.einsum("btc,cnu->btnu", t64(x), t64(hidden_kernel)))
    logits = torch.einsum("btnu,nucl->btncl", hidden, t64(output_kernel))
    if output_bias is not None:
        logits = logits + t64(output_bias)
    prior, offset, scale = logits[..., 0], logits[..., 1] + init_offset, logits[..., 2] + init_scale
    priors = torch.softmax(prior, dim=-1)
    variances = torch.nn.functional.softplus(scale) ** 2
    sp = torch.nn.functional.softplus
    offset = sp(offset) - sp(offset - max_offset) if max_offset > 0 else sp(offset)
    means = torch.cumsum(offset, dim=1) if monotonic else offset  # monotonic: running sums over every step
    positions = torch.arange(source.shape[1], dtype=torch.float64)[None, None, None, :, None]
    coef = (priors * torch.sqrt(2 * math.pi * variances + 1e-8))[:, :, :, None, :]
    dens = coef * torch.exp(-((positions - means[:, :, :, None, :]) ** 2) / (2 * variances[:, :, :, None, :] + 1e-9))
    weights = dens.sum(-1) * t64(source_mask)[:, None, None, :]
    return torch.einsum("btns,bsd->btnd", weights, t64(source)).numpy()


def gmm_cases():
    cases = []
    specs = [(1, 2, 7, True, 1.0, 1.0, -1.0, True), (1, 2, 7, False, 1.0, 1.0, -1.0, True), (3, 5, 7, True, 1.0, 1.0, -1.0, True),
             (3, 5, 7, False, 0.0, 0.5, -1.0, True), (2, 4, 3, True, 0.5, 1.0, 2.0, False), (2, 3, 5, False, -1.0, 0.0, 1.5, True)]
    for i, (heads, units, comps, monotonic, init_offset, init_scale, max_offset, use_bias) in enumerate(specs):
        b, t, c, s_time, s_dim = 2, 9, 3, 11, 5
        lengths, mask = lengths_mask(b, t)
        x = normal(b, t, c) * mask[:, :, None]
        s_lengths, s_mask = lengths_mask(b, s_time, low=4)
        source = normal(b, s_time, s_dim) * s_mask[:, :, None]
        hk = normal(c, heads, units)
        ok = normal(heads, units, comps, 3) * 0.5
        ob = normal(heads, comps, 3) * 0.5 if use_bias else None
        y = gmm_torch(x, source, s_mask, hk, ok, ob, monotonic, init_offset, init_scale, max_offset)
        weights = {"hidden.kernel": hk, "output.kernel": ok, **({"output.bias": ob} if use_bias else {})}
        config = {"type": "GmmAttention", "source_name": "source", "num_heads": heads, "units_per_head": units, "num_components": comps, "monotonic": monotonic,
                  "init_offset_bias": init_offset, "init_scale_bias": init_scale, "max_offset": max_offset, "output_use_bias": use_bias}
        cc = case(f"GmmAttention {i}: heads {heads}, units {units}, components {comps}, monotonic {monotonic}, max_offset {max_offset}", config, x, y,
                  weights=weights, lengths=lengths, rtol=1e-4, atol=1e-5)
        cc["constants"] = {"source": sequence_constant(source, s_mask)}
        cases.append(cc)
    return cases


if __name__ == "__main__":
    write_fixture("position", timing_cases() + rope_cases(), "tools/fixtures_position.py (numpy tensor2tensor timing signal, torch rotate-half RoPE)")
    write_fixture("conditioning", conditioning_cases(), "tools/fixtures_position.py (torch tensordot projection and broadcasting combinations)")
    write_fixture("gmm_attention", gmm_cases(), "tools/fixtures_position.py (torch mixture of Gaussians over source positions)")
    write_fixture("time_varying", time_varying_cases(), "tools/fixtures_position.py (numpy per-step einsums and gathers)")
