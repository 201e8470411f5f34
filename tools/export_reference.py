"""Exports a model built with Google's SequenceLayers (JAX) for seqlayers.

Copy this file next to your training script (it ships in the npm package as
node_modules/seqlayers/tools/export_reference.py), then:

    from export_reference import export
    export(config, variables, "model", input_shape=[80])

writes model.json, a seqlayers model file ({"config": ..., "input_shape": [80], "input_dtype":
"float32", "weight_naming": "flax"}), and model.safetensors, the flax variables (every
collection: pass all of `variables`, not variables['params'], when the model has
BatchNormalization statistics) flattened with '/' (`params/layers_0/kernel`,
`batch_stats/...`) as float32. Then, in JavaScript:

    const file = JSON.parse(readFileSync('model.json', 'utf8'));
    const model = sl.build(file.config, { inputShape: file.input_shape, inputDtype: file.input_dtype,
      weights: sl.readSafetensors(readFileSync('model.safetensors')), weightNaming: 'flax' });

or `npx seqlayers run model.json --weights model.safetensors --input x.npy`. The other way,
load_variables(path) reads weights that seqlayers wrote with
writeSafetensors(model.getWeights({ naming: 'flax' })) as flax variables for layer.apply.

The config is written with the reference's layer and field names, keeping only the fields that
differ from their defaults, and leaving out initializers (`*_init`: trained weights replace
them). Functions in fields are written by name where seqlayers has them (jax.nn activations,
exact gelu as "gelu_exact", the reference's hann and hamming windows); any other function
cannot be written, and the export names its field. Needs numpy, flax and safetensors.
"""
import dataclasses
import enum
import functools
import json

import numpy as np

# jax.nn activations by the names seqlayers configs give them (same formulas: gelu is jax's
# default tanh approximation, elu's alpha 1, leaky_relu's slope 0.01), and the reference's windows.
JAX_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "silu": "silu", "swish": "silu", "tanh": "tanh", "sigmoid": "sigmoid",
                   "elu": "elu", "softplus": "softplus", "leaky_relu": "leaky_relu"}
WINDOWS = {"hann_window": "hann", "hamming_window": "hamming"}


def function_name(fn):
    """The seqlayers name of a function in a config (an activation or a window), or None."""
    if isinstance(fn, functools.partial):
        exact_gelu = function_name(fn.func) == "gelu" and not fn.args and fn.keywords == {"approximate": False}
        return "gelu_exact" if exact_gelu else None
    module, name = getattr(fn, "__module__", "") or "", getattr(fn, "__name__", "")
    if module.startswith("jax") and name in JAX_ACTIVATIONS:
        return JAX_ACTIVATIONS[name]
    if module.endswith("signal") and name in WINDOWS:
        return WINDOWS[name]
    return None


def config_to_json(value):
    """A reference Config (or a value of one of its fields) as seqlayers JSON: {"type": <layer>,
    the fields that differ from their defaults, initializers left out}; enums by value (or
    lower-case name), tuples as lists, array constants (HashableArray) as nested lists, dtypes
    and functions by name (see function_name)."""
    if type(value).__name__ == "HashableArray":  # a constant of Scale, Add, Maximum, ...
        return np.asarray(value.data).tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A layer's Config is <Layer>.Config; other configs (projections, AddNoise's samplers) are their class.
        qualname = type(value).__qualname__
        out = {"type": qualname[: -len(".Config")] if qualname.endswith(".Config") else qualname.split(".")[-1]}
        for field in dataclasses.fields(value):
            v = getattr(value, field.name)
            if field.name.endswith("_init"):
                continue
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
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.dtype, type)):  # a dtype (jnp.complex64, jnp.bfloat16): Cast's "complex64"
        try:
            dtype = np.dtype(value)
        except TypeError:
            dtype = None
        if dtype is not None and (dtype.kind in "biufc" or dtype.name == "bfloat16"):
            return dtype.name
    if callable(value):
        name = function_name(value)
        if name:
            return name
        what = getattr(value, "__name__", None) or getattr(getattr(value, "func", None), "__name__", None) or type(value).__name__
        raise TypeError(f"no JSON for the function {what!r}: seqlayers names jax.nn's {', '.join(sorted(JAX_ACTIVATIONS))}, "
                        f"jax.nn.gelu with approximate=False, and the {', '.join(sorted(WINDOWS))} windows")
    raise TypeError(f"no JSON for {value!r}")


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # arrays and the like
        return a is b


# The variable collections the reference's layers make: parameters, and BatchNormalization's
# statistics (the spectral weight norm's state too, by default).
COLLECTIONS = ("params", "batch_stats")


def flat_variables(variables):
    """The flax variables (every collection) flattened with '/', as float32 NumPy arrays. A dict
    with no collection at its top (variables['params'] alone) is taken as the params; one with
    only 'batch_stats' (a model whose only variables are BatchNormalization statistics) is whole."""
    import flax

    variables = flax.core.meta.unbox(variables)
    if not any(name in variables for name in COLLECTIONS):
        variables = {"params": variables}
    flat = flax.traverse_util.flatten_dict(variables, sep="/")
    return {k: np.asarray(v, np.float32) for k, v in flat.items()}


def load_variables(path):
    """The flax variables in a safetensors file of flattened names (export's, or seqlayers'
    model.getWeights({ naming: 'flax' }) written with writeSafetensors), as jax arrays for
    layer.apply (NumPy leaves fail in the reference's weight norm, which sums over a list of axes)."""
    import flax
    import jax.numpy as jnp
    import safetensors.numpy

    flat = safetensors.numpy.load_file(path)
    return flax.traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in flat.items()})


def layer_config(config):
    """The layer Config a config describes: itself for a layer's <Layer>.Config, else (a model's
    own config class, like the reference's Gemma3nAudioEncoderConfig) the Config of the layer
    its make() builds."""
    if type(config).__qualname__.endswith(".Config"):
        return config
    return config.make().config


def export(config, variables, path, input_shape, input_dtype="float32"):
    """Writes `path`.json (the model file) and `path`.safetensors (the variables by flax name).
    config: a layer Config, or a model config whose make() builds one (layer_config).
    input_shape: the input's channel shape (an int or a list, [] for int32 token ids)."""
    import safetensors.numpy

    shape = [input_shape] if isinstance(input_shape, int) else list(input_shape)
    model = {"config": config_to_json(layer_config(config)), "input_shape": shape, "input_dtype": input_dtype, "weight_naming": "flax"}
    with open(f"{path}.json", "w") as f:
        json.dump(model, f, indent=1)
    safetensors.numpy.save_file(flat_variables(variables), f"{path}.safetensors")
