"""Oracle fixtures for src/layers/padding.ts: numpy.pad over one channel axis, every mode
(constant with a value, reflect, symmetric, edge, wrap), pads on one side, both sides and
none (constant), axes first, middle and last, with random lengths. Inputs are quarter-integers (exact in
float32, short in JSON).

Writes test/fixtures/padding.json. Run: /usr/bin/python3 tools/fixtures_padding.py
"""
import numpy as np

from fixtures_common import case, random_lengths, write_fixture

rng = np.random.default_rng(20261204)
cases = []

for shape, axis in [((2, 5, 7), -1), ((2, 3, 3, 6), 2), ((2, 3, 6, 3), -2), ((2, 3, 2, 5, 2), 3)]:
    n = shape[axis]
    for mode in ["constant", "reflect", "symmetric", "edge", "wrap"]:
        most = n - 1 if mode == "reflect" else n
        for pad in [(1, 2), (most, 0), (0, most), (most, most)] + ([(0, 0)] if mode == "constant" else []):
            x = (rng.integers(-40, 40, size=shape) / 4).astype(np.float32)
            lengths = random_lengths(rng, shape[0], shape[1])
            widths = [(0, 0)] * len(shape)
            widths[axis] = pad
            kw = {"constant_values": 1.5} if mode == "constant" else {}
            config = {"type": "Pad", "axis": axis, "padding": list(pad), "mode": mode}
            if mode == "constant":
                config["constant_value"] = 1.5
            cases.append(case(f"Pad {shape} axis={axis} {mode} {pad}", config, x, np.pad(x, widths, mode=mode, **kw), lengths=lengths))

write_fixture("padding", cases, "numpy.pad " + np.__version__)
