"""Fixtures from the reference itself: models built and run by Google's SequenceLayers (JAX).

Each case is a reference Config, made and initialised by the reference (flax), run with its
layer() on a random input. The fixture keeps the config as JSON and the variables under their
flax names, as tools/export_reference.py exports them (`params/layers_0/kernel`), the input,
the reference's output and its metadata. test/reference.test.ts loads them with
loadWeights(..., { naming: 'flax' }) and compares layer(), the metadata and step().

Needs jax, flax, a checkout of the reference (github.com/google/sequence-layers) and one of
recurrentgemma (github.com/google-deepmind/recurrentgemma, for RGLRU):
  python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install jax jaxlib flax einops jaxtyping typeguard scipy safetensors
  SEQUENCE_LAYERS=/path/to/sequence-layers RECURRENTGEMMA=/path/to/recurrentgemma /tmp/refenv/bin/python tools/fixtures_reference.py
(pip needs an index that has them; the tests only read the committed fixture.)
"""
import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures_common import case, tensor, write_fixture  # noqa: E402
from export_reference import config_to_json, layer_config  # noqa: E402

from reference_env import moved_variables, sl  # noqa: E402 (puts the reference on the path)
import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from sequence_layers.jax import signal  # noqa: E402

B = 2


def reference_step(layer, variables, x, constants, fixed, block, latency):
    """The reference's step() over x in blocks of `block` steps, flushed with `latency` invalid steps.

    constants: per-step [B, T] arrays, sliced with x (zeros after its end); fixed: the others,
    given whole to every step (sources)."""
    pad = lambda a: jnp.concatenate([a, jnp.zeros((a.shape[0], latency, *a.shape[2:]), a.dtype)], axis=1)
    values, mask = pad(x.values), pad(x.mask)
    constants = {k: pad(v) for k, v in constants.items()}
    total = values.shape[1]
    spec = jax.ShapeDtypeStruct(values.shape[2:], values.dtype)
    first = {**fixed, **{k: v[:, :block] for k, v in constants.items()}}
    state = layer.apply(variables, B, spec, training=False, constants=first, method=layer.get_initial_state)
    outs = []
    for t in range(0, total, block):
        xb = sl.Sequence(values[:, t:t + block], mask[:, t:t + block])
        given = {**fixed, **{k: v[:, t:t + block] for k, v in constants.items()}}
        y, state = layer.apply(variables, xb, state, training=False, constants=given, method=layer.step)
        outs.append(np.where(np.asarray(y.mask)[..., None, None], np.asarray(y.values, np.float64), 0))
    return np.concatenate(outs, axis=1)[:, latency:latency + x.values.shape[1]]


def reference_case(name, config, channels, time=11, dtype=np.float32, constants=None, seed=0, rtol=1e-4, atol=1e-5, vocab=None, holes=False,
                   step_ids=None, step_block=None):
    """holes: a random mask (invalid steps anywhere, the first valid) instead of lengths.

    step_ids: per-step [B, T] int32 constants (segment ids, positions), given to the reference as
    arrays and kept in the fixture as all-valid Sequences (streamed with x); with step_block the
    reference's step() output over blocks of that many steps is kept too (step_output)."""
    rng = np.random.default_rng(seed)
    if dtype == np.int32:
        values = rng.integers(0, vocab, size=(B, time, *channels)).astype(np.int32)
    else:
        values = rng.normal(size=(B, time, *channels)).astype(np.float32)
    lengths = np.array([time, max(1, time - 3)])
    mask = np.arange(time)[None, :] < lengths[:, None]
    if holes:
        mask = rng.random((B, time)) < 0.7
        mask[:, 0] = True
    values = np.where(mask.reshape(B, time, *([1] * len(channels))), values, 0).astype(values.dtype)
    x = sl.Sequence(jnp.asarray(values), jnp.asarray(mask))
    fixed = dict(constants or {})
    if step_ids:
        constants = {**fixed, **{k: jnp.asarray(v, jnp.int32) for k, v in step_ids.items()}}
    layer = config.make()
    variables = flax.core.meta.unbox(layer.init(jax.random.PRNGKey(seed), x, training=False, constants=constants))
    leaves, variables = moved_variables(variables, seed + 1)
    y = layer.apply(variables, x, training=False, constants=constants, method=layer.layer)
    out = np.asarray(y.values, np.complex128 if jnp.iscomplexobj(y.values) else np.float64)
    out = np.where(np.asarray(y.mask).reshape(*y.mask.shape, *([1] * (out.ndim - 2))), out, 0)
    c = case(name, config_to_json(layer_config(config)), values, out.real if np.iscomplexobj(out) else out, weights=leaves,
             lengths=None if holes else lengths, output_mask=np.asarray(y.mask), input_dtype="int32" if dtype == np.int32 else "float32", rtol=rtol, atol=atol)
    if holes:
        c["input_mask"] = [int(m) for m in mask.ravel()]
    if np.iscomplexobj(out):  # complex64 outputs: interleaved (re, im) pairs, as seqlayers holds them
        c["output"]["values"] = tensor(np.stack([out.real, out.imag], axis=-1))["values"]
    c["weight_naming"] = "flax"
    # The reference's metadata, read off the bound layer (receptive field ends may be +-inf).
    bound = layer.bind(variables)
    rf = bound.receptive_field
    c["metadata"] = {
        "block_size": int(bound.block_size), "output_ratio": [bound.output_ratio.numerator, bound.output_ratio.denominator],
        "input_latency": int(bound.input_latency), "output_latency": int(bound.output_latency), "supports_step": bool(bound.supports_step),
        "receptive_field": None if rf is None else [str(v) if not np.isfinite(v) else int(v) for v in rf],
    }
    int32 = lambda v: {"dtype": "int32"} if np.asarray(v).dtype == np.int32 else {}
    if constants:
        c["constants"] = {k: {"kind": "sequence", **tensor(v.values), "mask": [int(m) for m in np.asarray(v.mask).ravel()]}
                          if isinstance(v, sl.Sequence) else {"kind": "array", **tensor(v), **int32(v)} for k, v in constants.items()}
    for k, v in (step_ids or {}).items():
        c["constants"][k] = {"kind": "sequence", **tensor(np.asarray(v, np.int32)), "dtype": "int32", "mask": [1] * int(np.size(v))}
    if step_block:
        stepped = reference_step(layer, variables, x, {k: jnp.asarray(v, jnp.int32) for k, v in step_ids.items()}, fixed, step_block, int(bound.output_latency))
        c["step_output"] = {"block": step_block, **tensor(np.where(np.asarray(y.mask)[..., None, None], stepped, 0))}
    cases.append(c)


cases = []

reference_case("Serial: named Conv1D, Residual, Parallel, Repeat", sl.Serial.Config([
    sl.Conv1D.Config(filters=4, kernel_size=3, padding="causal", name="encoder"),
    sl.Residual.Config([sl.Dense.Config(4), sl.Tanh.Config()], shortcut_layers=[sl.Dense.Config(4)]),
    sl.Parallel.Config([sl.Dense.Config(4), sl.Dense.Config(4)], combination=sl.CombinationMode.ADD),
    sl.Repeat.Config(sl.Dense.Config(4), num_repeats=2),
]), [3])

reference_case("Bidirectional (a named forward) and CheckpointGradient", sl.Serial.Config([
    sl.Bidirectional.Config(forward=sl.Conv1D.Config(filters=3, kernel_size=2, padding="causal", name="ahead"),
                            backward=sl.Conv1D.Config(filters=3, kernel_size=2, padding="causal"), combination=sl.CombinationMode.CONCAT),
    sl.CheckpointGradient.Config(sl.Dense.Config(4)),
]), [3])
reference_case("Repeat of a Serial with a named Dense, Blockwise, ParallelChannels", sl.Serial.Config([
    sl.Repeat.Config(sl.Serial.Config([sl.Dense.Config(4, name="inner"), sl.Tanh.Config()]), num_repeats=3),
    sl.Blockwise.Config(sl.Dense.Config(4), block_size=2),
    sl.ParallelChannels.Config(sl.Dense.Config(2), num_groups=2),
]), [4])
reference_case("Conv1D weight norm, DepthwiseConv1D, Conv1DTranspose", sl.Serial.Config([
    sl.Conv1D.Config(filters=4, kernel_size=3, padding="causal", use_weight_norm=True),
    sl.DepthwiseConv1D.Config(kernel_size=3, padding="causal", depth_multiplier=2),
    sl.Conv1DTranspose.Config(filters=3, kernel_size=4, strides=2, padding="causal"),
]), [3])
reference_case("Conv2D over [time, freq, channels]", sl.Conv2D.Config(filters=3, kernel_size=(3, 2), time_padding="causal", spatial_padding="same"), [5, 2])
reference_case("LayerNormalization, RMSNormalization, GroupNormalization, BatchNormalization", sl.Serial.Config([
    sl.LayerNormalization.Config(), sl.RMSNormalization.Config(), sl.GroupNormalization.Config(num_groups=2), sl.BatchNormalization.Config(),
]), [4])
reference_case("Dense, DenseShaped, EinsumDense, PRelu, Snake", sl.Serial.Config([
    sl.Dense.Config(6), sl.PRelu.Config(), sl.DenseShaped.Config([2, 3]), sl.Flatten.Config(),
    sl.EinsumDense.Config("...a,ab->...b", output_shape=[5], bias_axes="b"), sl.Snake.Config(separate_beta=True),
]), [3])
reference_case("Embedding", sl.Embedding.Config(dimension=4, num_embeddings=7), [], dtype=np.int32, vocab=7)
reference_case("RGLRU", sl.RGLRU.Config(units=6, num_heads=2), [6], time=13)
reference_case("RGLRU after a Dense: min_rad, gate variance, associative scan; one head", sl.Serial.Config([
    sl.Dense.Config(8), sl.RGLRU.Config(units=8, num_heads=1, min_rad=0.5, gate_kernel_variance_scale=2.0, scan_type="associative_native"),
]), [3], seed=3)
reference_case("RGLRU in a Residual with RMSNormalization, 4 heads", sl.Residual.Config([
    sl.RMSNormalization.Config(), sl.RGLRU.Config(units=8, num_heads=4, scan_type="linear_native"), sl.Dense.Config(8),
]), [8], seed=4)
reference_case("SequenceDense, MaskedDense", sl.Serial.Config([sl.SequenceDense.Config(features=3, num_steps=11), sl.MaskedDense.Config(features=2, num_steps=11)]), [4])
rope = sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=1e4)
reference_case("DotProductSelfAttention: per-dim scale, sinks, T5, RoPE query network, RMSNorm key network", sl.DotProductSelfAttention.Config(
    num_heads=2, units_per_head=4, max_past_horizon=3, per_dim_scale=True, num_sink_embeddings=1, query_network=rope, key_network=sl.RMSNormalization.Config(),
    relative_position_embedding=sl.T5RelativePositionEmbedding.Config(num_buckets=4, num_heads=2, bidirectional=False, max_distance=8)), [5])
reference_case("DotProductSelfAttention: separate projections with biases, GQA, Shaw, future 2", sl.DotProductSelfAttention.Config(
    num_heads=2, num_kv_heads=1, units_per_head=4, max_past_horizon=3, max_future_horizon=2, input_projection=sl.SeparateQueryKeyValueProjection(), use_bias=True,
    relative_position_embedding=sl.ShawRelativePositionEmbedding.Config(max_backward=3, max_forward=2, num_heads=2, units_per_head=4)), [5])
reference_case("LocalDotProductSelfAttention: Transformer-XL positions", sl.LocalDotProductSelfAttention.Config(
    num_heads=2, units_per_head=4, max_past_horizon=3, block_size=2,
    relative_position_embedding=sl.TransformerXLRelativePositionEmbedding.Config(num_heads=2, units_per_head=4, max_backward=3, max_forward=0, position_bias_dim=4)), [5])
source = sl.Sequence(jnp.asarray(np.random.default_rng(9).normal(size=(B, 6, 3)).astype(np.float32)), jnp.asarray(np.arange(6)[None, :] < np.array([[6], [4]])))
reference_case("DotProductAttention", sl.DotProductAttention.Config(source_name="source", num_heads=2, units_per_head=4), [5], constants={"source": source})
reference_case("MultiSourceDotProductAttention, separate projections", sl.MultiSourceDotProductAttention.Config(
    source_names=("source",), num_heads=2, units_per_head=4, use_separate_kv_projections=True), [5], constants={"source": source})
reference_case("GmmAttention", sl.GmmAttention.Config(source_name="source", num_heads=2, units_per_head=4, num_components=2, monotonic=True), [5], constants={"source": source})
reference_case("GmmAttention, not monotonic", sl.GmmAttention.Config(source_name="source", num_heads=2, units_per_head=4, num_components=3, monotonic=False), [5], constants={"source": source})
reference_case("StreamingDotProductAttention (layer mode, a source as long as x)", sl.StreamingDotProductAttention.Config(
    source_name="stream", num_heads=2, units_per_head=4, max_past_horizon=2, max_future_horizon=1), [5],
    constants={"stream": sl.Sequence(jnp.asarray(np.random.default_rng(8).normal(size=(B, 11, 3)).astype(np.float32)), jnp.asarray(np.arange(11)[None, :] < np.array([[11], [8]])))})
reference_case("StreamingLocalDotProductAttention (layer mode)", sl.StreamingLocalDotProductAttention.Config(
    source_name="stream", num_heads=2, units_per_head=4, max_past_horizon=3, max_future_horizon=0, block_size=2), [5],
    constants={"stream": sl.Sequence(jnp.asarray(np.random.default_rng(6).normal(size=(B, 11, 3)).astype(np.float32)), jnp.asarray(np.arange(11)[None, :] < np.array([[11], [8]])))})
conditioning = sl.Sequence(jnp.asarray(np.random.default_rng(7).normal(size=(B, 11, 3)).astype(np.float32)), jnp.asarray(np.ones((B, 11), bool)))
reference_case("Conditioning: linear add, then linear-affine", sl.Serial.Config([
    sl.Conditioning.Config(conditioning_name="c", projection=sl.Conditioning.Projection.LINEAR, combination=sl.Conditioning.Combination.ADD),
    sl.Conditioning.Config(conditioning_name="c", projection=sl.Conditioning.Projection.LINEAR_AFFINE, combination=sl.Conditioning.Combination.AFFINE),
]), [4], constants={"c": conditioning})
reference_case("STFT magnitude, LinearToMelSpectrogram", sl.Serial.Config([
    sl.STFT.Config(frame_length=8, frame_step=4, fft_length=8, output_magnitude=True),
    sl.LinearToMelSpectrogram.Config(num_mel_bins=4, sample_rate=16000.0, lower_edge_hertz=80.0, upper_edge_hertz=7600.0),
]), [], time=33)
reference_case("STFT then InverseSTFT", sl.Serial.Config([
    sl.STFT.Config(frame_length=8, frame_step=2, fft_length=8),
    sl.InverseSTFT.Config(frame_length=8, frame_step=2, fft_length=8),
]), [], time=32)
reference_case("Frame, OverlapAdd, Delay", sl.Serial.Config([
    sl.Frame.Config(frame_length=4, frame_step=2, padding="causal"), sl.OverlapAdd.Config(frame_length=4, frame_step=2), sl.Delay.Config(2),
]), [2], time=12)
reference_case("Max, Average and Min pooling", sl.Serial.Config([
    sl.MaxPooling1D.Config(pool_size=3, strides=1, padding="causal"), sl.AveragePooling1D.Config(pool_size=2, strides=2, padding="causal"),
    sl.MinPooling1D.Config(pool_size=2, strides=1, padding="causal"),
]), [3], time=12)
reference_case("GroupNormalization cumulative, AddTimingSignal, RoPE", sl.Serial.Config([
    sl.GroupNormalization.Config(num_groups=2, cumulative=True), sl.AddTimingSignal.Config(), sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=1e4),
]), [4])
reference_case("Downsample1D, Upsample1D, GatedLinearUnit, Gelu, Swish, Softmax", sl.Serial.Config([
    sl.Downsample1D.Config(rate=2), sl.Upsample1D.Config(rate=3), sl.GatedLinearUnit.Config(), sl.Gelu.Config(), sl.Swish.Config(), sl.Softmax.Config(),
]), [4], time=12)
reference_case("Conv2DTranspose, MaxPooling2D, Upsample2D over [time, freq, channels]", sl.Serial.Config([
    sl.Conv2DTranspose.Config(filters=2, kernel_size=(2, 3), strides=(2, 1), time_padding="causal", spatial_padding="same"),
    sl.MaxPooling2D.Config(pool_size=(2, 2), strides=(1, 1), time_padding="causal", spatial_padding="same"),
    sl.Upsample2D.Config(rate=(1, 2)),
]), [4, 3])
reference_case("Conv3D over [time, height, width, channels]", sl.Conv3D.Config(
    filters=2, kernel_size=(2, 2, 2), time_padding="causal", spatial_padding=("same", "same")), [3, 3, 2], time=7)
# (The reference's FFT also takes float32 input, computing a complex64 output its own output
# spec does not declare; here FFT takes complex64 and RFFT real input.)
reference_case("Window, RFFT, IRFFT over frames", sl.Serial.Config([
    sl.Frame.Config(frame_length=8, frame_step=4, padding="causal"), sl.Window.Config(axis=-1), sl.RFFT.Config(), sl.IRFFT.Config(frame_length=8),
]), [], time=24)
reference_case("Affine, Power, Softplus, LeakyRelu, Elu, L2Normalize, EinopsRearrange", sl.Serial.Config([
    sl.Affine.Config(), sl.Softplus.Config(), sl.Power.Config(power=2.0), sl.LeakyRelu.Config(negative_slope=0.2), sl.Elu.Config(alpha=0.5),
    sl.L2Normalize.Config(), sl.EinopsRearrange.Config("(a b) -> b a", axes_lengths={"a": 2}),
]), [4])
reference_case("SequenceEmbedding", sl.SequenceEmbedding.Config(dimension=3, num_embeddings_per_step=5, num_steps=11), [], dtype=np.int32, vocab=5)
reference_case("DotProductSelfAttentionV2: GQA, RoPE key network", sl.DotProductSelfAttentionV2.Config(
    num_heads=2, num_kv_heads=1, units_per_head=4, max_past_horizon=4, key_network=rope, per_dim_scale=True,
    input_projection=sl.SeparateQueryKeyValueProjection()), [5])
reference_case("BlockwiseDotProductSelfAttention", sl.BlockwiseDotProductSelfAttention.Config(
    block_size=2, num_heads=2, units_per_head=4, max_past_horizon_blocks=1, max_future_horizon_blocks=1), [5], time=12)

# Segment ids and positions from the constants: utterances packed in one stream (segment ids,
# positions restarting at each), positions with a gap, and a cross attention's query positions.
# The reference's V2 reads them as arrays; its Blockwise and MultiSource read them with
# common.get_source, which requires a Sequence and then compares the Sequences themselves (a
# TypeError): a wrapper gives those the values, as V2 has them, and gives DotProductAttention,
# which takes the values itself, the Sequence. Arrays given are wrapped as all-valid Sequences.
_get_source = sl.attention.common.get_source
def _given_as_sequence(constants, name):
    c = constants[name]
    return {name: c if isinstance(c, sl.Sequence) else sl.Sequence(c, jnp.ones(c.shape, bool))}
sl.attention.common.get_source = lambda layer, name, constants, required_rank=3: (
    _get_source(layer, name, _given_as_sequence(constants, name), required_rank).values
    if required_rank == 2 else _get_source(layer, name, constants, required_rank))
# DotProductAttention's query positions read the Sequence's values themselves, as they should.
sl.DotProductAttention._get_query_positions_from_constants = lambda self, constants: _get_source(
    self, self.config.query_positions_name, _given_as_sequence(constants, self.config.query_positions_name), required_rank=2)
_starts = [[0, 4, 6], [0, 2, 10]]
_segments = np.array([[sum(s <= t for s in st) - 1 for t in range(12)] for st in _starts])
_positions = np.array([[t - max(s for s in st if s <= t) for t in range(12)] for st in _starts])
_gap = np.array([[t if t < 5 else t + 10 for t in range(12)]] * B)
for label, config, ids in [
    ("V2 segment ids, past 3", sl.DotProductSelfAttentionV2.Config(num_heads=2, units_per_head=4, max_past_horizon=3, segment_ids_name="seg"), {"seg": _segments}),
    ("V2 segment ids and positions, past 2, future 2", sl.DotProductSelfAttentionV2.Config(
        num_heads=2, units_per_head=4, max_past_horizon=2, max_future_horizon=2, segment_ids_name="seg", position_name="pos"), {"seg": _segments, "pos": _positions}),
    ("V2 positions with a gap, past 3, future 1", sl.DotProductSelfAttentionV2.Config(
        num_heads=2, units_per_head=4, max_past_horizon=3, max_future_horizon=1, position_name="pos"), {"pos": _gap}),
    ("Blockwise segment ids and positions, block 2", sl.BlockwiseDotProductSelfAttention.Config(
        block_size=2, num_heads=2, units_per_head=4, max_past_horizon_blocks=1, max_future_horizon_blocks=1, segment_ids_name="seg", position_name="pos"),
     {"seg": _segments, "pos": _positions}),
]:
    reference_case(f"ids: {label}", config, [5], time=12, step_ids=ids, step_block=2)
# Two sources with segment ids (arrays [B, source steps]), and the queries' streamed with the steps.
reference_case("ids: MultiSourceDotProductAttention segment ids", sl.MultiSourceDotProductAttention.Config(
    source_names=("source", "stream"), num_heads=2, units_per_head=4, query_segment_ids_name="seg", source_segment_ids_names=("source_seg", "stream_seg")), [5], time=12,
    constants={"source": source, "stream": sl.Sequence(jnp.asarray(np.random.default_rng(5).normal(size=(B, 5, 3)).astype(np.float32)), jnp.asarray(np.arange(5)[None, :] < np.array([[5], [3]]))),
               "source_seg": jnp.asarray([[0, 0, 1, 2, 1, 2], [1, 1, 0, 0, 2, 2]], jnp.int32), "stream_seg": jnp.asarray([[2, 1, 0, 1, 1], [0, 1, 2, 0, 1]], jnp.int32)},
    step_ids={"seg": _segments}, step_block=2)
# Query positions of a cross attention's relative positions (key positions: the source's indices).
for label, rel in [("T5", sl.T5RelativePositionEmbedding.Config(num_buckets=6, num_heads=2, bidirectional=True, max_distance=8)),
                   ("Shaw", sl.ShawRelativePositionEmbedding.Config(max_backward=3, max_forward=2, num_heads=2, units_per_head=4))]:
    reference_case(f"ids: DotProductAttention query positions, {label}", sl.DotProductAttention.Config(
        source_name="source", num_heads=2, units_per_head=4, query_positions_name="qpos", relative_position_embedding=rel), [5], time=12,
        constants={"source": source}, step_ids={"qpos": np.array([[t % 7 - 1 for t in range(12)], [2 * t - 5 for t in range(12)]])}, step_block=2)

# Sweeps: every padding mode of the time-axis layers with strides and dilations, and the
# attention and normalization options, small enough to keep the fixture small.
PADDINGS = ["valid", "same", "causal", "causal_valid", "reverse_causal", "reverse_causal_valid", "semicausal", "semicausal_full"]
for padding in PADDINGS:
    for kernel, stride, dilation in [(3, 1, 1), (3, 2, 1), (2, 1, 2), (4, 3, 1)]:
        reference_case(f"sweep Conv1D {padding} kernel {kernel} stride {stride} dilation {dilation}",
                       sl.Conv1D.Config(filters=2, kernel_size=kernel, strides=stride, dilation_rate=dilation, padding=padding), [2], time=13)
    reference_case(f"sweep DepthwiseConv1D {padding} kernel 3 stride 2", sl.DepthwiseConv1D.Config(kernel_size=3, strides=2, padding=padding), [2], time=12)
    for pool, stride in [(3, 1), (2, 2)]:
        reference_case(f"sweep MaxPooling1D {padding} pool {pool} stride {stride}", sl.MaxPooling1D.Config(pool_size=pool, strides=stride, padding=padding), [2], time=12)
        reference_case(f"sweep AveragePooling1D {padding} pool {pool} stride {stride}", sl.AveragePooling1D.Config(pool_size=pool, strides=stride, padding=padding), [2], time=12)
    reference_case(f"sweep Frame {padding} length 4 step 2", sl.Frame.Config(frame_length=4, frame_step=2, padding=padding), [1], time=12)
reference_case("sweep AveragePooling1D masked_average", sl.AveragePooling1D.Config(pool_size=3, strides=1, padding="causal", masked_average=True), [2], time=12)
reference_case("sweep Conv1D groups 2 with an activation-free bias", sl.Conv1D.Config(filters=4, kernel_size=2, groups=2, padding="causal"), [4])
for padding in ["valid", "causal", "same"]:
    for kernel, stride in [(3, 2), (4, 2), (2, 3)]:
        reference_case(f"sweep Conv1DTranspose {padding} kernel {kernel} stride {stride}",
                       sl.Conv1DTranspose.Config(filters=2, kernel_size=kernel, strides=stride, padding=padding), [2], time=9)
for time_padding in ["causal", "reverse_causal", "valid", "same"]:
    for fft_padding in ["right", "center"]:
        reference_case(f"sweep STFT {time_padding} fft_padding {fft_padding}",
                       sl.STFT.Config(frame_length=6, frame_step=3, fft_length=8, time_padding=time_padding, fft_padding=fft_padding), [], time=24)
reference_case("sweep InverseSTFT after STFT, fft_padding center", sl.Serial.Config([
    sl.STFT.Config(frame_length=8, frame_step=4, fft_length=8, fft_padding="center"), sl.InverseSTFT.Config(frame_length=8, frame_step=4, fft_length=8, fft_padding="center"),
]), [], time=32)
attention = dict(num_heads=2, units_per_head=4)
for label, options in [
    ("soft cap, sink scalars", dict(max_past_horizon=3, attention_logits_soft_cap=2.0, use_sink_scalars=True)),
    ("zero_fully_masked, query_scale, per_dim_key_scale", dict(max_past_horizon=2, zero_fully_masked=True, query_scale=0.3, per_dim_key_scale=True)),
    ("unlimited past", dict(max_past_horizon=-1)),
    ("unlimited past and future", dict(max_past_horizon=-1, max_future_horizon=-1)),
    ("T5 bidirectional, future 3", dict(max_past_horizon=2, max_future_horizon=3,
                                        relative_position_embedding=sl.T5RelativePositionEmbedding.Config(num_buckets=6, num_heads=2, bidirectional=True, max_distance=5))),
    ("QueryAndSharedKeyValueProjection", dict(max_past_horizon=3, input_projection=sl.QueryAndSharedKeyValueProjection())),
    ("QueryAndKeyValueProjection with biases", dict(max_past_horizon=3, use_bias=True, input_projection=sl.QueryAndKeyValueProjection())),
]:
    reference_case(f"sweep DotProductSelfAttention {label}", sl.DotProductSelfAttention.Config(**attention, **options), [3])
for label, options in [("soft cap, sink embeddings", dict(attention_logits_soft_cap=1.5, num_sink_embeddings=2)),
                       ("T5", dict(relative_position_embedding=sl.T5RelativePositionEmbedding.Config(num_buckets=4, num_heads=2, bidirectional=True, max_distance=6)))]:
    reference_case(f"sweep DotProductAttention {label}", sl.DotProductAttention.Config(source_name="source", **attention, **options), [3], constants={"source": source})
for label, config in [
    ("LayerNormalization over [2, 3] axes (-2, -1), no bias", sl.LayerNormalization.Config(axis=(-2, -1), use_bias=False)),
    ("RMSNormalization over axis -2", sl.RMSNormalization.Config(axis=-2)),
    ("GroupNormalization 3 groups", sl.GroupNormalization.Config(num_groups=3, axis=-2)),
    ("AddTimingSignal", sl.AddTimingSignal.Config(min_timescale=2.0, max_timescale=100.0)),
    ("ApplyRotaryPositionalEncoding counting valid steps", sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=100.0, only_advance_position_for_valid_timesteps=True)),
]:
    reference_case(f"sweep {label}", config, [3, 2])
for projection, combination in [("IDENTITY", "ADD"), ("IDENTITY", "CONCAT"), ("LINEAR", "CONCAT"), ("LINEAR_AFFINE", "AFFINE")]:
    reference_case(f"sweep Conditioning on a Sequence: {projection.lower()} {combination.lower()}", sl.Conditioning.Config(
        conditioning_name="c", projection=getattr(sl.Conditioning.Projection, projection), combination=getattr(sl.Conditioning.Combination, combination)),
        [3], constants={"c": conditioning})
for label, config in [("Upsample1D 3, Downsample1D 2", sl.Serial.Config([sl.Upsample1D.Config(rate=3), sl.Downsample1D.Config(rate=2)])),
                      ("Lookahead 2", sl.Lookahead.Config(length=2)), ("Delay 3 without delaying layer()", sl.Delay.Config(3, delay_layer_output=False))]:
    reference_case(f"sweep {label}", config, [2], time=12)
for time_padding in ["valid", "same", "causal", "reverse_causal", "semicausal_full"]:
    for spatial in ["valid", "same", "causal"]:
        reference_case(f"sweep Conv2D time {time_padding} spatial {spatial} stride (2, 1)", sl.Conv2D.Config(
            filters=2, kernel_size=(3, 2), strides=(2, 1), time_padding=time_padding, spatial_padding=spatial), [4, 2], time=12)
    reference_case(f"sweep AveragePooling2D time {time_padding}", sl.AveragePooling2D.Config(
        pool_size=(2, 2), strides=(2, 1), time_padding=time_padding, spatial_padding="same"), [4, 2], time=12)
for time_padding in ["valid", "causal", "same"]:
    reference_case(f"sweep Conv2DTranspose time {time_padding}", sl.Conv2DTranspose.Config(
        filters=2, kernel_size=(3, 2), strides=(2, 2), time_padding=time_padding, spatial_padding="same"), [3, 2], time=8)
for combination in ["STACK", "CONCAT", "MEAN", "PRODUCT"]:
    reference_case(f"sweep Parallel {combination.lower()}", sl.Parallel.Config(
        [sl.Dense.Config(3), sl.Conv1D.Config(filters=3, kernel_size=2, padding="causal")], combination=getattr(sl.CombinationMode, combination)), [2])
reference_case("sweep shapes: Reshape, Transpose, SwapAxes, MoveAxis, ExpandDims, Squeeze, Slice", sl.Serial.Config([
    sl.Reshape.Config([2, 3]), sl.Transpose.Config(), sl.SwapAxes.Config(axis1=2, axis2=3), sl.MoveAxis.Config(source=2, destination=3),
    sl.ExpandDims.Config(axis=-1), sl.Squeeze.Config(axis=-1), sl.Slice.Config(slices=((0, 2, 1), (1, None, 1))),
]), [6])
reference_case("sweep reductions and elementwise: Sum, Mean, Max, Min, Scale, Add, Maximum, Minimum, Mod, Abs, Exp, Log", sl.Serial.Config([
    sl.Parallel.Config([sl.Sum.Config(axis=-1, keepdims=True), sl.Mean.Config(axis=-1, keepdims=True), sl.Max.Config(axis=-1, keepdims=True),
                        sl.Min.Config(axis=-1, keepdims=True)], combination=sl.CombinationMode.CONCAT),
    sl.Scale.Config(1.5), sl.Add.Config(0.25), sl.Maximum.Config(-1.0), sl.Minimum.Config(1.0), sl.Mod.Config(0.75), sl.Abs.Config(), sl.Add.Config(0.1),
    sl.Log.Config(), sl.Exp.Config(),
]), [5])
reference_case("sweep GatedTanhUnit, Sigmoid, Relu, Softmax over axis -2", sl.Serial.Config([
    sl.GatedTanhUnit.Config(), sl.Sigmoid.Config(), sl.Relu.Config(), sl.Reshape.Config([2, 2]), sl.Softmax.Config(axis=-2),
]), [8])
reference_case("sweep OneHot", sl.OneHot.Config(depth=6), [], dtype=np.int32, vocab=6)
reference_case("sweep Residual of a causal conv stack", sl.Residual.Config([
    sl.Conv1D.Config(filters=3, kernel_size=3, padding="causal"), sl.Relu.Config(), sl.Conv1D.Config(filters=3, kernel_size=2, dilation_rate=2, padding="causal"),
]), [3])
reference_case("functions by name: jax.nn activations, a hamming window", sl.Serial.Config([
    sl.STFT.Config(frame_length=8, frame_step=4, fft_length=8, window_fn=signal.hamming_window, output_magnitude=True),
    sl.Dense.Config(4, activation=jax.nn.gelu), sl.Conv1D.Config(filters=3, kernel_size=2, padding="causal", activation=jax.nn.relu),
    sl.Dense.Config(3, activation=jax.nn.swish), sl.Dense.Config(3, activation=jnp.tanh), sl.Dense.Config(3, activation=jax.nn.elu),
    sl.Dense.Config(3, activation=functools.partial(jax.nn.gelu, approximate=False), kernel_init=flax.linen.initializers.normal(0.1)),
]), [], time=24)
reference_case("share_scope: a Serial sharing its first layer's scope, a Residual sharing its body, a Parallel one branch", sl.Serial.Config([
    sl.Serial.Config([sl.Conv1D.Config(filters=3, kernel_size=2, padding="causal"), sl.Dense.Config(3)], share_scope=[True, False]),
    sl.Residual.Config([sl.Dense.Config(3)], shortcut_layers=[sl.Dense.Config(3)], share_scope=True),
    sl.Parallel.Config([sl.Dense.Config(3), sl.Tanh.Config(), sl.LayerNormalization.Config()], combination=sl.CombinationMode.ADD, share_scope=[False, True, True]),
]), [2])
reference_case("Cast to complex64, FFT, IFFT", sl.Serial.Config([
    sl.Frame.Config(frame_length=8, frame_step=8), sl.Cast.Config(jnp.complex64), sl.FFT.Config(), sl.IFFT.Config(),
]), [], time=24)
reference_case("training-only layers: the identity at inference", sl.Serial.Config([
    sl.Dense.Config(3), sl.StopGradient.Config(), sl.GradientClipping.Config(clip_value=0.5), sl.CheckpointName.Config("dense_out"),
    sl.OptimizationBarrier.Config(), sl.ApplySharding.Config(),
    sl.AddNoise.Config(sampler=sl.AddNoise.Normal(mean=0.0, stddev=1.0), training_only=True), sl.Dropout.Config(rate=0.1),
]), [2])
# The reference's example model: the Gemma 3n audio encoder (a Conformer: Conv2D subsampling
# with cumulative GroupNorm, Repeat of FFN, local attention with Transformer-XL positions, a
# GLU and depthwise conv module, FFN), small; its config class builds a Serial.
from sequence_layers.jax.examples import gemma3n_audio_encoder  # noqa: E402
reference_case("examples/gemma3n_audio_encoder.py (model_dims 8, 2 heads, 2 layers)", gemma3n_audio_encoder.Gemma3nAudioEncoderConfig(
    model_dims=8, num_layers=2, atten_num_heads=2, name="encoder"), [3], time=64, atol=2e-5)
# More options: array conditioning, mel bins, grouped and dilated convolutions, weight norm.
vector = jnp.asarray(np.random.default_rng(5).normal(size=(B, 3)).astype(np.float32))
for projection, combination in [("LINEAR", "ADD"), ("LINEAR_AFFINE", "AFFINE"), ("IDENTITY", "CONCAT")]:
    reference_case(f"sweep Conditioning on an array: {projection.lower()} {combination.lower()}", sl.Conditioning.Config(
        conditioning_name="v", projection=getattr(sl.Conditioning.Projection, projection), combination=getattr(sl.Conditioning.Combination, combination)),
        [4], constants={"v": vector})
for bins, lower, upper, rate in [(8, 0.0, 4000.0, 8000.0), (3, 125.0, 3800.0, 16000.0)]:
    reference_case(f"sweep LinearToMelSpectrogram {bins} bins {lower}-{upper} Hz at {rate}", sl.Serial.Config([
        sl.STFT.Config(frame_length=16, frame_step=8, fft_length=16, output_magnitude=True),
        sl.LinearToMelSpectrogram.Config(num_mel_bins=bins, sample_rate=rate, lower_edge_hertz=lower, upper_edge_hertz=upper),
    ]), [], time=48)
reference_case("sweep Conv1D groups 2, weight norm, dilation 2, causal_valid", sl.Conv1D.Config(
    filters=4, kernel_size=3, groups=2, dilation_rate=2, padding="causal_valid", use_weight_norm=True), [4], time=13)
reference_case("sweep DepthwiseConv1D depth multiplier 3, dilation 2, weight norm", sl.DepthwiseConv1D.Config(
    kernel_size=2, depth_multiplier=3, dilation_rate=2, padding="causal", use_weight_norm=True), [2], time=13)
reference_case("sweep GlobalReshape, GlobalEinopsRearrange", sl.Serial.Config([
    sl.GlobalReshape.Config(output_shape=[16, 2]), sl.GlobalEinopsRearrange.Config("t c -> (t c)"),
]), [4], time=8)

# Kernel constraints (L2WeightNormalization) on every convolution, one named.
l2 = sl.L2WeightNormalization.Config
reference_case("kernel_constraint L2WeightNormalization: Conv1D, DepthwiseConv1D (named constraint), Conv1DTranspose", sl.Serial.Config([
    sl.Conv1D.Config(filters=3, kernel_size=3, padding="causal", kernel_constraint=l2()),
    sl.DepthwiseConv1D.Config(kernel_size=2, padding="causal", kernel_constraint=l2(epsilon=1e-3, name="l2")),
    sl.Conv1DTranspose.Config(filters=2, kernel_size=2, strides=2, padding="causal", kernel_constraint=l2()),
]), [2], time=12)
reference_case("kernel_constraint L2WeightNormalization: Conv2D, Conv2DTranspose", sl.Serial.Config([
    sl.Conv2D.Config(filters=2, kernel_size=(2, 2), time_padding="causal", spatial_padding="same", kernel_constraint=l2()),
    sl.Conv2DTranspose.Config(filters=2, kernel_size=(2, 2), strides=(2, 1), time_padding="causal", spatial_padding="same", kernel_constraint=l2()),
]), [3, 2], time=8)
spectral = sl.SpectralWeightNormalization.Config
reference_case("kernel_constraint SpectralWeightNormalization: Conv1D (2 power iterations), DepthwiseConv1D (named), Conv2D", sl.Serial.Config([
    sl.Conv1D.Config(filters=3, kernel_size=3, padding="causal", kernel_constraint=spectral(n_power_iteration=2)),
    sl.DepthwiseConv1D.Config(kernel_size=2, depth_multiplier=2, padding="causal", kernel_constraint=spectral(name="sn")),
    sl.Reshape.Config([3, 2]),
    sl.Conv2D.Config(filters=2, kernel_size=(2, 2), time_padding="causal", spatial_padding="same", kernel_constraint=spectral()),
]), [2], time=12)
reference_case("kernel_constraint L2WeightNormalization: Conv3D", sl.Conv3D.Config(
    filters=2, kernel_size=2, time_padding="causal", spatial_padding=("same", "same"), kernel_constraint=l2()), [3, 3, 2], time=6)

# Masks with holes (invalid steps between valid ones): what an invalid step leaves out of each layer.
for label, config, channels in [
    ("Conv1D causal, dilation 2", sl.Conv1D.Config(filters=2, kernel_size=3, dilation_rate=2, padding="causal"), [2]),
    ("Conv1D same, stride 2", sl.Conv1D.Config(filters=2, kernel_size=3, strides=2, padding="same"), [2]),
    ("MaxPooling1D causal", sl.MaxPooling1D.Config(pool_size=3, strides=1, padding="causal"), [2]),
    ("AveragePooling1D masked_average", sl.AveragePooling1D.Config(pool_size=3, strides=1, padding="causal", masked_average=True), [2]),
    ("GroupNormalization cumulative", sl.GroupNormalization.Config(num_groups=1, cumulative=True), [4]),
    ("ApplyRotaryPositionalEncoding counting valid steps", sl.ApplyRotaryPositionalEncoding.Config(max_wavelength=100.0), [2, 4]),
    ("AddTimingSignal counting valid steps", sl.AddTimingSignal.Config(), [4]),
    ("DotProductSelfAttention past 3 future 1", sl.DotProductSelfAttention.Config(num_heads=2, units_per_head=3, max_past_horizon=3, max_future_horizon=1), [4]),
    ("LocalDotProductSelfAttention, Transformer-XL", sl.LocalDotProductSelfAttention.Config(
        num_heads=2, units_per_head=3, max_past_horizon=3, block_size=2,
        relative_position_embedding=sl.TransformerXLRelativePositionEmbedding.Config(num_heads=2, units_per_head=3, max_backward=3, max_forward=0, position_bias_dim=4)), [4]),
    ("STFT", sl.STFT.Config(frame_length=4, frame_step=2, fft_length=4), []),
    ("Frame causal", sl.Frame.Config(frame_length=3, frame_step=1, padding="causal"), [1]),
    ("Downsample1D, Upsample1D", sl.Serial.Config([sl.Downsample1D.Config(rate=2), sl.Upsample1D.Config(rate=2)]), [2]),
]:
    reference_case(f"holes: {label}", config, channels, time=16, seed=3, holes=True)

# A transposed convolution with semicausal_full padding and an effective kernel equal to its
# stride of 1 (a pointwise one; any other kernel <= stride fails in the reference itself).
reference_case("sweep Conv1DTranspose semicausal_full kernel 1 stride 1", sl.Conv1DTranspose.Config(filters=2, kernel_size=1, strides=1, padding="semicausal_full"), [2], time=8)
reference_case("sweep Conv2DTranspose semicausal_full kernel (1, 1) strides (1, 2)", sl.Conv2DTranspose.Config(
    filters=1, kernel_size=(1, 1), strides=(1, 2), time_padding="semicausal_full"), [3, 2], time=8)

# Where the reference declares metadata its own layers do not have (test/reference.test.ts lists
# them in DEPARTURES, with what its own gradient probe measures).
reference_case("departure: Repeat of a reverse_causal Conv1D, 3 repeats (latencies)", sl.Repeat.Config(
    sl.Conv1D.Config(filters=2, kernel_size=2, padding="reverse_causal"), num_repeats=3), [2], time=10)
reference_case("departure: STFT then InverseSTFT semicausal_full (receptive field)", sl.Serial.Config([
    sl.STFT.Config(frame_length=4, frame_step=1, fft_length=4, time_padding="causal", fft_padding="center"),
    sl.InverseSTFT.Config(frame_length=4, frame_step=1, fft_length=4, time_padding="semicausal_full", fft_padding="center"),
]), [], time=16)
reference_case("departure: Conv1DTranspose, Delay and two Upsample1D (receptive field)", sl.Serial.Config([
    sl.Conv1DTranspose.Config(filters=3, kernel_size=3, strides=3, padding="causal"), sl.Conv1D.Config(filters=3, kernel_size=1, padding="causal"),
    sl.Delay.Config(1), sl.Upsample1D.Config(rate=3), sl.Upsample1D.Config(rate=2),
]), [3], time=8)

write_fixture("reference", cases, "tools/fixtures_reference.py (google/sequence-layers JAX: the reference's own layer() and flax parameters)")
