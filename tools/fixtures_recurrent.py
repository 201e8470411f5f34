"""Oracle fixtures for the recurrent family (src/layers/recurrent.ts), in float64 from float32
weights and inputs:

- LSTM through torch.nn.LSTM (gate order i, f, g, o, two biases), weights converted to our
  Keras layout: kernel = weight_ih^T, recurrent kernel = weight_hh^T, bias = bias_ih + bias_hh;
- GRU (reset after) through torch.nn.GRU (gate order r, z, n), converted to our order z, r, h;
- GRU reset before, and LSTM/GRU with other activations, in NumPy from the Cho et al. /
  Hochreiter formulas as Keras writes them;
- RGLRU in NumPy from the formula of sequence_layers/jax/recurrent.py (recurrentgemma).

Inputs have random left-aligned lengths; the oracle for an item is the recurrence over its
valid prefix only (what freezing the state at invalid steps gives). Writes
test/fixtures/recurrent.json. Run: /usr/bin/python3 tools/fixtures_recurrent.py
"""
import numpy as np
import torch

from fixtures_common import case, q8_columns, q8_rows, write_fixture

rng = np.random.default_rng(20250307)
torch.manual_seed(7)


def normal(*shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def lengths(batch, time):
    """Random lengths, with one full-length item so every step is checked somewhere."""
    lens = rng.integers(1, time + 1, size=batch)
    lens[0] = time
    return lens


def masked(x, lens):
    """Zeros at invalid steps, as the reference's random_sequence produces."""
    x = x.copy()
    for b, n in enumerate(lens):
        x[b, n:] = 0
    return x


def per_prefix(run, x, lens, units):
    """run(x [1, n, in]) -> [1, n, units] on each item's valid prefix; zeros past it."""
    y = np.zeros(x.shape[:2] + (units,))
    for b, n in enumerate(lens):
        y[b, :n] = run(x[b:b + 1, :n])[0]
    return y


def to_f64(module):
    """Rounds a torch module's parameters to float32, then computes in float64."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.float())
    return module.double()


def gate_blocks(w, order):
    """Reorders the gate blocks of a PyTorch [gates * u, ...] weight or bias."""
    blocks = np.split(np.asarray(w), len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


sigmoid = lambda v: 1 / (1 + np.exp(-v))
ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda v: np.maximum(v, 0),
    "softplus": lambda v: np.logaddexp(v, 0),
}

cases = []
B, T = 3, 9

# LSTM: torch.nn.LSTM, sizes around the SIMD width (units 1, 3, 8, 13; inputs 1, 5, 16).
for din, units, bias in [(5, 3, True), (16, 8, True), (1, 1, True), (5, 13, True), (3, 8, False)]:
    lstm = to_f64(torch.nn.LSTM(din, units, batch_first=True, bias=bias))
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    with torch.no_grad():
        weights = {"kernel.kernel": lstm.weight_ih_l0.numpy().T, "recurrent_kernel.kernel": lstm.weight_hh_l0.numpy().T}
        if bias:
            # We load one bias, bias_ih + bias_hh rounded to float32: give torch exactly that one.
            b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).float().double()
            lstm.bias_ih_l0.copy_(b)
            lstm.bias_hh_l0.zero_()
            weights["bias"] = b.numpy()
        y = per_prefix(lambda xb: lstm(torch.from_numpy(xb).double())[0].numpy(), x, lens, units)
    cases.append(case(f"LSTM torch in={din} units={units} use_bias={bias}",
                      {"type": "LSTM", "units": units, "use_bias": bias}, x, y, weights=weights, lengths=lens))

# GRU (reset after): torch.nn.GRU, gate blocks (r, z, n) reordered to ours (z, r, h).
for din, units, bias in [(5, 3, True), (16, 8, True), (1, 11, True), (4, 5, False)]:
    gru = to_f64(torch.nn.GRU(din, units, batch_first=True, bias=bias))
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    with torch.no_grad():
        y = per_prefix(lambda xb: gru(torch.from_numpy(xb).double())[0].numpy(), x, lens, units)
        order = [1, 0, 2]
        weights = {
            "kernel.kernel": gate_blocks(gru.weight_ih_l0.numpy(), order).T,
            "recurrent_kernel.kernel": gate_blocks(gru.weight_hh_l0.numpy(), order).T,
        }
        if bias:
            weights["bias"] = np.stack([gate_blocks(gru.bias_ih_l0.numpy(), order), gate_blocks(gru.bias_hh_l0.numpy(), order)])
    cases.append(case(f"GRU torch (reset after) in={din} units={units} use_bias={bias}",
                      {"type": "GRU", "units": units, "use_bias": bias}, x, y, weights=weights, lengths=lens))


def lstm_numpy(x, w, u, b, act, ract):
    """Keras LSTM (gates i, f, g, o) over x [1, n, in] from zero state."""
    units = u.shape[0]
    h = np.zeros(units)
    c = np.zeros(units)
    out = []
    for xt in x[0].astype(np.float64):
        z = xt @ w + h @ u + b
        i, f, g, o = np.split(z, 4)
        c = ract(f) * c + ract(i) * act(g)
        h = ract(o) * act(c)
        out.append(h)
    return np.array(out)[None]


def gru_numpy(x, w, u, b, act, ract, reset_after):
    """Keras GRU (gates z, r, h) over x [1, n, in] from zero state; b [3u] or [2, 3u] (reset after)."""
    units = u.shape[0]
    bx, bh = (b[0], b[1]) if reset_after else (b, np.zeros(3 * units))
    h = np.zeros(units)
    out = []
    for xt in x[0].astype(np.float64):
        xz, xr, xh = np.split(xt @ w + bx, 3)
        hz, hr, hh = np.split(h @ u + bh, 3)
        z = ract(xz + hz)
        r = ract(xr + hr)
        if reset_after:
            n = act(xh + r * hh)
        else:
            n = act(xh + (r * h) @ u[:, 2 * units:])  # Cho et al.: reset applied to h before U_h
        h = z * h + (1 - z) * n
        out.append(h)
    return np.array(out)[None]


# GRU reset before (Cho et al.), and both cells with other activations: NumPy.
for din, units, bias, act, ract, reset_after in [
    (5, 3, True, "tanh", "sigmoid", False),
    (16, 8, True, "tanh", "sigmoid", False),
    (2, 9, False, "tanh", "sigmoid", False),
    (4, 6, True, "relu", "sigmoid", False),
    (4, 6, True, "softplus", "sigmoid", True),
]:
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    w = normal(din, 3 * units, scale=0.5)
    u = normal(units, 3 * units, scale=0.5)
    b = normal(*((2, 3 * units) if reset_after else (3 * units,))) if bias else np.zeros((2, 3 * units) if reset_after else 3 * units, np.float32)
    y = per_prefix(lambda xb: gru_numpy(xb, w, u, b.astype(np.float64), ACTIVATIONS[act], ACTIVATIONS[ract], reset_after), x, lens, units)
    weights = {"kernel.kernel": w, "recurrent_kernel.kernel": u}
    if bias:
        weights["bias"] = b
    cases.append(case(f"GRU numpy reset_after={reset_after} in={din} units={units} use_bias={bias} activation={act}",
                      {"type": "GRU", "units": units, "use_bias": bias, "reset_after": reset_after, "activation": act,
                       "recurrent_activation": ract}, x, y, weights=weights, lengths=lens))

for din, units, act, ract in [(4, 6, "relu", "sigmoid"), (3, 5, "softplus", "tanh")]:
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    w, u, b = normal(din, 4 * units, scale=0.5), normal(units, 4 * units, scale=0.5), normal(4 * units)
    y = per_prefix(lambda xb: lstm_numpy(xb, w, u, b.astype(np.float64), ACTIVATIONS[act], ACTIVATIONS[ract]), x, lens, units)
    cases.append(case(f"LSTM numpy in={din} units={units} activation={act} recurrent_activation={ract}",
                      {"type": "LSTM", "units": units, "activation": act, "recurrent_activation": ract}, x, y,
                      weights={"kernel.kernel": w, "recurrent_kernel.kernel": u, "bias": b}, lengths=lens))


def lstm_q8_numpy(x, w, u, b):
    """LSTM with weight_storage 'int8', as src/layers/recurrent.ts documents it: [W; U] as int8
    with float32 column scales max |col| / 127, x and h quantised to int16 per step (scale
    max |row| / 32767, np.rint), exact int64 sums, then the float64 cell."""
    q, scale = q8_columns(np.concatenate([w, u]))
    qw, qu = q[:w.shape[0]], q[w.shape[0]:]

    def quantize(v):
        vq, s = q8_rows(v[None])
        return vq[0], float(s[0])

    units = u.shape[0]
    h = np.zeros(units)
    c = np.zeros(units)
    out = []
    for xt in x[0]:
        (xq, sx), (hq, sh) = quantize(xt), quantize(h)
        z = scale.astype(np.float64) * (sx * (xq @ qw) + sh * (hq @ qu)) + b
        i, f, g, o = np.split(z, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.array(out)[None]


def gru_q8_numpy(x, w, u, b, reset_after):
    """GRU with weight_storage 'int8', as src/layers/recurrent.ts documents it: int8 [W; U]
    z and r columns (scales over both), W_h and U_h (scales of their own); x, h and (reset
    before) r h quantised to int16 per step; exact int64 sums; the float64 cell."""
    units = u.shape[0]
    qzr, szr = q8_columns(np.concatenate([w[:, :2 * units], u[:, :2 * units]]))
    qwh, swh = q8_columns(w[:, 2 * units:])
    quh, suh = q8_columns(u[:, 2 * units:])
    din = w.shape[0]
    bx, bh = (b[0], b[1]) if reset_after else (b, np.zeros(3 * units))

    def quantize(v):
        vq, s = q8_rows(v[None])
        return vq[0], float(s[0])

    h = np.zeros(units)
    out = []
    for xt in x[0]:
        (xq, sx), (hq, sh) = quantize(xt), quantize(h)
        zr = szr * (sx * (xq @ qzr[:din]) + sh * (hq @ qzr[din:])) + bx[:2 * units] + bh[:2 * units]
        z, r = sigmoid(zr[:units]), sigmoid(zr[units:])
        xh = swh * (sx * (xq @ qwh)) + bx[2 * units:]
        if reset_after:
            n = np.tanh(xh + r * (suh * (sh * (hq @ quh)) + bh[2 * units:]))
        else:
            rhq, srh = quantize(r * h)
            n = np.tanh(xh + suh * (srh * (rhq @ quh)))
        h = z * h + (1 - z) * n
        out.append(h)
    return np.array(out)[None]


def rglru_numpy(x, p):
    """The RG-LRU formula of sequence_layers/jax/recurrent.py (real, layer mode) over x [B, n, U]."""
    batch, n, units = x.shape
    heads = p["input_gate.kernel"].shape[0]
    xh = x.astype(np.float64).reshape(batch, n, heads, units // heads)
    gate = lambda name: sigmoid(np.einsum("bthi,hij->bthj", xh, p[f"{name}.kernel"]) + p[f"{name}.bias"]).reshape(batch, n, units)
    gate_x, gate_a = gate("input_gate"), gate("a_gate")
    log_a = -8.0 * gate_a * np.logaddexp(p["a_param"], 0)
    a = np.exp(log_a)
    multiplier = np.sqrt(1 - np.exp(2 * log_a))
    multiplier[:, 0] = 1  # reset at segment position 0
    normalized_x = x * gate_x * multiplier
    h = np.zeros((batch, units))
    y = np.zeros((batch, n, units))
    for t in range(n):
        h = (a[:, t] * h if t > 0 else 0) + normalized_x[:, t]
        y[:, t] = h
    return y


def ring_init(units, min_rad=0.9, max_rad=0.999):
    """The reference's _rnn_real_param_init."""
    a_real = 0.5 * np.log(rng.uniform(size=units) * (max_rad**2 - min_rad**2) + min_rad**2 + 1e-8)
    return np.log(np.exp(-a_real) - 1).astype(np.float32)


# RGLRU: the reference test's units 8 / 2 heads, plus 1 head, many heads and odd widths.
for units, heads in [(8, 2), (8, 1), (3, 3), (6, 2), (15, 3)]:
    lens = lengths(B, 12)
    x = masked(normal(B, 12, units), lens)
    per_head = units // heads
    params = {"a_param": ring_init(units)}
    for name in ["input_gate", "a_gate"]:
        params[f"{name}.kernel"] = normal(heads, per_head, per_head, scale=per_head ** -0.5)
        params[f"{name}.bias"] = normal(heads, per_head, scale=0.5)
    y = rglru_numpy(x, {k: v.astype(np.float64) for k, v in params.items()})
    cases.append(case(f"RGLRU numpy units={units} num_heads={heads}",
                      {"type": "RGLRU", "units": units, "num_heads": heads}, x, y, weights=params, lengths=lens))

# LSTM weight_storage 'int8': odd sizes (the pad rows of the packing), more than one 32-column
# panel and more than one 256-row int32 block of [x ‖ h].
for din, units in [(5, 3), (40, 36), (300, 9)]:
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    w, u, b = normal(din, 4 * units, scale=0.5), normal(units, 4 * units, scale=0.5), normal(4 * units)
    y = per_prefix(lambda xb: lstm_q8_numpy(xb, w, u, b.astype(np.float64)), x, lens, units)
    cases.append(case(f"LSTM int8 in={din} units={units}",
                      {"type": "LSTM", "units": units, "weight_storage": "int8"}, x, y,
                      weights={"kernel.kernel": w, "recurrent_kernel.kernel": u, "bias": b}, lengths=lens))

# GRU weight_storage 'int8', both reset modes, odd sizes and more than one 32-column panel.
for din, units, reset_after in [(5, 3, True), (40, 36, True), (7, 13, False), (33, 20, False)]:
    lens = lengths(B, T)
    x = masked(normal(B, T, din), lens)
    w, u = normal(din, 3 * units, scale=0.5), normal(units, 3 * units, scale=0.5)
    b = normal(2, 3 * units) if reset_after else normal(3 * units)
    y = per_prefix(lambda xb: gru_q8_numpy(xb, w, u, b.astype(np.float64), reset_after), x, lens, units)
    cases.append(case(f"GRU int8 reset_after={reset_after} in={din} units={units}",
                      {"type": "GRU", "units": units, "reset_after": reset_after, "weight_storage": "int8"}, x, y,
                      weights={"kernel.kernel": w, "recurrent_kernel.kernel": u, "bias": b}, lengths=lens))

write_fixture("recurrent", cases, "torch.nn.LSTM / torch.nn.GRU (float64), NumPy GRU reset-before and RG-LRU formulas: tools/fixtures_recurrent.py")
