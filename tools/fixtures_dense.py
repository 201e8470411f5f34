"""Oracle fixtures for the dense family (src/layers/dense.ts): Dense and DenseShaped through
PyTorch (torch.tensordot), EinsumDense through np.einsum, in float64, rounded to float32.
weight_storage 'int8' cases quantise with NumPy as the layers document it (float32 column
scales max |col| / 127 and row scales max |row| / 32767, np.rint), then sum exactly in int64.

Shapes and equations are the ones sequence_layers/jax/dense_test.py tests, plus a bias that
varies along a row axis of the GEMM and a few more features. Writes test/fixtures/dense.json.
Run: /usr/bin/python3 tools/fixtures_dense.py
"""
import numpy as np
import torch

from fixtures_common import case, q8_matmul, random_lengths, write_fixture

rng = np.random.default_rng(20240611)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def lengths(batch, time):
    return random_lengths(rng, batch, time)


def masked(x, lens):
    """Zeros at invalid steps, as the reference's random_sequence produces."""
    x = x.copy()
    for b, n in enumerate(lens):
        x[b, n:] = 0
    return x


def tensordot(x, kernel, in_rank):
    """Contract the last in_rank axes of x with the first in_rank axes of kernel (float64)."""
    return torch.tensordot(torch.from_numpy(x).double(), torch.from_numpy(kernel).double(), dims=in_rank).numpy()


cases = []

# Dense: the reference's channel shapes (5,) and (5, 7), plus more features.
for channels in [(5,), (5, 7), (3, 2, 4)]:
    for features in [3, 11]:
        for use_bias in [True, False]:
            x_lens = lengths(2, 4)
            x = masked(normal(2, 4, *channels), x_lens)
            kernel = normal(channels[-1], features)
            weights = {"kernel": kernel}
            y = tensordot(x, kernel, 1)
            if use_bias:
                weights["bias"] = normal(features)
                y = y + weights["bias"].astype(np.float64)
            cases.append(case(
                f"Dense channels={list(channels)} features={features} use_bias={use_bias}",
                {"type": "Dense", "features": features, "use_bias": use_bias},
                x, y, weights=weights, lengths=x_lens))

# DenseShaped: the reference's product of input and output shapes.
for channels in [(), (1,), (5,), (5, 7)]:
    for output_shape in [(), (1,), (6,), (6, 8)]:
        x_lens = lengths(2, 3)
        x = masked(normal(2, 3, *channels), x_lens)
        kernel = normal(*((channels or (1,)) + (output_shape or (1,))))
        bias = normal(*(output_shape or (1,)))
        y = tensordot(x.reshape(2, 3, *(channels or (1,))), kernel, len(channels or (1,)))
        y = (y + bias.astype(np.float64)).reshape(2, 3, *output_shape)
        cases.append(case(
            f"DenseShaped channels={list(channels)} output_shape={list(output_shape)}",
            {"type": "DenseShaped", "output_shape": list(output_shape)},
            x, y, weights={"kernel": kernel, "bias": bias}, lengths=x_lens))

# EinsumDense: (input shape, equation, output_shape, bias_axes).
EINSUMS = [
    # test_einsum_dense
    ((2, 3, 5), "...a,ab->...b", [7], ""),
    ((2, 3, 5, 7), "...ab,ac->...cb", [11, 7], ""),
    ((2, 3, 5, 7), "...ab,b->...a", [None], ""),
    ((2, 3, 5, 7), "...ab,ab->...ba", [None, None], ""),
    ((2, 3, 5, 7), "...ab,abc->...bac", [None, None, 2], ""),
    # test_bias
    ((2, 3, 5), "...a,ab->...b", [7], "b"),
    ((2, 3, 5), "...a,abc->...bc", [7, 11], "b"),
    # (the reference's output [7, 11, 13] made smaller to keep this file small)
    ((2, 3, 5), "...a,abcd->...bcd", [3, 4, 6], "c"),
    ((2, 3, 5), "...a,abcd->...bcd", [3, 4, 6], "bc"),
    ((2, 3, 5), "...a,abcd->...bcd", [3, 4, 6], "cd"),
    # test_dtypes (float32 only, input [5, 7, 11] made smaller; its second case is the "cd" one above)
    ((2, 3, 3, 7, 4), "...abc,bd->...bd", [None, 13], ""),
    # Beyond the reference's tests: a bias along a row axis (added after the GEMM), a bias over
    # a letter shared by input, kernel and output, and a transposed output with a bias.
    ((2, 4, 3, 5), "...ab,bc->...ac", [None, 6], "a"),
    ((2, 4, 3, 5), "...ab,abc->...ca", [6, None], "ca"),
    ((2, 4, 6, 5), "...ab,bc->...ca", [9, None], "ca"),
]


def bias_shape(output_spec, sizes, bias_axes):
    """The reference's bias shape: the output spec from the first bias letter on, 1 elsewhere."""
    first = min(output_spec.index(c) for c in bias_axes)
    return [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]


for shape, equation, output_shape, bias_axes in EINSUMS:
    x_lens = lengths(shape[0], shape[1])
    x = masked(normal(*shape), x_lens)
    left, out_spec = equation.split("->")
    in_spec, kernel_spec = left.split(",")
    in_spec, out_spec = in_spec[3:], out_spec[3:]
    sizes = dict(zip(in_spec, shape[2:]))
    for c, d in zip(out_spec, output_shape):
        if d is not None:
            sizes[c] = d
    kernel = normal(*[sizes[c] for c in kernel_spec])
    weights = {"kernel": kernel}
    y = np.einsum(equation, x.astype(np.float64), kernel.astype(np.float64))
    if bias_axes:
        weights["bias"] = normal(*bias_shape(out_spec, sizes, bias_axes))
        y = y + weights["bias"].astype(np.float64)
    cases.append(case(
        f"EinsumDense {equation} input={list(shape[2:])} bias_axes={bias_axes!r}",
        {"type": "EinsumDense", "equation": equation, "output_shape": output_shape, "bias_axes": bias_axes},
        x, y, weights=weights, lengths=x_lens))

# The activation field, applied after the bias (jax.nn defaults: gelu is the tanh form).
ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
for name, fn in ACTIVATIONS.items():
    x_lens = lengths(2, 5)
    x = masked(normal(2, 5, 3, 6), x_lens)
    kernel, bias = normal(6, 10), normal(10)
    y = fn(torch.from_numpy(tensordot(x, kernel, 1) + bias.astype(np.float64))).numpy()
    cases.append(case(
        f"Dense activation={name}",
        {"type": "Dense", "features": 10, "activation": name},
        x, y, weights={"kernel": kernel, "bias": bias}, lengths=x_lens))
x_lens = lengths(2, 5)
x = masked(normal(2, 5, 4, 3), x_lens)
kernel, bias = normal(3, 4, 5), normal(5, 1)
y = np.einsum("...ab,bac->...ca", x.astype(np.float64), kernel.astype(np.float64)) + bias.astype(np.float64)
cases.append(case(
    "EinsumDense ...ab,bac->...ca bias_axes='c' activation=swish",
    {"type": "EinsumDense", "equation": "...ab,bac->...ca", "output_shape": [5, None], "bias_axes": "c", "activation": "swish"},
    x, y / (1 + np.exp(-y)), weights={"kernel": kernel, "bias": bias}, lengths=x_lens))


# weight_storage 'int8': more than one 32-column panel, more than one 256-row int32 block, odd
# sizes; DenseShaped and a transposed EinsumDense (their kernels are gathered to [K, N] first).
for channels, features, use_bias in [((5,), 11, True), ((3, 7), 3, False), ((300,), 70, True)]:
    x_lens = lengths(2, 4)
    x = masked(normal(2, 4, *channels), x_lens)
    kernel = normal(channels[-1], features)
    bias = normal(features) if use_bias else None
    weights = {"kernel": kernel} | ({"bias": bias} if use_bias else {})
    cases.append(case(
        f"Dense int8 channels={list(channels)} features={features} use_bias={use_bias}",
        {"type": "Dense", "features": features, "use_bias": use_bias, "weight_storage": "int8"},
        x, q8_matmul(x, kernel, bias), weights=weights, lengths=x_lens, rtol=1e-5, atol=1e-6))
x_lens = lengths(2, 3)
x = masked(normal(2, 3, 5, 7), x_lens)
kernel, bias = normal(5, 7, 6, 8), normal(6, 8)
cases.append(case(
    "DenseShaped int8 channels=[5, 7] output_shape=[6, 8]",
    {"type": "DenseShaped", "output_shape": [6, 8], "weight_storage": "int8"},
    x, q8_matmul(x.reshape(2, 3, 35), kernel.reshape(35, 48), bias.reshape(48)).reshape(2, 3, 6, 8),
    weights={"kernel": kernel, "bias": bias}, lengths=x_lens, rtol=1e-5, atol=1e-6))
x_lens = lengths(2, 4)
x = masked(normal(2, 4, 6, 5), x_lens)
kernel = normal(5, 9)
y = q8_matmul(x, kernel, None).transpose(0, 1, 3, 2)
cases.append(case(
    "EinsumDense int8 ...ab,bc->...ca",
    {"type": "EinsumDense", "equation": "...ab,bc->...ca", "output_shape": [9, None], "weight_storage": "int8"},
    x, y, weights={"kernel": kernel}, lengths=x_lens, rtol=1e-5, atol=1e-6))

write_fixture("dense", cases, "tools/fixtures_dense.py: torch.tensordot (Dense, DenseShaped) and np.einsum (EinsumDense), float64; int8 storage quantised with NumPy, int64 sums")
