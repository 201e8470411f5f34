"""Imports Google's SequenceLayers (JAX), the reference, for the scripts that run it
(tools/fixtures_reference.py, tools/refdiff.py): `from reference_env import sl` after this
module has put the checkouts on the path and shimmed what the reference needs.

SEQUENCE_LAYERS names a checkout of github.com/google/sequence-layers, RECURRENTGEMMA one of
github.com/google-deepmind/recurrentgemma (the reference's RGLRU runs its scan).
"""
import os
import sys
import types
import typing

import numpy as np

# The reference imports typing.override (Python 3.12); on 3.11 typing_extensions has it.
if not hasattr(typing, "override"):
    import typing_extensions
    typing.override = typing_extensions.override
# recurrentgemma (v1.0.1, 2efa84d) is imported with two shims: its type-check decorator runs no
# checker (it wants typeguard 2; the check changes no value), and sentencepiece, which only its
# sampler needs, is a stand-in.
sys.path.insert(0, os.environ.get("RECURRENTGEMMA", "."))
import typeguard  # noqa: E402
typeguard.typechecked = lambda function: function
sentencepiece = types.ModuleType("sentencepiece")
sentencepiece.SentencePieceProcessor = object
sys.modules.setdefault("sentencepiece", sentencepiece)
try:
    import recurrentgemma  # noqa: F401,E402
except ImportError:
    sys.exit("RGLRU cases need recurrentgemma: RECURRENTGEMMA=/path/to/a/checkout/of/google-deepmind/recurrentgemma")

sys.path.insert(0, os.environ.get("SEQUENCE_LAYERS", "."))
import jax.numpy as jnp  # noqa: E402
from flax import traverse_util  # noqa: E402
import sequence_layers.jax as sl  # noqa: E402,F401

from export_reference import flat_variables  # noqa: E402


def moved_variables(variables, seed):
    """Every collection of `variables` (params, BatchNormalization's batch_stats) moved off its
    initial values, as (flat leaves by '/' name, flax variables): biases and scales start at 0
    or 1, which would hide a misplaced one (variances stay > 0)."""
    leaves = flat_variables(variables)
    rng = np.random.default_rng(seed)
    moved = lambda k, v: np.abs(v) + 0.5 if k.endswith("/var") else v + rng.normal(scale=0.2, size=np.shape(v))
    leaves = {k: moved(k, v).astype(np.float32) for k, v in leaves.items()}
    return leaves, traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in leaves.items()})
