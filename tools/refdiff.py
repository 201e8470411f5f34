"""Random differential test of seqlayers against Google's SequenceLayers (JAX), the reference:
draws random configs per layer family (single layers and short stacks), makes each with the
reference, initialises it (variables moved off their initial values), runs its layer() on a
random batch-2 input with ragged masks and writes the cases to one JSON file for
tools/refdiff.js, which runs them through seqlayers and compares.

Each case: the config (export_reference.config_to_json), the flax variables by '/' name
(flat_variables) as {shape, values}, the input and its mask, constants, the reference's output
and output mask, and its metadata (block size, output ratio, latencies, supports_step, receptive
field, or the error its receptive_field raised). A config the reference rejects (make, init or
layer() raises, or it has no JSON) is skipped and counted per family. NaN and infinities are
written as the strings "nan", "inf", "-inf".

Set-up (once): a venv with the reference's dependencies and checkouts of the reference and of
recurrentgemma (see tools/reference_env.py; safetensors is not needed here):
  python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install jax jaxlib flax einops jaxtyping typeguard scipy
  git clone https://github.com/google/sequence-layers /tmp/sequence-layers
  git clone https://github.com/google-deepmind/recurrentgemma /tmp/recurrentgemma
Run (the cases file is not committed). 100 cases of a family take 15 s (dsp) to 150 s (recurrent,
attention) on one core: split the families over runs of a few minutes, e.g. run recurrent alone.
  SEQUENCE_LAYERS=/tmp/sequence-layers RECURRENTGEMMA=/tmp/recurrentgemma \
    /tmp/refenv/bin/python tools/refdiff.py --seed 1 --n 100 --families convolution,pooling --out /tmp/cases.json
  node tools/refdiff.js /tmp/cases.json
  node --experimental-wasm-relaxed-simd tools/refdiff.js /tmp/cases.json
--families takes any of the FAMILIES below (default: all); --n is the number of cases per family.
"""
import argparse
import functools
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Small programs, compiled once each: XLA's optimisations cost more than they save here.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
from reference_env import moved_variables, sl  # noqa: E402 (puts the reference on the path)
import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from sequence_layers.jax import signal  # noqa: E402
from export_reference import config_to_json, layer_config  # noqa: E402

B = 2
PADDINGS = ["valid", "same", "causal", "causal_valid", "reverse_causal", "reverse_causal_valid", "semicausal", "semicausal_full"]
ACTS = [None, None, jax.nn.relu, jnp.tanh, jax.nn.gelu, jax.nn.silu, jax.nn.sigmoid, jax.nn.elu, jax.nn.softplus, jax.nn.leaky_relu,
        functools.partial(jax.nn.gelu, approximate=False)]
WINDOWS = [signal.hann_window, signal.hamming_window, None]


class Draw:
    """The random draws of one run (numpy's Generator, seeded), and the case being drawn: its
    input length T and, for int32 inputs, the vocabulary size."""

    def __init__(self, seed):
        self.r = np.random.default_rng(seed)
        self.T, self.vocab = 0, 1

    def pick(self, xs):
        return xs[int(self.r.integers(len(xs)))]

    def i(self, lo, hi):
        """An integer in [lo, hi]."""
        return int(self.r.integers(lo, hi + 1))

    def b(self, p=0.5):
        return bool(self.r.random() < p)

    def act(self):
        return self.pick(ACTS)


def divisors(n):
    return [k for k in range(1, n + 1) if n % k == 0]


def draw_groups(d, c):
    """A convolution's group count for c input channels: 1 most of the time, else a divisor of c."""
    return d.pick(divisors(c)) if d.b(0.3) else 1


# ----------------------------------------------------------------------------------------------
# Generators: each takes (d, channel shape, dtype) and returns a Config, or (Config, constants)
# where constants maps a name to ("array", shape) (given whole, [B, *shape]), ("source", shape)
# (a Sequence of its own length, given whole), ("sequence", shape) (as long as x, given whole),
# ("stream", shape) (as long as x, streamed with the steps) or ("ids", fn) (fn(d, T) -> [B, T]
# int32 segment ids or positions, streamed); or None where it does not apply to the input.
# ----------------------------------------------------------------------------------------------


# --- convolution, pooling, padding, dsp, position, time-varying
def g_conv1d(d, shape, dtype):
    if len(shape) != 1 or dtype != "float32":
        return None
    c = shape[0]
    groups = draw_groups(d, c)
    filters = groups * d.i(1, 3)
    return sl.Conv1D.Config(filters=filters, kernel_size=d.i(1, 6), strides=d.pick([1, 1, 2, 3, 4]), dilation_rate=d.pick([1, 1, 2, 3]),
                            padding=d.pick(PADDINGS), groups=groups, use_bias=d.b(0.7), use_weight_norm=d.b(0.2), activation=d.pick(ACTS))


def g_depthwise(d, shape, dtype):
    if len(shape) != 1 or dtype != "float32":
        return None
    return sl.DepthwiseConv1D.Config(kernel_size=d.i(1, 6), strides=d.pick([1, 1, 2, 3]), depth_multiplier=d.pick([1, 1, 2, 3]),
                                     dilation_rate=d.pick([1, 1, 2, 3]), padding=d.pick(PADDINGS), use_bias=d.b(0.7),
                                     use_weight_norm=d.b(0.2), activation=d.pick(ACTS))


def g_conv1dt(d, shape, dtype):
    if len(shape) != 1 or dtype != "float32":
        return None
    c = shape[0]
    groups = draw_groups(d, c)
    return sl.Conv1DTranspose.Config(filters=groups * d.i(1, 3), kernel_size=d.i(1, 6), strides=d.pick([1, 2, 3, 4]),
                                     dilation_rate=d.pick([1, 1, 2]), padding=d.pick(["valid", "causal", "same", "semicausal_full"]),
                                     groups=groups, use_bias=d.b(0.7), use_weight_norm=d.b(0.2), activation=d.pick(ACTS))


def spatial_padding(d, transposed=False):
    if transposed:
        return d.pick(["valid", "same", "causal", (0, 1), (1, 0), (1, 1)])
    return d.pick(["valid", "same", "causal", "reverse_causal", "causal_valid", "semicausal", (0, 1), (2, 0), (1, 1)])


def g_conv2d(d, shape, dtype):
    if len(shape) != 2 or dtype != "float32":
        return None
    c = shape[1]
    groups = draw_groups(d, c)
    return sl.Conv2D.Config(filters=groups * d.i(1, 2), kernel_size=(d.i(1, 4), d.i(1, min(3, shape[0] + 2))),
                            strides=(d.pick([1, 1, 2, 3]), d.pick([1, 1, 2])), dilation_rate=(d.pick([1, 1, 2]), d.pick([1, 1, 2])),
                            time_padding=d.pick(PADDINGS), spatial_padding=spatial_padding(d, ), groups=groups, use_bias=d.b(0.7),
                            use_weight_norm=d.b(0.15), activation=d.pick(ACTS))


def g_conv2dt(d, shape, dtype):
    if len(shape) != 2 or dtype != "float32":
        return None
    c = shape[1]
    groups = draw_groups(d, c)
    return sl.Conv2DTranspose.Config(filters=groups * d.i(1, 2), kernel_size=(d.i(1, 4), d.i(1, 3)), strides=(d.pick([1, 2, 3]), d.pick([1, 2])),
                                     dilation_rate=(d.pick([1, 1, 2]), d.pick([1, 1, 2])),
                                     time_padding=d.pick(["valid", "causal", "same", "semicausal_full"]), spatial_padding=spatial_padding(d, True),
                                     groups=groups, use_bias=d.b(0.7), use_weight_norm=d.b(0.15), activation=d.pick(ACTS))


def g_conv3d(d, shape, dtype):
    if len(shape) != 3 or dtype != "float32":
        return None
    c = shape[2]
    groups = draw_groups(d, c)
    sp = lambda: d.pick(["valid", "same", "causal", "reverse_causal", (1, 0), (0, 1)])
    return sl.Conv3D.Config(filters=groups * d.i(1, 2), kernel_size=(d.i(1, 3), d.i(1, 2), d.i(1, 2)),
                            strides=(d.pick([1, 1, 2]), d.pick([1, 2]), d.pick([1, 2])), dilation_rate=(d.pick([1, 1, 2]), 1, d.pick([1, 2])),
                            time_padding=d.pick(PADDINGS), spatial_padding=(sp(), sp()), groups=groups, use_bias=d.b(0.7),
                            use_weight_norm=d.b(0.15), activation=d.pick(ACTS))


def g_pool(d, shape, dtype):
    if dtype not in ("float32", "int32"):
        return None
    kind = d.pick(["Max", "Min", "Average"])
    rank = len(shape)
    if rank >= 1 and d.b(0.6) or rank == 0:
        cls = getattr(sl, f"{kind}Pooling1D")
        extra = dict(masked_average=d.b(0.5)) if kind == "Average" else {}
        return cls.Config(pool_size=d.i(1, 5), strides=d.pick([1, 1, 2, 3]), dilation_rate=d.pick([1, 1, 2]), padding=d.pick(PADDINGS), **extra)
    if rank in (2, 3):
        cls = getattr(sl, f"{kind}Pooling2D")
        extra = dict(masked_average=d.b(0.5)) if kind == "Average" else {}
        sp = d.pick(["valid", "same", "causal", "reverse_causal", "semicausal"])
        return cls.Config(pool_size=(d.i(1, 4), d.i(1, 3)), strides=(d.pick([1, 2]), d.pick([1, 2])), dilation_rate=(d.pick([1, 2]), 1),
                          time_padding=d.pick(PADDINGS), spatial_padding=sp, **extra)
    if rank in (3, 4):
        cls = getattr(sl, f"{kind}Pooling3D")
        extra = dict(masked_average=d.b(0.5)) if kind == "Average" else {}
        sp = lambda: d.pick(["valid", "same", "causal", "reverse_causal"])
        return cls.Config(pool_size=(d.i(1, 3), d.i(1, 2), d.i(1, 2)), strides=(d.pick([1, 2]), 1, d.pick([1, 2])),
                          time_padding=d.pick(PADDINGS), spatial_padding=(sp(), sp()), **extra)
    return None


def g_frame(d, shape, dtype):
    fl = d.i(1, 6)
    if d.b(0.2):
        left = d.i(0, fl - 1)
        pad = (left, fl - 1 - left)
        return sl.Frame.Config(frame_length=fl, frame_step=d.i(1, 4), padding=pad, explicit_padding_is_same_like=d.b())
    return sl.Frame.Config(frame_length=fl, frame_step=d.i(1, 5), padding=d.pick(PADDINGS))


def g_overlap_add(d, shape, dtype):
    if len(shape) < 1 or dtype == "int32":
        return None
    return sl.OverlapAdd.Config(frame_length=shape[0], frame_step=d.i(1, shape[0] + 1), padding=d.pick(["causal", "valid", "semicausal_full"]))


def g_delay(d, shape, dtype):
    return sl.Delay.Config(d.i(0, 4), delay_layer_output=d.b(0.6))


def g_lookahead(d, shape, dtype):
    return sl.Lookahead.Config(d.i(0, 4), preserve_length_in_layer=d.b())


def g_window(d, shape, dtype):
    if len(shape) < 1 or dtype == "int32":
        return None
    return sl.Window.Config(axis=d.pick(list(range(-len(shape), 0)) + list(range(2, 2 + len(shape)))), window_fn=d.pick(WINDOWS[:2]))


def g_fft(d, shape, dtype):
    if len(shape) < 1 or dtype == "int32":
        return None
    axis = d.pick(list(range(-len(shape), 0)))
    n = shape[axis]
    pad = d.pick(["right", "center"])
    fl = d.pick([None, None, max(1, n - 1), n + 2, 1])
    if dtype == "complex64":
        kind = d.pick(["FFT", "IFFT", "IRFFT"])
    else:
        kind = "RFFT"
    if kind == "FFT":
        return sl.FFT.Config(fft_length=d.pick([None, n, n + 1, max(1, n - 1), 2 * n]), axis=axis, padding=pad)
    if kind == "IFFT":
        return sl.IFFT.Config(fft_length=d.pick([None, n]), frame_length=fl, axis=axis, padding=pad)
    if kind == "RFFT":
        return sl.RFFT.Config(fft_length=d.pick([None, n, n + 1, max(1, n - 1), 2 * n, 7]), axis=axis, padding=pad)
    return sl.IRFFT.Config(fft_length=d.pick([None, 2 * (n - 1) if n > 1 else 1, 2 * n - 1, 2 * n + 2]), frame_length=fl, axis=axis, padding=pad)


def g_stft(d, shape, dtype):
    if dtype != "float32" or len(shape) > 1:
        return None
    fl = d.i(1, 10)
    return sl.STFT.Config(frame_length=fl, frame_step=d.i(1, 6), fft_length=d.pick([fl, fl + 1, 2 * fl, max(1, fl - 2), 8, 16]),
                          window_fn=d.pick(WINDOWS), time_padding=d.pick(PADDINGS), fft_padding=d.pick(["right", "center"]),
                          output_magnitude=d.b(0.4))


def g_istft(d, shape, dtype):
    if dtype != "complex64" or len(shape) < 1:
        return None
    bins = shape[0]
    fft_length = d.pick([2 * (bins - 1), 2 * bins - 1]) if bins > 1 else d.pick([1, 2])
    if fft_length < 1:
        return None
    fl = d.pick([fft_length, max(1, fft_length - 1), fft_length + 2])
    return sl.InverseSTFT.Config(frame_length=fl, frame_step=d.i(1, fl + 1), fft_length=fft_length, window_fn=d.pick(WINDOWS),
                                 time_padding=d.pick(["causal", "valid", "semicausal_full"]), fft_padding=d.pick(["right", "center"]))


def g_mel(d, shape, dtype):
    if dtype != "float32" or len(shape) < 1:
        return None
    sr = d.pick([8000.0, 16000.0, 22050.0])
    lo = d.pick([0.0, 20.0, 125.0])
    hi = d.pick([sr / 2, sr / 3, 3800.0])
    return sl.LinearToMelSpectrogram.Config(num_mel_bins=d.i(1, 6), sample_rate=sr, lower_edge_hertz=lo, upper_edge_hertz=hi)


def g_timing(d, shape, dtype):
    if dtype != "float32" or len(shape) < 1:
        return None
    axes = None
    if len(shape) >= 2 and d.b():
        axes = d.pick([-1, -2, (-2, -1)]) if len(shape) >= 2 else None
    return sl.AddTimingSignal.Config(min_timescale=d.pick([1.0, 2.0, 0.5]), max_timescale=d.pick([1e4, 10.0, 100.0, 1.0]),
                                     trainable_scale=d.b(0.3), axes=axes, only_advance_position_for_valid_timesteps=d.b())


def g_rope(d, shape, dtype):
    if dtype != "float32" or len(shape) < 1:
        return None
    axes = [a for a in range(-len(shape), 0) if shape[a] % 2 == 0]
    if not axes:
        return None
    return sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=d.pick([1e4, 10.0, 100.0]), axis=d.pick(axes),
                                                   only_advance_position_for_valid_timesteps=d.b(), positions_in_at_least_fp32=d.b(0.8))


def g_seqdense(d, shape, dtype):
    if dtype != "float32" or len(shape) != 1:
        return None
    cls = d.pick([sl.SequenceDense, sl.MaskedDense])
    return cls.Config(features=d.i(1, 4), num_steps=d.pick([d.T, d.T + 3, max(1, d.T)]), use_bias=d.b(0.7), activation=d.pick(ACTS))


def g_seqembed(d, shape, dtype):
    if dtype != "int32" or len(shape) != 0:
        return None
    n = max(1, d.T)
    per = d.pick([d.vocab, [d.vocab + d.i(0, 2) for _ in range(n)]])
    return sl.SequenceEmbedding.Config(dimension=d.i(1, 4), num_embeddings_per_step=per, num_steps=n,
                                       round_num_embeddings_to_multiple_of=d.pick([None, None, 4, 8]))


# --- dense, normalization, conditioning, simple, shape
# (no EmbeddingTranspose: the reference's get_output_shape reads config.embedding.config and raises)
# dense ---
def g_dense(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.Dense.Config(d.pick([0, 1, 2, 3, 5]) if d.b(0.3) else d.i(1, 5), use_bias=d.b(0.7), activation=d.act())


def g_dense_shaped(d, s, dtype):
    if dtype != "float32":
        return None
    out = d.pick([[], [3], [2, 3], [1, 2, 1], [0], [4, 1]])
    return sl.DenseShaped.Config(out, use_bias=d.b(0.7), activation=d.act())


def g_einsum(d, s, dtype):
    if dtype != "float32":
        return None
    n = len(s)
    opts = []
    if n >= 1:
        opts += [("...a,ab->...b", [d.i(1, 4)], d.pick(["", "b"])),
                 ("...a,abc->...bc", [d.i(1, 3), d.i(1, 3)], d.pick(["", "c", "bc", "b"])),
                 ("...a,a->...a", [s[-1]], d.pick(["", "a"]))]
    if n >= 2:
        opts += [("...ab,bc->...ac", [s[-2], d.i(1, 3)], d.pick(["", "c", "ac"])),
                 ("...ab,abc->...c", [d.i(1, 3)], d.pick(["", "c"])),
                 ("...ab,ac->...cb", [d.i(1, 3), s[-1]], d.pick(["", "c", "cb", "b"]))]
    if n == 2:
        opts += [("...ab,bc->...ca", [d.i(1, 3), s[-2]], d.pick(["", "a", "ca"]))]
    if not opts:
        return None
    eq, out, ba = d.pick(opts)
    return sl.EinsumDense.Config(eq, output_shape=out, bias_axes=ba, activation=d.act())


def g_embedding(d, s, dtype):
    if dtype != "int32":
        return None
    return sl.Embedding.Config(dimension=d.i(1, 4), num_embeddings=d.i(1, 8))


def g_seq_embedding(d, s, dtype):
    if dtype != "int32":
        return None
    return sl.SequenceEmbedding.Config(dimension=d.i(1, 3), num_embeddings_per_step=d.i(1, 5), num_steps=d.i(1, 13),
                                       round_num_embeddings_to_multiple_of=d.pick([None, None, 4, 8]))


def g_seq_dense(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    cls = d.pick([sl.SequenceDense, sl.MaskedDense])
    return cls.Config(features=d.i(0 if d.b(0.1) else 1, 4), num_steps=d.i(1, 14), use_bias=d.b(0.7), activation=d.act())


def g_gated(d, s, dtype):
    if dtype != "float32" or not s or s[-1] % 2:
        return None
    k = d.i(0, 3)
    if k == 0:
        return sl.GatedLinearUnit.Config()
    if k == 1:
        return sl.GatedTanhUnit.Config()
    fa = d.pick([None, jax.nn.relu, jax.nn.gelu, jnp.tanh, jax.nn.silu])
    ga = d.pick([None, jax.nn.sigmoid, jax.nn.relu, jnp.tanh, jax.nn.softplus])
    return sl.GatedUnit.Config(feature_activation=fa, gate_activation=ga)


# normalization ---
def rand_axis(d, n):
    """An axis of n >= 1 channel axes, counted from the end or from the batch, or a tuple of them."""
    axes = list(range(-n, 0)) + list(range(2, n + 2))
    if d.b(0.7):
        return d.pick(axes)
    k = d.i(1, n)
    sel = sorted(d.r.choice(n, size=k, replace=False).tolist())
    return tuple(a - n if d.b() else a + 2 for a in sel)


def g_layer_norm(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.LayerNormalization.Config(axis=rand_axis(d, len(s)), epsilon=d.pick([1e-6, 1e-3, 0.5]), use_bias=d.b(), use_scale=d.b(0.7),
                                        reductions_in_at_least_fp32=d.b(0.8))


def g_rms_norm(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.RMSNormalization.Config(axis=rand_axis(d, len(s)), epsilon=d.pick([1e-6, 1e-3, 0.5]), use_scale=d.b(0.7))


def g_group_norm(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    axis = d.pick([-1] + ([-2] if len(s) >= 2 else []))
    c = s[axis]
    divs = [g for g in range(1, max(c, 1) + 1) if c % g == 0] or [1]
    return sl.GroupNormalization.Config(num_groups=d.pick(divs), axis=axis, epsilon=d.pick([1e-6, 1e-2]), cumulative=d.b(0.4),
                                        use_bias=d.b(0.7), use_scale=d.b(0.7))


def g_batch_norm(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.BatchNormalization.Config(axis=d.pick([-1] + ([-2, len(s)] if len(s) >= 2 else [])), epsilon=d.pick([1e-3, 0.1]), use_bias=d.b(0.7), use_scale=d.b(0.7))


def g_l2_normalize(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.L2Normalize.Config(axis=rand_axis(d, len(s)), epsilon=d.pick([1e-12, 1e-2, 4.0]))


# conditioning ---
def g_conditioning(d, s, dtype):
    if dtype != "float32":
        return None
    P, C = sl.Conditioning.Projection, sl.Conditioning.Combination
    proj, comb = d.pick([(P.IDENTITY, C.ADD), (P.IDENTITY, C.CONCAT), (P.IDENTITY, C.MUL), (P.IDENTITY, C.CONCAT_BEFORE), (P.LINEAR, C.ADD),
                          (P.LINEAR, C.CONCAT), (P.LINEAR, C.MUL), (P.LINEAR, C.AFFINE_SHIFT), (P.LINEAR, C.AFFINE_SCALE), (P.LINEAR, C.CONCAT_BEFORE),
                          (P.LINEAR_AFFINE, C.AFFINE)])
    pcs = None
    if proj != P.IDENTITY and d.b(0.4):
        pcs = d.pick([tuple(s[-1:]) if s else (), (1,) + tuple(s[-1:]) if s else (1,), (2, 1), (1,), ()])
    kind = d.pick(["seq", "array", "stream"])
    if proj == P.IDENTITY:
        if comb in (C.ADD, C.MUL):
            cshape = d.pick([list(s), list(s[-1:]), [1] * len(s), [1], []])
        else:
            cshape = d.pick([list(s[:-1]) + [d.i(1, 3)] if s else [2], [d.i(1, 3)], []])
    else:
        cshape = [d.i(1, 4) for _ in range(d.i(0, 2))]
    cfg = sl.Conditioning.Config(conditioning_name="c", projection=proj, combination=comb, projection_channel_shape=pcs, streaming=(kind == "stream"),
                                 affine_scale_offset=d.pick([1.0, 0.0, 0.5]))
    return cfg, {"c": ({"seq": "sequence"}.get(kind, kind), cshape)}


# simple ---
def g_activation(d, s, dtype):
    if dtype != "float32":
        return None
    k = d.i(0, 15)
    return [sl.Relu.Config(), sl.Gelu.Config(approximate=d.b()), sl.Swish.Config(), sl.Tanh.Config(), sl.Sigmoid.Config(), sl.Elu.Config(alpha=d.pick([1.0, 0.3, 2.0])),
            sl.Softplus.Config(), sl.LeakyRelu.Config(negative_slope=d.pick([0.01, 0.3, -0.5])), sl.PRelu.Config(), sl.Snake.Config(separate_beta=d.b()),
            sl.Abs.Config(), sl.Exp.Config(), sl.Log.Config(), sl.Power.Config(power=d.pick([0.0, 1.0, 2.0, 3.0, 0.5, -1.0, 1.5])),
            sl.Affine.Config(use_bias=d.b(), use_scale=d.b(), shape=d.pick([None, [1] * len(s), list(s[-1:])])),
            sl.Identity.Config()][k]


def const_for(d, s):
    kind = d.i(0, 2)
    if kind == 0:
        return float(d.r.normal())
    shape = d.pick([list(s), list(s[-1:]), [1] * len(s), [1]]) if s else []
    return np.asarray(d.r.normal(size=shape), np.float32)


def g_elementwise(d, s, dtype):
    if dtype != "float32":
        return None
    k = d.i(0, 4)
    c = const_for(d, s)
    return [sl.Scale.Config(c), sl.Add.Config(c), sl.Maximum.Config(c), sl.Minimum.Config(c),
            sl.Mod.Config(d.pick([0.75, 2.0, -1.5, 1.0]))][k]


def g_reduce(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    cls = d.pick([sl.Sum, sl.Mean, sl.Max, sl.Min])
    axis = d.pick([-1, -len(s), len(s) + 1, 2]) if d.b(0.7) else tuple(range(-len(s), 0))
    return cls.Config(axis=axis, keepdims=d.b())


def g_softmax(d, s, dtype):
    if dtype != "float32" or len(s) == 0:
        return None
    return sl.Softmax.Config(axis=d.pick(list(range(-len(s), 0)) + list(range(2, len(s) + 2))))


def g_onehot(d, s, dtype):
    if dtype != "int32":
        return None
    return sl.OneHot.Config(depth=d.i(1, 6))


def g_cast(d, s, dtype):
    return sl.Cast.Config(d.pick([jnp.float32, jnp.int32]))


def g_misc(d, s, dtype):
    k = d.i(0, 7)
    if k == 0:
        return sl.Dropout.Config(rate=d.pick([0.0, 0.5, 0.99]), broadcast_dims=d.pick([(), (1,), (-1,)]))
    if k == 1:
        return sl.MaskInvalid.Config()
    if k == 2:
        return sl.Emit.Config(name="em")
    if k == 3:
        return sl.NamedEmit.Config(emit_name="probe")
    if k == 4 and dtype == "float32" and len(s) >= 1:
        return sl.Argmax.Config()
    if k == 5:
        return sl.Downsample1D.Config(rate=d.i(1, 3))
    if k == 6:
        return sl.Upsample1D.Config(rate=d.i(1, 3))
    if k == 7 and len(s) >= 1:
        return sl.Upsample2D.Config(rate=(d.i(1, 2), d.i(1, 2)))
    return None


# shape ---
def g_shape(d, s, dtype):
    n = len(s)
    size = int(np.prod(s)) if s else 1
    k = d.i(0, 9)
    if k == 0:
        rows = d.pick(divisors(size) or [1])
        out = d.pick([[size], [rows, size // rows], [size // rows, rows, 1], [-1], [rows, -1]]) if size > 0 else d.pick([[0], [0, 3], [2, 0]])
        return sl.Reshape.Config(out)
    if k == 1 and n >= 1:
        perm = d.r.permutation(n).tolist()
        return sl.Transpose.Config(axes=d.pick([None, tuple(perm), tuple(p + 2 for p in perm)]))
    if k == 2 and n >= 2:
        a, b = d.r.choice(n, size=2, replace=False).tolist()
        return sl.SwapAxes.Config(axis1=a - n if d.b() else a + 2, axis2=b - n if d.b() else b + 2)
    if k == 3 and n >= 2:
        a, b = d.r.choice(n, size=2, replace=False).tolist()
        return sl.MoveAxis.Config(source=a - n if d.b() else a + 2, destination=b - n if d.b() else b + 2)
    if k == 4:
        return sl.ExpandDims.Config(axis=d.pick([-1, 2, n + 2, -(n + 1)]))
    if k == 5 and 1 in s:
        idx = [i for i, n_i in enumerate(s) if n_i == 1]
        i = d.pick(idx)
        return sl.Squeeze.Config(axis=d.pick([None, i + 2, i - n]))
    if k == 6 and n >= 1:
        return sl.Flatten.Config()
    if k == 7 and n >= 1:
        slices = []
        for _ in s:
            start = d.pick([None, 0, 1, -1, -2, 5])
            stop = d.pick([None, 1, 2, -1, 0, 7])
            step = d.pick([None, 1, 2, 3, -1, -2])
            slices.append((start, stop, step))
        return sl.Slice.Config(slices=tuple(slices))
    if k == 8 and n >= 1:
        if n == 1 and s[0] % 2 == 0 and s[0] > 0:
            pat, al = d.pick([("(a b) -> b a", {"a": 2}), ("(a b) -> a b", {"b": 2}), ("c -> c", None), ("... c -> ... c 1", None), ("c -> 1 c", None)])
        elif n == 2:
            pat, al = d.pick([("a b -> b a", None), ("a b -> (a b)", None), ("a b -> (b a)", None), ("... b -> b ...", None), ("a b -> a 1 b", None)])
        elif n == 3:
            pat, al = d.pick([("a b c -> c (a b)", None), ("a b c -> (c b) a", None), ("a ... c -> c ... a", None)])
        else:
            pat, al = d.pick([("... -> ...", None), ("c -> c", None)])
        return sl.EinopsRearrange.Config(pat, axes_lengths=al)
    return None


# --- combinators, recurrent, attention
def child(d, c, same=False, steppable_only=False):
    """A small child layer for input channels [c] (rank 1). same: output channels [c]."""
    k = d.i(0, 11)
    if k == 0:
        return sl.Dense.Config(c if same else d.i(1, 4), activation=d.pick([None, jnp.tanh]))
    if k == 1:
        return sl.Tanh.Config()
    if k == 2:
        return sl.Conv1D.Config(filters=c if same else d.i(1, 3), kernel_size=d.i(1, 3),
                                padding=d.pick(["causal", "causal", "reverse_causal", "same", "semicausal"]), dilation_rate=d.pick([1, 1, 2]))
    if k == 3:
        return sl.LSTM.Config(units=c if same else d.i(1, 4))
    if k == 4:
        return sl.Delay.Config(length=d.i(0, 2))
    if k == 5:
        return sl.Identity.Config()
    if k == 6:
        return sl.LayerNormalization.Config()
    if k == 7:
        return sl.Serial.Config([sl.Dense.Config(c if same else 3), sl.Relu.Config()])
    if k == 8:
        return sl.DotProductSelfAttention.Config(num_heads=d.i(1, 2), units_per_head=d.i(1, 3), max_past_horizon=d.i(1, 3),
                                                 max_future_horizon=d.pick([0, 0, 1]))
    if k == 9:
        return sl.GroupNormalization.Config(num_groups=1, cumulative=True)
    if k == 10:
        return sl.Lookahead.Config(length=d.i(1, 2)) if not steppable_only else sl.Identity.Config()
    if k == 11:
        return sl.Serial.Config([sl.Downsample1D.Config(rate=2), sl.Upsample1D.Config(rate=2)]) if same else sl.Downsample1D.Config(rate=d.pick([1, 2]))


MODES = [sl.CombinationMode.STACK, sl.CombinationMode.CONCAT, sl.CombinationMode.ADD, sl.CombinationMode.MEAN, sl.CombinationMode.PRODUCT]


def g_serial(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    n = d.i(0, 3)
    return sl.Serial.Config([child(d, s[0], same=True) for _ in range(n)])


def g_parallel(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    c = s[0]
    n = d.i(1, 3)
    mode = d.pick(MODES)
    branches = []
    for _ in range(n):
        k = d.i(0, 5)
        if k == 0:
            branches.append(sl.Dense.Config(d.pick([c, 1])))
        elif k == 1:
            branches.append(sl.DenseShaped.Config(d.pick([[2, c], [c], [], [1]])))
        elif k == 2:
            branches.append(sl.Identity.Config())
        else:
            branches.append(child(d, c, same=d.b(0.7)))
    return sl.Parallel.Config(branches, combination=mode)


def g_residual(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    c = s[0]
    body = [child(d, c, same=True) for _ in range(d.i(0, 2))]
    short = None if d.b() else [d.pick([sl.Dense.Config(c), sl.Identity.Config(), sl.Delay.Config(1), sl.Conv1D.Config(filters=c, kernel_size=2, padding="causal")])
                                   for _ in range(d.i(0, 1))]
    return sl.Residual.Config(body, shortcut_layers=short)


def g_repeat(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    c = s[0]
    body = child(d, c, same=True)
    return sl.Repeat.Config(body, num_repeats=d.i(1, 4), unroll_layer=d.b(0.3), unroll_step=d.b(0.3))


def g_bidirectional(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    c = s[0]
    u = d.i(1, 3)
    f = d.pick([sl.LSTM.Config(units=u), sl.Dense.Config(u), sl.Conv1D.Config(filters=u, kernel_size=2, padding="causal")])
    b = d.pick([sl.LSTM.Config(units=u), sl.Dense.Config(u), sl.Conv1D.Config(filters=u, kernel_size=3, padding="causal")])
    return sl.Bidirectional.Config(forward=f, backward=b, combination=d.pick(MODES))


def g_blockwise(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    return sl.Blockwise.Config(child(d, s[0], steppable_only=True), block_size=d.i(1, 4))


def g_parallel_channels(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    c = s[0]
    divs = [g for g in range(1, c + 1) if c % g == 0]
    g = d.pick(divs)
    ch = d.pick([sl.Dense.Config(d.i(1, 3)), sl.Tanh.Config(), sl.Conv1D.Config(filters=2, kernel_size=2, padding="causal"), sl.LSTM.Config(units=2),
                  sl.LayerNormalization.Config()])
    return sl.ParallelChannels.Config(ch, num_groups=g, combination=d.pick(MODES))


def g_checkpoint(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    return sl.CheckpointGradient.Config(child(d, s[0]), prevent_cse=d.b())


def g_lstm(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    return sl.LSTM.Config(units=d.pick([0, 1, 2, 3, 5, 7]) if d.b(0.3) else d.i(1, 5), use_bias=d.b(0.8),
                          activation=d.pick([jnp.tanh, jax.nn.relu, jax.nn.sigmoid, jax.nn.gelu]),
                          recurrent_activation=d.pick([jax.nn.sigmoid, jax.nn.sigmoid, jnp.tanh, jax.nn.softplus]))


def heads(d):
    h = d.i(1, 4)
    kv_opts = [None] + [k for k in range(1, h + 1) if h % k == 0]
    return h, d.pick(kv_opts)


def projection(d, gqa):
    opts = [sl.SeparateQueryKeyValueProjection(), sl.QueryAndKeyValueProjection()]
    if not gqa:
        opts += [sl.CombinedQueryKeyValueProjection(), sl.QueryAndSharedKeyValueProjection()]
    return d.pick(opts)


def rel_pos(d, h, u, past, future, allow=("t5", "shaw", "txl")):
    k = d.pick([None, None] + list(allow))
    if k == "t5":
        bid = d.b()
        md = d.i(4, 11)
        nb = d.i(2, 4) * (4 if bid else 2)
        # keep max_distance at or above the exact range (seqlayers' documented BAD_CONFIG otherwise)
        exact = nb // (2 if bid else 1) // 2
        return sl.T5RelativePositionEmbedding.Config(num_buckets=nb, num_heads=h, bidirectional=bid, max_distance=max(md, exact + 1))
    if k == "shaw":
        return sl.ShawRelativePositionEmbedding.Config(max_backward=max(past, 0) + d.i(0, 1) if past >= 0 else 4,
                                                       max_forward=max(future, 0) + d.i(0, 1) if future >= 0 else 4, num_heads=h, units_per_head=u)
    if k == "txl":
        return sl.TransformerXLRelativePositionEmbedding.Config(num_heads=h, units_per_head=u, max_backward=past if past >= 0 else 4, max_forward=future if future >= 0 else 4,
                                                                position_bias_dim=d.i(1, 5), use_bias=d.b(0.7))
    return None


def network(d, u):
    return d.pick([None, None, sl.RMSNormalization.Config(), sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=d.pick([10.0, 1e4])),
                    sl.Dense.Config(u), sl.LayerNormalization.Config(use_bias=False), sl.Serial.Config([sl.Dense.Config(u), sl.Tanh.Config()]),
                    sl.Conv1D.Config(filters=u, kernel_size=2, padding="causal"), sl.DenseShaped.Config([u]),
                    sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=100.0, only_advance_position_for_valid_timesteps=False)])


def common_opts(d, u, sinks=True):
    o = {}
    if d.b(0.3):
        o["attention_logits_soft_cap"] = d.pick([0.5, 2.0, 30.0])
    if d.b(0.3):
        o["per_dim_scale"] = True
    if d.b(0.2):
        o["query_scale"] = d.pick([0.1, 1.0, 2.5])
    if d.b(0.3):
        o["use_bias"] = True
    if sinks:
        if d.b(0.2):
            o["per_dim_key_scale"] = True
        sk = d.i(0, 3)
        if d.b(0.2) and sk == 0:
            o["zero_fully_masked"] = True
        if sk == 1:
            o["num_sink_embeddings"] = d.i(1, 2)
        elif sk == 2:
            o["use_sink_scalars"] = True
    for n in ("query_network", "key_network", "value_network"):
        if d.b(0.25):
            o[n] = network(d, u)
    return o


def g_dpsa(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, kv = heads(d)
    u = d.i(1, 5)
    past = d.pick([-1, 0, 1, 2, 3, 5])
    future = d.pick([0, 0, 1, 2, -1])
    o = common_opts(d, u)
    if d.b(0.2):
        o["use_kv_cache_ringbuffer"] = True
    return sl.DotProductSelfAttention.Config(num_heads=h, num_kv_heads=kv, units_per_head=u, max_past_horizon=past, max_future_horizon=future,
                                             input_projection=projection(d, kv not in (None, h)), relative_position_embedding=rel_pos(d, h, u, past, future, ("t5", "shaw")), **o)


def g_local(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, _ = heads(d)
    u = d.i(1, 4)
    past = d.i(0, 4)
    future = d.pick([0, 0, 1, 2])
    bs = d.i(1, 4)
    o = common_opts(d, u)
    return sl.LocalDotProductSelfAttention.Config(num_heads=h, units_per_head=u, block_size=bs, max_past_horizon=past, max_future_horizon=future,
                                                  input_projection=projection(d, False), relative_position_embedding=rel_pos(d, h, u, past, future), **o)


def g_v2(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, kv = heads(d)
    u = d.i(1, 4)
    past = d.pick([0, 1, 2, 4, -1])
    future = d.pick([0, 0, 1, 2])
    o = common_opts(d, u, sinks=False)
    constants = {}
    # Segments starting at these steps (per batch row); positions count from each start, or from an offset.
    starts = [sorted(set([0] + d.r.integers(1, 14, size=d.i(0, 2)).tolist())) for _ in range(B)]
    offset = d.i(0, 3)
    segments = d.b(0.4)
    if segments:
        o["segment_ids_name"] = "seg"
        constants["seg"] = ("ids", lambda d, T: [[sum(st <= t for st in starts[b]) - 1 for t in range(T)] for b in range(B)])
    if d.b(0.4):
        o["position_name"] = "pos"
        constants["pos"] = ("ids", lambda d, T: [[t - max(st for st in starts[b] if st <= t) if segments else t + offset * b for t in range(T)] for b in range(B)])
    if d.b(0.2):
        o["use_kv_cache_ringbuffer"] = True
    return sl.DotProductSelfAttentionV2.Config(num_heads=h, num_kv_heads=kv, units_per_head=u, max_past_horizon=past, max_future_horizon=future,
                                               input_projection=projection(d, kv not in (None, h)), **o), constants


def g_blockwise_attn(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, kv = heads(d)
    u = d.i(1, 4)
    o = common_opts(d, u, sinks=False)
    return sl.BlockwiseDotProductSelfAttention.Config(block_size=d.i(1, 4), num_heads=h, num_kv_heads=kv, units_per_head=u,
                                                      max_past_horizon_blocks=d.i(1, 2), max_future_horizon_blocks=d.i(0, 2),
                                                      input_projection=projection(d, kv not in (None, h)), **o)


def g_streaming(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, _ = heads(d)
    u = d.i(1, 4)
    past = d.i(0, 4)
    future = d.pick([0, 0, 1, 2])
    o = common_opts(d, u)
    cs = [d.i(1, 4)]
    if d.b():
        cfg = sl.StreamingDotProductAttention.Config(source_name="src", num_heads=h, units_per_head=u, max_past_horizon=past, max_future_horizon=future,
                                                     relative_position_embedding=rel_pos(d, h, u, past, future), **o)
    else:
        cfg = sl.StreamingLocalDotProductAttention.Config(source_name="src", num_heads=h, units_per_head=u, max_past_horizon=past, max_future_horizon=future,
                                                          block_size=d.i(1, 3), relative_position_embedding=rel_pos(d, h, u, past, future), **o)
    return cfg, {"src": ("stream", cs)}


def g_dpa(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, _ = heads(d)
    u = d.i(1, 4)
    o = common_opts(d, u)
    cs = [d.i(1, 4)]
    return sl.DotProductAttention.Config(source_name="src", num_heads=h, units_per_head=u, relative_position_embedding=rel_pos(d, h, u, 4, 4, ("t5", "shaw")), **o), \
        {"src": ("source", cs)}


def g_multi(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    h, kv = heads(d)
    u = d.i(1, 4)
    o = common_opts(d, u, sinks=False)
    n = d.i(1, 2)
    names = tuple(f"src{i}" for i in range(n))
    return sl.MultiSourceDotProductAttention.Config(source_names=names, num_heads=h, num_kv_heads=kv, units_per_head=u, use_separate_kv_projections=d.b(),
                                                    input_projection=projection(d, kv not in (None, h)), **o), \
        {nm: ("source", [d.i(1, 4)]) for nm in names}


def g_gmm(d, s, dtype):
    if dtype != "float32" or len(s) != 1:
        return None
    cs = [d.i(1, 4)]
    return sl.GmmAttention.Config(source_name="src", num_heads=d.i(1, 3), units_per_head=d.i(1, 4), num_components=d.i(1, 3),
                                  monotonic=d.b(), output_use_bias=d.b(), max_offset=d.pick([-1.0, -1.0, 0.5, 2.0])), {"src": ("source", cs)}


# Each family: its generators (a generator listed twice is drawn twice as often) and the inputs
# its first layer takes: (channel shape, dtype) kinds, see draw_input.
FAMILIES = {
    "convolution": ([g_conv1d, g_depthwise, g_conv1dt, g_conv2d, g_conv2dt, g_conv3d], ["f1", "f1", "f2", "f3"]),
    "pooling": ([g_pool], ["f1", "f2", "f3", "i1"]),
    "padding": ([g_delay, g_lookahead, g_frame], ["f0", "f1", "f2", "i0", "c1"]),
    "dsp": ([g_frame, g_overlap_add, g_window, g_fft, g_stft, g_istft, g_mel], ["f0", "f1", "f1", "f2", "c1", "c1", "c2"]),
    "position": ([g_timing, g_rope], ["f1", "f2", "f3"]),
    "time_varying": ([g_seqdense, g_seqembed], ["f1", "i0"]),
    "dense": ([g_dense, g_dense_shaped, g_einsum, g_embedding, g_seq_embedding, g_seq_dense, g_gated], ["f1", "f1", "f2", "i0"]),
    "normalization": ([g_layer_norm, g_rms_norm, g_group_norm, g_batch_norm, g_l2_normalize], ["f0", "f1", "f2", "f3"]),
    "conditioning": ([g_conditioning], ["f0", "f1", "f2"]),
    "simple": ([g_activation, g_elementwise, g_reduce, g_softmax, g_onehot, g_cast, g_misc], ["f0", "f1", "f2", "f3", "i0", "i1"]),
    "shape": ([g_shape], ["f0", "f1", "f2", "f3", "i1"]),
    "combinators": ([g_serial, g_parallel, g_parallel, g_residual, g_repeat, g_bidirectional, g_blockwise, g_parallel_channels, g_checkpoint], ["f1"]),
    "recurrent": ([g_lstm], ["f1"]),
    "attention": ([g_dpsa, g_dpsa, g_local, g_v2, g_blockwise_attn, g_streaming, g_dpa, g_multi, g_gmm], ["f1"]),
}
# Layers a stack may add after its first: its family's, or one of these.
GLUE = FAMILIES["dense"][0] + FAMILIES["simple"][0] + FAMILIES["normalization"][0] + FAMILIES["shape"][0]


def draw_input(d, kind):
    """A channel shape and dtype: f<rank> float32, i<rank> int32 ids, c<rank> complex64."""
    dtype = {"f": "float32", "i": "int32", "c": "complex64"}[kind[0]]
    sizes = {"f": [5, 4, 3], "i": [3], "c": [6, 3]}[kind[0]]
    return [d.i(1, sizes[k]) for k in range(int(kind[1]))], dtype


def output_spec(config, shape, dtype, constants):
    spec = config.make().bind({}).get_output_spec(jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype)), constants=constants)
    return [int(s) for s in spec.shape], jnp.dtype(spec.dtype).name


def draw_case(d, family, rejected):
    """A config of 1 to 3 layers for a random input, or None: (config, channel shape, dtype, constant
    specs). A layer the reference rejects for its input is drawn again, its error added to rejected."""
    gens, kinds = FAMILIES[family]
    d.T = d.pick([0, 1, 2, 3, 5, 7, 9, 13, 16, 23]) if d.b(0.3) else d.i(6, 14)
    d.vocab = d.i(2, 8)
    shape, dtype = draw_input(d, d.pick(kinds))
    layers, specs, s, dt = [], {}, shape, dtype
    for k in range(d.pick([1, 1, 1, 2, 3])):
        for _ in range(20):
            generator = d.pick(gens if k == 0 or d.b(0.7) else GLUE)
            try:
                drawn = generator(d, s, dt)
                config, more = drawn if isinstance(drawn, tuple) else (drawn, {})
                if config is None or specs.keys() & more.keys():
                    continue
                s2, dt2 = output_spec(config, s, dt, make_constants(d, {**specs, **more}, max(d.T, 1)))
            except Exception as e:  # noqa: BLE001
                rejected.append(f"{type(e).__name__}: {str(e)[:200]}")
                continue
            if int(np.prod(s2)) <= 64 and dt2 in ("float32", "int32", "complex64"):
                layers.append(config)
                specs.update(more)
                s, dt = s2, dt2
                break
    if not layers:
        return None
    return (layers[0] if len(layers) == 1 else sl.Serial.Config(layers)), shape, dtype, specs


def draw_mask(d, T, attention):
    """A [B, T] mask: lengths, holes, an invalid prefix, all valid or one empty row; and whether the
    values at invalid steps are left random ("garbage": both must ignore them). Not for attention:
    a monotonic GmmAttention reads them on purpose (README, where the reference is not followed)."""
    mode = d.pick(["lengths", "lengths", "holes", "leftpad", "full", "empty1"] + ([] if attention else ["garbage"]))
    steps = np.arange(T)[None, :]
    if mode in ("holes", "garbage"):
        return d.r.random((B, T)) < 0.7, mode == "garbage"
    if mode == "leftpad":
        starts = d.r.integers(0, T + 1, size=B)
        ends = np.array([d.i(int(s), T) if d.b() else T for s in starts])
        return (steps >= starts[:, None]) & (steps < ends[:, None]), False
    if mode == "full":
        return np.ones((B, T), bool), False
    if mode == "empty1":
        return np.arange(B)[:, None] + 0 * steps == 0, False
    return steps < np.array([T, d.i(0, T)])[:, None], False


def random_values(d, shape, dtype):
    if dtype == "int32":
        return d.r.integers(-2 if d.b(0.2) else 0, d.vocab + (2 if d.b(0.2) else 0), size=shape).astype(np.int32)
    if dtype == "complex64":
        return (d.r.normal(size=shape) + 1j * d.r.normal(size=shape)).astype(np.complex64)
    return d.r.normal(size=shape).astype(np.float32)


def make_constants(d, specs, T):
    """The constants for specs (see the generators), as the reference takes them."""
    out = {}
    for name, (kind, shape) in specs.items():
        if kind == "array":
            out[name] = jnp.asarray(d.r.normal(size=(B, *shape)).astype(np.float32))
        elif kind == "ids":
            out[name] = jnp.asarray(shape(d, T), jnp.int32)
        else:
            length = d.i(1, 7) if kind == "source" else T
            mask = np.arange(length)[None, :] < np.array([length, d.i(0, length)])[:, None]
            values = np.where(mask.reshape(B, length, *([1] * len(shape))), d.r.normal(size=(B, length, *shape)), 0).astype(np.float32)
            out[name] = sl.Sequence(jnp.asarray(values), jnp.asarray(mask))
    return out


def encode(a):
    """An array as a flat list (complex as (re, im) pairs; NaN and infinities as strings)."""
    a = np.asarray(a)
    if np.iscomplexobj(a):
        a = np.stack([a.real, a.imag], axis=-1)
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int64).ravel().tolist()
    return [v if np.isfinite(v) else str(v) for v in a.astype(np.float64).ravel().tolist()]


def sequence_json(values, mask):
    return {"shape": list(np.shape(values)), "dtype": jnp.dtype(values.dtype).name, "values": encode(values), "mask": encode(mask)}


def metadata(bound):
    try:
        rf = bound.receptive_field
        rf = None if rf is None else [int(v) if np.isfinite(v) else str(v) for v in rf]
    except Exception as e:  # noqa: BLE001
        rf = f"error: {type(e).__name__}: {e}"
    return {"block_size": int(bound.block_size), "output_ratio": [int(bound.output_ratio.numerator), int(bound.output_ratio.denominator)],
            "input_latency": int(bound.input_latency), "output_latency": int(bound.output_latency), "supports_step": bool(bound.supports_step),
            "receptive_field": rf}


def run_case(d, family, config, shape, dtype, specs):
    """Runs config with the reference on a random input: the case for refdiff.js."""
    T = d.T
    mask, garbage = draw_mask(d, T, family == "attention")
    values = random_values(d, (B, T, *shape), dtype)
    if not garbage:
        values = np.where(mask.reshape(B, T, *([1] * len(shape))), values, 0).astype(values.dtype)
    x = sl.Sequence(jnp.asarray(values), jnp.asarray(mask))
    constants = make_constants(d, specs, T)
    layer = config.make()
    seed = d.i(0, 1 << 30)
    # Initialised on a non-empty input: flax's shape inference can fail on T = 0 for reasons the layer has no part in.
    xi, ci = (x, constants) if T else (sl.Sequence(jnp.ones((B, 1, *shape), values.dtype), jnp.ones((B, 1), bool)), make_constants(d, specs, 1))
    # Under jit: one compilation for the whole init (and one for layer()) costs less than one per operation.
    variables = flax.core.meta.unbox(jax.jit(lambda key, x, c: layer.init(key, x, training=False, constants=c))(jax.random.PRNGKey(seed), xi, ci))
    leaves, variables = moved_variables(variables, seed + 1) if variables else ({}, {})
    y = jax.jit(lambda v, x, c: layer.apply(v, x, training=False, constants=c, method=layer.layer))(variables, x, constants)
    out, out_mask = np.asarray(y.values), np.asarray(y.mask)
    out = np.where(out_mask.reshape(*out_mask.shape, *([1] * (out.ndim - 2))), out, 0).astype(out.dtype)
    return {
        "family": family, "config": config_to_json(layer_config(config)), "input_shape": list(shape), "input_dtype": dtype,
        "input": sequence_json(values, mask),
        "constants": {name: {"kind": specs[name][0], **(sequence_json(c.values, c.mask) if isinstance(c, sl.Sequence) else
                                                        {"shape": list(c.shape), "dtype": jnp.dtype(c.dtype).name, "values": encode(c)})}
                      for name, c in constants.items()},
        "weights": {k: {"shape": list(v.shape), "values": encode(v)} for k, v in leaves.items()},
        "output": sequence_json(out, out_mask),
        "metadata": metadata(layer.bind(variables)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=100, help="cases per family")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, of: " + ", ".join(FAMILIES))
    ap.add_argument("--out", default="cases.json")
    args = ap.parse_args()
    families = args.families.split(",")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}: expected some of {', '.join(FAMILIES)}")
    d = Draw(args.seed)
    cases, rejected, t0 = [], {}, time.time()
    for family in families:
        made = 0
        for _ in range(args.n * 20):
            if made == args.n:
                break
            drawn = draw_case(d, family, rejected.setdefault(family, []))
            if drawn is None:
                continue
            try:
                cases.append(run_case(d, family, *drawn))
                made += 1
            except Exception as e:  # noqa: BLE001 (the reference rejects the config: counted, not compared)
                rejected[family].append(f"{type(e).__name__}: {str(e)[:200]}")
        print(f"{family}: {made} cases, {len(rejected[family])} rejected by the reference ({time.time() - t0:.0f}s)", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump({"seed": args.seed, "cases": cases, "rejected": rejected}, f)


if __name__ == "__main__":
    main()
