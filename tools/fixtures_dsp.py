"""Oracle fixtures for the DSP layers (src/layers/dsp.ts).

Oracles, none of them seqlayers code:
  - windows: scipy.signal.get_window (periodic for even lengths, symmetric for odd ones, as
    tf.signal and the reference's signal.get_window do);
  - Frame: numpy.lib.stride_tricks.sliding_window_view on the masked, zero-padded input;
  - OverlapAdd (and the synthesis of InverseSTFT): torch.nn.functional.fold, which sums
    overlapping patches;
  - FFT, IFFT, RFFT, IRFFT: numpy.fft, with the padding/trimming of the reference's test helper;
  - STFT: torch.stft (center=False) when fft_length == frame_length, else numpy.fft.rfft of
    sliding_window_view frames times the scipy window;
  - InverseSTFT: numpy.fft.irfft, the window (tf.signal.inverse_stft_window_fn's formula, Griffin
    and Lim eq. 7, written here from its published definition), then torch fold;
  - LinearToMelSpectrogram: no installed library implements tf.signal's matrix (torchaudio and
    librosa put the triangles linear in Hz, not in mel), so the matrix is AudioSet's
    mel_features.spectrogram_to_mel_matrix (tensorflow/models research/audioset), the reference
    TensorFlow's own mel_ops_test checks tf.signal.linear_to_mel_weight_matrix against, re-typed
    here from its published per-band loop.
Masks follow the reference's rules (compute_conv_mask / compute_conv_transpose_mask, layer mode),
written in NumPy. Inputs carry garbage at invalid steps where the layer must mask them.

Run: /usr/bin/python3 tools/fixtures_dsp.py
"""
import numpy as np
import scipy
import scipy.signal
import torch
import torch.nn.functional as F

from fixtures_common import case, conv_mask, padding_amounts, tensor, write_fixture

rng = np.random.default_rng(20240612)


def normal(size):
    """Normal values rounded to multiples of 1/256: exact in float32 and short in JSON."""
    return np.round(rng.normal(size=size) * 256) / 256


def complex_normal(size):
    return normal(size) + 1j * normal(size)


def interleaved(a):
    """A complex array as the fixture format stores complex64: shape without the pair, values (re, im) interleaved."""
    a = np.ascontiguousarray(a, dtype=np.complex64)
    return {"shape": list(a.shape), "values": [float(v) for v in a.view(np.float32).ravel()]}


def complex_case(name, config, x, y, lengths=None, output_mask=None, rtol=1e-4, atol=1e-5):
    """A case with complex64 input and/or output (whichever is complex)."""
    c = case(name, config, np.zeros(1), np.zeros(1), lengths=lengths, output_mask=output_mask, rtol=rtol, atol=atol)
    if np.iscomplexobj(x):
        c["input"] = interleaved(x)
        c["input_dtype"] = "complex64"
    else:
        c["input"] = tensor(x)
    c["output"] = interleaved(y) if np.iscomplexobj(y) else tensor(y)
    return c


def lengths_for(b, t):
    return [t] + [int(rng.integers(1, t + 1)) for _ in range(b - 1)]


def valid_mask(lengths, t):
    return np.arange(t)[None, :] < np.asarray(lengths)[:, None]


def with_garbage(x, mask):
    """x with large values at invalid steps: a layer that forgets to mask shows it."""
    shape = mask.shape + (1,) * (x.ndim - 2)
    return np.where(mask.reshape(shape), x, 1e3)


def window(name, n):
    if name is None:
        return np.ones(n)
    if isinstance(name, tuple):  # ("inverse", frame_step, forward)
        return inverse_stft_window(window(name[2], n), name[1])
    symmetric = name.endswith("_symmetric")
    base = name.replace("_symmetric", "")
    return scipy.signal.get_window(base, n, fftbins=(n % 2 == 0 and not symmetric))


def inverse_stft_window(forward, frame_step):
    """tf.signal.inverse_stft_window_fn: forward / (sum of squared forward windows overlapping each sample)."""
    n = len(forward)
    overlaps = -(-n // frame_step)
    denom = np.pad(forward**2, (0, overlaps * frame_step - n)).reshape(overlaps, frame_step).sum(0)
    denom = np.tile(denom, overlaps)[:n]
    return np.where(denom == 0, 0, forward / np.where(denom == 0, 1, denom))


def window_config(name):
    if isinstance(name, tuple):
        return {"inverse_stft_window_fn": {"frame_step": name[1], "forward_window_fn": name[2]}}
    return name


def frame_mask(mask, padding, k, s):
    """compute_conv_mask(is_step=False) with dilation 1; explicit paddings subsample as same-like modes do."""
    return mask[:, ::s] if not isinstance(padding, str) else conv_mask(mask, padding, k, s, 1)


def frames_of(x, mask, padding, k, s):
    """[B, T, ...] -> [B, T', k, ...] frames of the masked, zero-padded input."""
    left, right = padding_amounts(padding, k, s, 1)
    xm = np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, 0) if k > 1 else x
    xp = np.pad(xm, [(0, 0), (left, right)] + [(0, 0)] * (x.ndim - 2))
    if xp.shape[1] < k:
        return np.zeros((x.shape[0], 0, k) + x.shape[2:])
    v = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)[:, ::s]  # [B, T', ..., k]
    return np.moveaxis(v, -1, 2)


def overlap_add(frames, frame_step):
    """[B, T, fl, ...C] -> [B, (T-1)*fs + fl, ...C] with torch fold (sums overlapping patches)."""
    b, t, fl = frames.shape[:3]
    inner = frames.shape[3:]
    c = int(np.prod(inner))
    if t == 0:
        return np.zeros((b, 0) + inner)
    out_len = (t - 1) * frame_step + fl
    cols = torch.tensor(frames.reshape(b, t, fl, c).transpose(0, 3, 2, 1).reshape(b, c * fl, t), dtype=torch.float64)
    y = F.fold(cols, output_size=(out_len, 1), kernel_size=(fl, 1), stride=(frame_step, 1))  # [B, C, L, 1]
    return y[..., 0].numpy().transpose(0, 2, 1).reshape((b, out_len) + inner)


def overlap_add_layer(frames, mask, fl, fs, padding):
    """The OverlapAdd layer: values and the reference's transposed-convolution mask."""
    frames = np.where(mask.reshape(mask.shape + (1,) * (frames.ndim - 2)), frames, 0)
    y = overlap_add(frames, fs)
    t = mask.shape[1]
    if padding == "causal" or fl == fs:
        m = np.repeat(mask, fs, axis=1)
    else:
        # The length of the reference's transposed-convolution mask (lhs dilation fs, kernel fl,
        # padding (fl - 1, fl - 1) for valid, (fl - fs, fl - 1) for semicausal_full):
        # (t - 1) * fs + 1 + left + right - (fl - 1). For semicausal_full this is fs - 1 shorter
        # than the overlap-added values, so the cut below to the shorter one shortens the values.
        out_len = (t - 1) * fs + fl if padding == "valid" else (t - 1) * fs + 1 + fl - fs
        m = np.zeros((mask.shape[0], out_len), bool)
        for r in range(out_len):
            # valid: AND over frames covering r; semicausal_full: OR, on the untrimmed grid.
            ts = [i for i in range(t) if i * fs <= r <= i * fs + fl - 1] if padding == "valid" else [i for i in range(t) if r - (fl - fs) <= i * fs <= r + fs - 1]
            m[:, r] = mask[:, ts].all(1) if padding == "valid" else (mask[:, ts].any(1) if ts else False)
    trim = fl - fs
    if padding == "causal":
        y = y[:, : t * fs]
    elif padding == "semicausal_full":
        y, m = y[:, trim:], m[:, trim:]
        n = min(y.shape[1], m.shape[1])
        y, m = y[:, :n], m[:, :n]
    return y, m


def pad_or_truncate(values, padding, axis, n):
    """The reference test's _pad_or_truncate_for_fft."""
    d = values.shape[axis]
    pad = max(0, n - d)
    left = pad // 2 if padding == "center" else 0
    widths = [(0, 0)] * values.ndim
    widths[axis] = (left, pad - left)
    values = np.pad(values, widths)
    trim = max(0, values.shape[axis] - n)
    start = trim // 2 if padding == "center" else 0
    return np.take(values, np.arange(start, start + n), axis=axis)


cases = []

# --- Delay, Lookahead ---------------------------------------------------------------------------
for length in (0, 1, 3):
    x = normal((2, 7, 3))
    lengths = lengths_for(2, 7)
    mask = valid_mask(lengths, 7)
    y = np.pad(x, ((0, 0), (length, 0), (0, 0)))
    m = np.pad(mask, ((0, 0), (length, 0)))
    cases.append(case(f"Delay length={length}", {"type": "Delay", "length": length}, x, y, lengths=lengths, output_mask=m))
    cases.append(case(f"Delay length={length} step-only", {"type": "Delay", "length": length, "delay_layer_output": False}, x, x, lengths=lengths, output_mask=mask))
    for preserve in (False, True):
        y, m = x[:, length:], mask[:, length:]
        if preserve:
            y, m = np.pad(y, ((0, 0), (0, length), (0, 0))), np.pad(m, ((0, 0), (0, length)))
        cases.append(case(f"Lookahead length={length} preserve={preserve}", {"type": "Lookahead", "length": length, "preserve_length_in_layer": preserve}, x, y, lengths=lengths, output_mask=m))

# --- Window -------------------------------------------------------------------------------------
for name, shape, axis in (("hann", (6, 2), 2), ("hamming", (3, 5), -1), ("hann_symmetric", (7,), -1), ("hamming_symmetric", (8, 3), 2), (("inverse", 3, "hamming"), (9,), 2)):
    x = normal((2, 4) + shape)
    n = x.shape[axis]
    w = window(name, n).reshape([n if i == (axis % x.ndim) else 1 for i in range(x.ndim)])
    cases.append(case(f"Window {name} axis={axis} {shape}", {"type": "Window", "axis": axis, "window_fn": window_config(name)}, x, x * w))

# --- Frame --------------------------------------------------------------------------------------
MODES = ("valid", "same", "causal_valid", "reverse_causal_valid", "causal", "reverse_causal", "semicausal", "semicausal_full")
for padding in MODES + ((1, 2), (0, 3), (3, 0)):
    for k, s, inner in ((4, 2, (2,)), (3, 2, ()), (2, 3, (3,)), (4, 1, ())):
        if not isinstance(padding, str) and sum(padding) != k - 1:
            continue
        t = int(rng.integers(8, 14))
        x = normal((2, t) + inner)
        lengths = lengths_for(2, t)
        mask = valid_mask(lengths, t)
        y = frames_of(x, mask, padding, k, s)
        config = {"type": "Frame", "frame_length": k, "frame_step": s, "padding": list(padding) if not isinstance(padding, str) else padding}
        cases.append(case(f"Frame {padding} fl={k} fs={s} {inner}", config, with_garbage(x, mask), y, lengths=lengths, output_mask=frame_mask(mask, padding, k, s)))

# --- OverlapAdd ---------------------------------------------------------------------------------
for padding in ("causal", "valid", "semicausal_full"):
    for fl, fs, inner in ((3, 2, ()), (4, 2, (2,)), (5, 3, (3,)), (2, 2, ()), (3, 1, ())):
        t = int(rng.integers(5, 9))
        x = normal((2, t, fl) + inner)
        lengths = lengths_for(2, t)
        mask = valid_mask(lengths, t)
        y, m = overlap_add_layer(x, mask, fl, fs, padding)
        config = {"type": "OverlapAdd", "frame_length": fl, "frame_step": fs, "padding": padding}
        cases.append(case(f"OverlapAdd {padding} fl={fl} fs={fs} {inner}", config, with_garbage(x, mask), y, lengths=lengths, output_mask=m))

# --- FFT, IFFT, RFFT, IRFFT (powers of two, odd and prime lengths) -----------------------------
for kind in ("FFT", "IFFT", "RFFT"):
    for d, n, padding, inner_shape, axis in (
        (32, 32, "right", (), -1), (32, 31, "center", (), -1), (32, 33, "center", (3,), -2), (16, 64, "right", (), -1),
        (7, 7, "right", (2,), -1), (97, 97, "right", (), -1), (100, 100, "center", (), -1), (128, 128, "right", (), -1),
        (60, 251, "center", (), -1), (5, 12, "center", (4,), -2),
    ):
        shape = (1, 2, d) + inner_shape if axis == -2 else (1, 2) + inner_shape + (d,)
        ax = 2 if axis == -2 else len(shape) - 1
        x = normal(shape) if kind == "RFFT" else complex_normal(shape)
        config = {"type": kind, "fft_length": n, "axis": axis, "padding": padding}
        if kind == "FFT":
            y = np.fft.fft(pad_or_truncate(x, padding, ax, n), n=n, axis=ax)
        elif kind == "RFFT":
            y = np.fft.rfft(pad_or_truncate(x, padding, ax, n), n=n, axis=ax)
        else:
            # The reference's IFFT transforms the input's own length (fft_length is not used),
            # then pads or trims to frame_length.
            frame_length = d + 3 if n % 2 else d - 2
            config["frame_length"] = frame_length
            y = pad_or_truncate(np.fft.ifft(x, axis=ax), padding, ax, frame_length)
        cases.append(complex_case(f"{kind} d={d} n={n} {padding} axis={axis} {inner_shape}", config, x, y, rtol=1e-4, atol=1e-5 * np.sqrt(n)))
for bins, n, frame_length, padding, inner_shape in ((17, 32, None, "right", ()), (17, 31, 33, "center", (2,)), (9, None, 12, "center", ()), (50, 97, 90, "right", ()), (65, 128, 128, "right", ()), (4, 8, None, "right", ())):
    x = complex_normal((1, 2, bins) + inner_shape)
    config = {"type": "IRFFT", "fft_length": n, "frame_length": frame_length, "axis": 2, "padding": padding}
    nn = n or 2 * (bins - 1)
    y = pad_or_truncate(np.fft.irfft(x, n=nn, axis=2), padding, 2, frame_length or nn)
    cases.append(complex_case(f"IRFFT bins={bins} n={n} frame_length={frame_length} {padding}", config, x, y, atol=1e-5))


# --- STFT ---------------------------------------------------------------------------------------
def stft_oracle(x, mask, fl, fs, n, win_name, time_padding, fft_padding, magnitude):
    """x [B, T, ...C] -> [B, T', n//2+1, ...C]."""
    w = window(win_name, fl)
    frames = frames_of(x, mask, time_padding, fl, fs)  # [B, T', fl, ...C]
    if n == fl and x.ndim == 2 and frames.shape[1] > 0:
        left, right = padding_amounts(time_padding, fl, fs, 1)
        xm = np.pad(np.where(mask, x, 0), ((0, 0), (left, right)))
        s = torch.stft(torch.tensor(xm, dtype=torch.float64), n_fft=n, hop_length=fs, win_length=fl, window=torch.tensor(w), center=False, return_complex=True)
        y = s.numpy().transpose(0, 2, 1)  # [B, bins, T'] -> [B, T', bins]
    else:
        wf = frames * w.reshape((1, 1, fl) + (1,) * (x.ndim - 2))
        y = np.fft.rfft(pad_or_truncate(wf, fft_padding, 2, n), n=n, axis=2)
    return np.abs(y) if magnitude else y


for fl, fs, n, win_name, time_padding, fft_padding, magnitude, inner in (
    (8, 3, 8, "hann", "causal", "right", False, ()),
    (16, 4, 16, "hann", "reverse_causal_valid", "right", False, ()),
    (15, 5, 15, "hann", "causal_valid", "right", False, ()),
    (8, 2, 16, "hann", "causal", "right", False, ()),
    (8, 2, 16, "hann", "semicausal", "center", False, ()),
    (12, 4, 8, "hann", "same", "center", False, ()),
    (12, 4, 9, "hamming", "reverse_causal", "right", False, ()),
    (10, 5, 10, "hann", "valid", "right", True, ()),
    (8, 4, 8, "hamming", "semicausal", "right", False, ()),
    (9, 3, 9, "hann_symmetric", "causal", "right", True, ()),
    (8, 3, 8, None, "causal", "right", False, ()),
    (8, 3, 12, "hann", "causal", "center", True, (2,)),
    (6, 2, 6, "hann", "semicausal_full", "right", False, ()),
):
    t = int(rng.integers(20, 30))
    x = normal((2, t) + inner)
    lengths = lengths_for(2, t)
    mask = valid_mask(lengths, t)
    y = stft_oracle(x, mask, fl, fs, n, win_name, time_padding, fft_padding, magnitude)
    config = {"type": "STFT", "frame_length": fl, "frame_step": fs, "fft_length": n, "window_fn": window_config(win_name), "time_padding": time_padding, "fft_padding": fft_padding, "output_magnitude": magnitude}
    name = f"STFT fl={fl} fs={fs} n={n} {win_name} {time_padding} {fft_padding}{' magnitude' if magnitude else ''} {inner}"
    cases.append(complex_case(name, config, with_garbage(x, mask), y, lengths=lengths, output_mask=frame_mask(mask, time_padding, fl, fs), atol=2e-5))

# --- InverseSTFT ----------------------------------------------------------------------------------
for fl, fs, n, win_name, time_padding, fft_padding, inner in (
    (8, 3, 8, ("inverse", 3, "hann"), "causal", "right", ()),
    (8, 2, 16, ("inverse", 2, "hann"), "causal", "right", ()),
    (8, 2, 16, "hann", "valid", "center", ()),
    (12, 4, 8, ("inverse", 4, "hamming"), "causal", "center", (2,)),
    (12, 4, 9, "hamming", "valid", "right", ()),
    (6, 2, 6, ("inverse", 2, "hann"), "semicausal_full", "right", ()),
    (5, 5, 8, None, "causal", "right", ()),
):
    t = int(rng.integers(6, 10))
    bins = n // 2 + 1
    x = complex_normal((2, t, bins) + inner)
    lengths = lengths_for(2, t)
    mask = valid_mask(lengths, t)
    frames = pad_or_truncate(np.fft.irfft(x, n=n, axis=2), fft_padding, 2, fl) * window(win_name, fl).reshape((1, 1, fl) + (1,) * len(inner))
    y, m = overlap_add_layer(frames, mask, fl, fs, time_padding)
    config = {"type": "InverseSTFT", "frame_length": fl, "frame_step": fs, "fft_length": n, "window_fn": window_config(win_name), "time_padding": time_padding, "fft_padding": fft_padding}
    x_in = np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, 1e3)
    cases.append(complex_case(f"InverseSTFT fl={fl} fs={fs} n={n} {win_name} {time_padding} {fft_padding} {inner}", config, x_in, y, lengths=lengths, output_mask=m, atol=2e-5))


# --- LinearToMelSpectrogram -----------------------------------------------------------------------
def hertz_to_mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def spectrogram_to_mel_matrix(num_mel_bins, num_spectrogram_bins, audio_sample_rate, lower_edge_hertz, upper_edge_hertz):
    """AudioSet mel_features.spectrogram_to_mel_matrix (the oracle of TensorFlow's mel_ops_test)."""
    nyquist_hertz = audio_sample_rate / 2.0
    spectrogram_bins_mel = hertz_to_mel(np.linspace(0.0, nyquist_hertz, num_spectrogram_bins))
    band_edges_mel = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    mel_weights_matrix = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lower_edge_mel, center_mel, upper_edge_mel = band_edges_mel[i : i + 3]
        lower_slope = (spectrogram_bins_mel - lower_edge_mel) / (center_mel - lower_edge_mel)
        upper_slope = (upper_edge_mel - spectrogram_bins_mel) / (upper_edge_mel - center_mel)
        mel_weights_matrix[:, i] = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    # HTK excludes the spectrogram DC bin.
    mel_weights_matrix[0, :] = 0.0
    return mel_weights_matrix


for mel, bins, sr, lo, hi, inner in ((8, 5, 400, 1.0, 200.0, ()), (20, 129, 8000, 125.0, 3800.0, ()), (40, 257, 16000, 20.0, 7600.0, ()), (10, 33, 22050, 0.0, 11025.0, (2,))):
    x = np.abs(normal((2, 3) + inner + (bins,)))
    mat = spectrogram_to_mel_matrix(mel, bins, sr, lo, hi)
    config = {"type": "LinearToMelSpectrogram", "num_mel_bins": mel, "sample_rate": sr, "lower_edge_hertz": lo, "upper_edge_hertz": hi}
    cases.append(case(f"LinearToMelSpectrogram mel={mel} bins={bins} sr={sr} {inner}", config, x, x @ mat, atol=1e-5))

def compact(c):
    """Outputs rounded to 7 significant digits (float32 holds about 7.2): a smaller file, far inside the tolerances."""
    c["output"]["values"] = [float(f"{v:.7g}") for v in c["output"]["values"]]
    return c


write_fixture(
    "dsp",
    [compact(c) for c in cases],
    f"numpy {np.__version__} (fft, sliding_window_view), scipy {scipy.__version__} (get_window), torch {torch.__version__} (stft, fold); "
    "mel matrix: AudioSet mel_features.spectrogram_to_mel_matrix; masks from the reference's rules in NumPy",
)
