"""Oracle fixtures for src/layers/simple.ts, computed in float64 from float32 inputs with one
full and one shorter item (values at invalid steps are never compared):
- activations: torch.nn.functional (relu, tanh, sigmoid, silu, gelu with approximate 'tanh' and
  'none', leaky_relu, elu, softplus, softmax, glu) and torch.exp/log/pow/abs/remainder;
- Snake: the NumPy formula x + sin(alpha x)^2 / (beta + 1e-12), alpha = exp(alpha_log);
- Scale, Add, Maximum, Minimum, Affine: NumPy broadcasting; Mod: torch.remainder (the sign
  of the divisor, as jnp.mod);
- GatedUnit: torch activations of the two halves of the last axis, multiplied;
- OneHot: rows of np.eye (ids outside [0, depth) give zeros, as jax.nn.one_hot);
- Embedding: torch.nn.functional.embedding after wrapping negative ids (jnp.take);
- EmbeddingTranspose: torch.nn.functional.linear(x, embedding, bias).
Writes test/fixtures/simple.json. Run: /usr/bin/python3 tools/fixtures_simple.py
"""
import numpy as np
import torch
import torch.nn.functional as F

from fixtures_common import case, write_fixture

rng = np.random.default_rng(20240612)
cases = []


def lengths_for(t):
    """One full item and one of random length in [0, T)."""
    return [t, int(rng.integers(0, t))]


def random_input(channels, scale=2.0, positive=False):
    """[2, T, *channels] float32 (T in 3..6) and lengths_for(T)."""
    t = int(rng.integers(3, 7))
    x = (scale * rng.standard_normal((2, t, *channels))).astype(np.float32)
    if positive:
        x = np.abs(x)
    return x, lengths_for(t)


def t64(x):
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def add(name, config, x, lengths, y, **kw):
    cases.append(case(name, config, x, np.asarray(y, dtype=np.float64), lengths=lengths, **kw))


ACTIVATIONS = {
    None: lambda v: v,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "swish": F.silu,
    "silu": F.silu,
    "gelu": lambda v: F.gelu(v, approximate="tanh"),
    "gelu_exact": lambda v: F.gelu(v, approximate="none"),
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "softplus": lambda v: F.softplus(v, threshold=1000),
}

# Unary activations: (layer config, torch function, channels, input scale, positive input).
for config, fn, channels, scale, positive in [
    ({"type": "Relu"}, F.relu, [5], 2, False),
    ({"type": "Tanh"}, torch.tanh, [3, 4], 3, False),
    ({"type": "Sigmoid"}, torch.sigmoid, [7], 8, False),
    ({"type": "Swish"}, F.silu, [5], 4, False),
    ({"type": "Gelu"}, lambda v: F.gelu(v, approximate="tanh"), [9], 3, False),
    ({"type": "Gelu", "approximate": False}, lambda v: F.gelu(v, approximate="none"), [9], 3, False),
    ({"type": "LeakyRelu"}, lambda v: F.leaky_relu(v, 0.01), [5], 2, False),
    ({"type": "LeakyRelu", "negative_slope": 0.2}, lambda v: F.leaky_relu(v, 0.2), [5], 2, False),
    ({"type": "Elu"}, F.elu, [6], 3, False),
    ({"type": "Elu", "alpha": 0.5}, lambda v: F.elu(v, 0.5), [6], 3, False),
    ({"type": "Exp"}, torch.exp, [5], 4, False),
    ({"type": "Log"}, torch.log, [5], 10, True),
    ({"type": "Softplus"}, lambda v: F.softplus(v, threshold=1000), [5], 10, False),
    ({"type": "Abs"}, torch.abs, [3, 3], 2, False),
    ({"type": "Power", "power": 2}, lambda v: torch.pow(v, 2), [5], 2, False),
    ({"type": "Power", "power": 3}, lambda v: torch.pow(v, 3), [5], 2, False),
    ({"type": "Power", "power": -1}, lambda v: torch.pow(v, -1), [5], 2, False),
    ({"type": "Power", "power": 0.5}, torch.sqrt, [5], 2, True),
    ({"type": "Power", "power": 0.3}, lambda v: torch.pow(v, 0.3), [5], 10, True),
    ({"type": "Power"}, lambda v: v, [5], 2, False),
]:
    x, lengths = random_input(channels, scale, positive)
    extra = "".join(f", {k}={v}" for k, v in config.items() if k != "type")
    add(f"{config['type']}{extra}", config, x, lengths, fn(t64(x)).numpy())

# Softmax over each channel axis of [4, 3] (the reference's axis cases) and of [5].
for channels, axis in [([5], -1), ([4, 3], -1), ([4, 3], -2), ([4, 3], 2), ([4, 3], 3), ([2, 3, 4], -2)]:
    x, lengths = random_input(channels, 3)
    add(f"Softmax axis={axis} of {channels}", {"type": "Softmax", "axis": axis}, x, lengths, F.softmax(t64(x), dim=axis).numpy())

# Snake, with random alpha_log (and beta_log).
for channels, separate in [([5], False), ([5], True), ([3, 4], True)]:
    x, lengths = random_input(channels, 2)
    alpha_log = (0.5 * rng.standard_normal(channels)).astype(np.float32)
    beta_log = (0.5 * rng.standard_normal(channels)).astype(np.float32) if separate else alpha_log
    alpha, beta = np.exp(alpha_log.astype(np.float64)), np.exp(beta_log.astype(np.float64))
    y = x + np.sin(alpha * x) ** 2 / (beta + 1e-12)
    weights = {"alpha_log": alpha_log, **({"beta_log": beta_log} if separate else {})}
    add(f"Snake separate_beta={separate} {channels}", {"type": "Snake", "separate_beta": separate}, x, lengths, y, weights=weights)

# PRelu with a trained slope.
x, lengths = random_input([6], 2)
slope = np.float32(0.25)
add("PRelu", {"type": "PRelu"}, x, lengths, F.prelu(t64(x), t64([slope])).numpy(), weights={"negative_slope": np.array(slope)})

# Broadcasting constants: (type, field, value, channels, numpy op).
arange5 = np.arange(5, dtype=np.float32) - 2
for type_, field, value, channels, op in [
    ("Scale", "scale", 2.0, [5], np.multiply),
    ("Scale", "scale", arange5, [9, 5], np.multiply),
    ("Scale", "scale", 0.5 + rng.random((5, 9)).astype(np.float32), [5, 1], np.multiply),
    ("Add", "shift", -1.5, [5], np.add),
    ("Add", "shift", arange5, [3, 5], np.add),
    ("Add", "shift", rng.standard_normal((4, 1)).astype(np.float32), [1, 3], np.add),
    ("Maximum", "maximum", 0.25, [5], np.maximum),
    ("Maximum", "maximum", arange5, [2, 5], np.maximum),
    ("Minimum", "minimum", -0.25, [5], np.minimum),
    ("Minimum", "minimum", arange5, [2, 5], np.minimum),
]:
    x, lengths = random_input(channels, 2)
    v = np.asarray(value, dtype=np.float32)
    add(f"{type_} {field}={v.shape or value} on {channels}", {"type": type_, field: v.tolist()}, x, lengths, op(x.astype(np.float64), v.astype(np.float64)))

for divisor, channels in [(1.5, [5]), (-2.0, [5]), (np.array([1, -1, 2.5, -0.75, 3], dtype=np.float32), [2, 5]), (np.array([[0.5], [-3]], dtype=np.float32), [1, 4])]:
    x, lengths = random_input(channels, 4)
    d = np.asarray(divisor, dtype=np.float32)
    y = torch.remainder(t64(x), t64(d)).numpy()
    add(f"Mod divisor={d.tolist()} on {channels}", {"type": "Mod", "divisor": d.tolist()}, x, lengths, y)

# Affine: (config, channels), random scale and bias.
for extra, channels in [
    ({}, [4, 3]),
    ({"shape": [3]}, [4, 3]),
    ({"shape": [4, 3]}, [4, 3]),
    ({"shape": [4, 1]}, [1, 3]),
    ({"shape": [3], "use_bias": False}, [4, 3]),
    ({"shape": [4, 3], "use_scale": False}, [4, 3]),
]:
    x, lengths = random_input(channels, 2)
    shape = extra.get("shape", [])
    scale = (1 + 0.5 * rng.standard_normal(shape)).astype(np.float32)
    bias = rng.standard_normal(shape).astype(np.float32)
    use_scale, use_bias = extra.get("use_scale", True), extra.get("use_bias", True)
    y = x.astype(np.float64)
    weights = {}
    if use_scale:
        y = y * scale.astype(np.float64)
        weights["scale"] = scale
    if use_bias:
        y = y + bias.astype(np.float64)
        weights["bias"] = bias
    add(f"Affine {extra} on {channels}", {"type": "Affine", **extra}, x, lengths, y, weights=weights)

# Gated units: (config, feature activation, gate activation, channels).
for config, fa, ga, channels in [
    ({"type": "GatedUnit"}, None, None, [6]),
    ({"type": "GatedUnit", "gate_activation": "swish"}, None, "swish", [6]),
    ({"type": "GatedUnit", "gate_activation": "gelu"}, None, "gelu", [5, 10]),
    ({"type": "GatedUnit", "feature_activation": "swish", "gate_activation": "tanh"}, "swish", "tanh", [10]),
    ({"type": "GatedUnit", "feature_activation": "relu", "gate_activation": "softplus"}, "relu", "softplus", [2, 14]),
    ({"type": "GatedUnit", "feature_activation": "elu", "gate_activation": "leaky_relu"}, "elu", "leaky_relu", [6]),
    ({"type": "GatedUnit", "feature_activation": "gelu_exact", "gate_activation": "silu"}, "gelu_exact", "silu", [18]),
    ({"type": "GatedTanhUnit"}, "tanh", "sigmoid", [6]),
]:
    x, lengths = random_input(channels, 2)
    a, b = np.split(x.astype(np.float64), 2, axis=-1)
    y = ACTIVATIONS[fa](t64(a)).numpy() * ACTIVATIONS[ga](t64(b)).numpy()
    add(f"{config['type']} {fa}, {ga} on {channels}", config, x, lengths, y)
x, lengths = random_input([3, 8], 2)
add("GatedLinearUnit on [3, 8]", {"type": "GatedLinearUnit"}, x, lengths, F.glu(t64(x), dim=-1).numpy())

# Integer inputs: OneHot (ids outside [0, depth) included) and Embedding (negative ids wrap).
for channels, depth in [([], 4), ([3], 5), ([2, 2], 3)]:
    t = int(rng.integers(3, 7))
    ids = rng.integers(-1, depth + 1, size=(2, t, *channels)).astype(np.int32)
    y = np.zeros((*ids.shape, depth))
    valid = (ids >= 0) & (ids < depth)
    y[valid] = np.eye(depth)[ids[valid]]
    add(f"OneHot depth={depth} on {channels}", {"type": "OneHot", "depth": depth}, ids, lengths_for(t), y, input_dtype="int32")

for channels, num, dim, name in [([], 7, 4, None), ([3], 5, 8, None), ([2, 2], 3, 6, "table")]:
    t = int(rng.integers(3, 7))
    ids = rng.integers(-num, num, size=(2, t, *channels)).astype(np.int32)
    table = rng.standard_normal((num, dim)).astype(np.float32)
    y = F.embedding(torch.from_numpy(np.where(ids < 0, ids + num, ids).astype(np.int64)), t64(table)).numpy()
    config = {"type": "Embedding", "dimension": dim, "num_embeddings": num, **({"embedding_param_name": name} if name else {})}
    add(f"Embedding {num}x{dim} on {channels}", config, ids, lengths_for(t), y, weights={name or "embedding": table}, input_dtype="int32")

for channels, num, dim, use_bias in [([5], 3, 5, True), ([2, 3, 5], 3, 5, False), ([16], 11, 16, True), ([7], 20, 7, True)]:
    x, lengths = random_input(channels, 1)
    table = rng.standard_normal((num, dim)).astype(np.float32)
    bias = rng.standard_normal(num).astype(np.float32)
    y = F.linear(t64(x), t64(table), t64(bias) if use_bias else None).numpy()
    weights = {"embedding": table, **({"bias": bias} if use_bias else {})}
    add(f"EmbeddingTranspose {num}x{dim} bias={use_bias} on {channels}", {"type": "EmbeddingTranspose", "num_embeddings": num, "dimension": dim, "use_bias": use_bias}, x, lengths, y, weights=weights)

write_fixture("simple", cases, "tools/fixtures_simple.py (torch.nn.functional / NumPy, float64)")
