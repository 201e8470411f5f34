"""Exports a model built with Google's SequenceLayers (JAX) for seqlayers.

    from export_reference import export
    export(config, variables, "model", input_shape=[80])

writes model.json, a seqlayers model file ({"config": ..., "input_shape": [80], "input_dtype":
"float32", "weight_naming": "flax"}), and model.safetensors, the flax variables flattened with
'/' (`params/layers_0/kernel`, `batch_stats/...`) as float32. Then, in JavaScript:

    const file = JSON.parse(readFileSync('model.json', 'utf8'));
    const model = sl.build(file.config, { inputShape: file.input_shape, weights:
      sl.readSafetensors(readFileSync('model.safetensors')), weightNaming: 'flax' });

or `npx seqlayers run model.json --weights model.safetensors --input x.npy`. The other way,
load_variables(path) reads weights that seqlayers wrote with
writeSafetensors(model.getWeights({ naming: 'flax' })) as flax variables for layer.apply.

The config is written with the reference's layer and field names, keeping only the fields that
differ from their defaults. Functions in fields are written by name where seqlayers has them
(jax.nn activations, the reference's hann and hamming windows); any other function (an
initializer, a lambda) cannot be written, and the export names its field. Needs numpy, flax and
safetensors.
"""
import dataclasses
import enum
import json

import numpy as np


# jax.nn activations by the names seqlayers configs give them (same formulas: gelu is jax's
# default tanh approximation, elu's alpha 1, leaky_relu's slope 0.01), and the reference's windows.
JAX_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "silu": "silu", "swish": "silu", "tanh": "tanh", "sigmoid": "sigmoid",
                   "elu": "elu", "softplus": "softplus", "leaky_relu": "leaky_relu"}
WINDOWS = {"hann_window": "hann", "hamming_window": "hamming"}


def function_name(fn):
    """The seqlayers name of a function in a config (an activation or a window), or None."""
    module, name = getattr(fn, "__module__", "") or "", getattr(fn, "__name__", "")
    if module.startswith("jax") and name in JAX_ACTIVATIONS:
        return JAX_ACTIVATIONS[name]
    if module.endswith("signal") and name in WINDOWS:
        return WINDOWS[name]
    return None


def config_to_json(value):
    """A reference Config (or a value of one of its fields) as seqlayers JSON: {"type": <layer>,
    the fields that differ from their defaults}; enums by value (or lower-case name), tuples as
    lists, array constants (HashableArray) as nested lists, jax.nn activations and the
    reference's windows by name."""
    if type(value).__name__ == "HashableArray":  # a constant of Scale, Add, Maximum, ...
        return np.asarray(value.data).tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": type(value).__qualname__.split(".")[0]}
        for field in dataclasses.fields(value):
            v = getattr(value, field.name)
            if field.default is not dataclasses.MISSING and _same(v, field.default):
                continue
            if field.default_factory is not dataclasses.MISSING and _same(v, field.default_factory()):
                continue
            try:
                out[field.name] = config_to_json(v)
            except TypeError as e:
                raise TypeError(f"{out['type']}.{field.name}: {e}") from None
        return out
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, (list, tuple)):
        return [config_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: config_to_json(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (np.dtype, type)):  # a dtype (jnp.complex64, np.float32): Cast's "complex64"
        try:
            dtype = np.dtype(value)
        except TypeError:
            dtype = None
        if dtype is not None and dtype.kind in "biufc":
            return dtype.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value) and function_name(value):
        return function_name(value)
    raise TypeError(f"no JSON for {value!r}: seqlayers configs name their layers, fields and values, not functions")


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # arrays and the like
        return a is b


def flat_variables(variables):
    """The flax variables (every collection) flattened with '/', as float32 NumPy arrays."""
    import flax

    flat = flax.traverse_util.flatten_dict(flax.core.meta.unbox(variables), sep="/")
    return {k: np.asarray(v, np.float32) for k, v in flat.items()}


def load_variables(path):
    """The flax variables in a safetensors file of flattened names (export's, or seqlayers'
    model.getWeights({ naming: 'flax' }) written with writeSafetensors), for layer.apply."""
    import flax
    import safetensors.numpy

    flat = safetensors.numpy.load_file(path)
    return flax.traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})


def export(config, variables, path, input_shape, input_dtype="float32"):
    """Writes `path`.json (the model file) and `path`.safetensors (the variables by flax name)."""
    import safetensors.numpy

    model = {"config": config_to_json(config), "input_shape": list(input_shape), "input_dtype": input_dtype, "weight_naming": "flax"}
    with open(f"{path}.json", "w") as f:
        json.dump(model, f, indent=1)
    safetensors.numpy.save_file(flat_variables(variables), f"{path}.safetensors")
