"""What a model file must hold: one schema for its metadata and tensors, checked on load.

``checkpoint_io`` has already checked the file's layout, its integrity digest and that
every tensor is finite. Here: every metadata field's type and range, the class labels
against the outputs, and every tensor's name, dtype and shape against the architecture,
so that a file that loads also runs. Files of format 1 (xpnn 0.1's first parameter
names) are upgraded first.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .activations import ACTIVATIONS
from .errors import XpnnCheckpointError
from .estimator import MLPClassifier, MLPRegressor
from .mlp import layer_sizes, parameter_shapes
from .train_state import TrainState

ESTIMATORS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
PREPROCESSING_KINDS = ("scale", "standardize")

# format 1 (xpnn 0.1) names -> scikit-learn's
_V1_NAMES = {"hidden": "hidden_layer_sizes", "epochs": "max_iter", "lr": "learning_rate_init",
             "seed": "random_state", "patience": "n_iter_no_change",
             "lr_schedule": "learning_rate"}


def upgrade_metadata(metadata: dict) -> dict:
    """A format-1 classifier file's metadata in today's shape (unchanged otherwise)."""
    if not isinstance(metadata, dict) or "kind" in metadata:
        return metadata
    old = metadata.get("hyperparameters")
    arch = metadata.get("architecture")
    if not isinstance(old, dict) or not isinstance(arch, dict):
        return metadata  # the schema check names what is missing
    hyper = {_V1_NAMES.get(name, name): value for name, value in old.items()
             if name not in ("optimizer", "val_fraction")}
    optimizer = old.get("optimizer", "adam")
    hyper["solver"] = "sgd" if optimizer in ("sgd", "momentum", "nesterov") else optimizer
    if optimizer == "sgd":
        hyper["momentum"] = 0.0
    hyper["nesterovs_momentum"] = optimizer == "nesterov"
    hyper["validation_fraction"] = old.get("val_fraction") or 0.1
    hyper["batch_size"] = old.get("batch_size") or "full"
    hyper["alpha"] = 0.0  # format 1's L2 had no 1/n: not expressible as alpha
    if optimizer != "adamw":
        hyper["weight_decay"] = 0.0
    history = metadata.get("history") or []
    epoch = metadata.get("epoch", 0)
    return {**metadata, "kind": "MLPClassifier", "hyperparameters": hyper,
            "seed": old.get("seed", 0),
            "architecture": {"n_features": arch.get("n_features"), "hidden": arch.get("hidden"),
                             "n_outputs": arch.get("n_classes"), "activation": "relu"},
            "state": {"epoch": epoch, "samples_seen": 0, "best_loss": "inf",
                      "best_score": "-inf", "no_improvement": 0, "lr_factor": 1.0,
                      "best_epoch": metadata.get("best_epoch"), "converged": False},
            "history": history}


def check_model_file(path, tensors: dict, metadata: dict) -> None:
    """Raise XpnnCheckpointError naming ``path`` and the first field that is wrong."""
    try:
        _check(tensors, metadata)
    except _Bad as bad:
        raise XpnnCheckpointError(f"{path}: {bad}; the file is damaged or was not written by "
                                  f"xpnn") from None


class _Bad(Exception):
    pass


def _require(condition, message):
    if not condition:
        raise _Bad(message)


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check(tensors, metadata):
    _require(isinstance(metadata, dict), "its metadata is not a JSON object")
    kind = metadata.get("kind")
    _require(kind in ESTIMATORS, f"kind {kind!r} is not one of {', '.join(ESTIMATORS)}")
    arch = metadata.get("architecture")
    _require(isinstance(arch, dict), "architecture is missing")
    n_features, hidden, n_outputs = (arch.get("n_features"), arch.get("hidden"),
                                     arch.get("n_outputs"))
    _require(_is_int(n_features, 1), f"architecture.n_features {n_features!r} is not a "
                                     f"positive integer")
    _require(isinstance(hidden, list) and all(_is_int(h, 1) for h in hidden),
             f"architecture.hidden {hidden!r} is not a list of positive integers")
    _require(_is_int(n_outputs, 1), f"architecture.n_outputs {n_outputs!r} is not a positive "
                                    f"integer")
    _require(arch.get("activation") in ACTIVATIONS,
             f"architecture.activation {arch.get('activation')!r} is not one of "
             f"{', '.join(ACTIVATIONS)}")
    hyper = metadata.get("hyperparameters")
    _require(isinstance(hyper, dict), "hyperparameters are missing")
    known = set(ESTIMATORS[kind]().get_params())
    unknown = sorted(set(hyper) - known)
    _require(not unknown, f"unknown hyperparameters {unknown}")
    _require(list(hyper.get("hidden_layer_sizes", hidden)) == hidden,
             "hyperparameters.hidden_layer_sizes disagree with the architecture")
    _require(hyper.get("activation", "relu") == arch["activation"],
             "hyperparameters.activation disagrees with the architecture")
    dtype = hyper.get("dtype", "float32")
    _require(dtype in ("float32", "float64"), f"dtype {dtype!r} is not float32 or float64")
    _require(_is_int(metadata.get("seed"), 0), f"seed {metadata.get('seed')!r} is not a "
                                               f"non-negative integer")
    if kind == "MLPClassifier":
        _check_classes(metadata.get("classes"), metadata.get("classes_dtype"), n_outputs)
    _check_state(metadata)
    _check_preprocessing(metadata.get("preprocessing"), tensors, n_features)
    info = metadata.get("info", {})
    _require(info is None or isinstance(info, dict), f"info is a {type(info).__name__}, not an "
                                                     f"object")
    _check_tensors(tensors, layer_sizes(n_features, hidden, n_outputs), dtype,
                   _optimizer_slots(hyper))


def _optimizer_slots(hyper) -> set:
    """The optimizer-state slots the saved solver keeps for every parameter."""
    solver = hyper.get("solver", "adam")
    if solver in ("adam", "adamw"):
        return {"m", "v"}
    if solver == "sgd" and hyper.get("momentum", 0.9):
        return {"momentum"}
    return set()


def _check_classes(classes, dtype, n_outputs):
    _require(isinstance(classes, list), f"classes {classes!r} is not a list")
    _require(len(classes) == n_outputs, f"{len(classes)} classes for {n_outputs} outputs")
    integers = all(_is_int(c, -(2**63)) for c in classes)
    numbers_ = all(_is_number(c) and math.isfinite(c) for c in classes)
    flags = all(isinstance(c, bool) for c in classes)
    names = all(isinstance(c, str) for c in classes)
    _require(integers or numbers_ or flags or names,
             "classes are neither all numbers, all true/false, nor all names")
    if dtype is not None:
        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            raise _Bad(f"classes_dtype {dtype!r} is not a dtype") from None
        _require(kind in "biufU", f"classes_dtype {dtype!r} is not numbers, bools or text")
        _require({"b": flags, "i": integers, "u": integers, "f": numbers_, "U": names}[kind],
                 f"classes do not hold {dtype} values")
    _require(len(set(classes)) == len(classes), "classes are not unique")
    _require(classes == sorted(classes), "classes are not in sorted order")


def _check_state(metadata):
    state = metadata.get("state")
    _require(isinstance(state, dict), "state is missing")
    for name in ("epoch", "samples_seen", "no_improvement"):
        _require(_is_int(state.get(name), 0), f"state.{name} {state.get(name)!r} is not a "
                                              f"non-negative integer")
    for name in ("best_loss", "best_score"):
        value = state.get(name)
        _require(value in ("inf", "-inf") or (_is_number(value) and math.isfinite(value)),
                 f"state.{name} {value!r} is not a number")
    factor = state.get("lr_factor")
    _require(_is_number(factor) and 0 < factor <= 1, f"state.lr_factor {factor!r} is not in "
                                                     f"(0, 1]")
    best = state.get("best_epoch")
    _require(best is None or _is_int(best, 1), f"state.best_epoch {best!r} is not an epoch")
    _require(isinstance(state.get("converged"), bool), "state.converged is not true/false")
    _require(set(state) >= set(TrainState.SCALARS), "state lacks counters")
    _require(_is_int(metadata.get("optimizer_step"), 0), "optimizer_step is not a "
                                                         "non-negative integer")
    history = metadata.get("history")
    _require(isinstance(history, list) and all(
        isinstance(row, dict) and _is_number(row.get("loss")) for row in history),
        "history is not a list of epoch records")
    rng_state = metadata.get("rng_state")
    _require(isinstance(rng_state, dict) and isinstance(rng_state.get("bit_generator"), str),
             "rng_state is missing")
    try:
        np.random.default_rng().bit_generator.state = rng_state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _Bad(f"rng_state is unusable ({exc})") from None


def _check_preprocessing(pre, tensors, n_features):
    if pre is None:
        return
    _require(isinstance(pre, dict), "preprocessing is not an object")
    _require(pre.get("kind") in PREPROCESSING_KINDS,
             f"preprocessing.kind {pre.get('kind')!r} is not one of "
             f"{', '.join(PREPROCESSING_KINDS)}")
    scale = pre.get("value_range")
    _require(_is_number(scale) and math.isfinite(scale) and scale > 0,
             f"preprocessing.value_range {scale!r} is not a positive number")
    if pre["kind"] == "standardize":
        for name in ("preprocess/mean", "preprocess/std"):
            _require(name in tensors and tuple(tensors[name].shape) == (n_features,),
                     f"{name} is missing or not of shape ({n_features},)")
        _require(bool(np.all(tensors["preprocess/std"] > 0)), "preprocess/std is not positive")


def _check_tensors(tensors, sizes, dtype, slots):
    shapes = parameter_shapes(sizes)
    params = {key[len("params/"):] for key in tensors if key.startswith("params/")}
    _require(params == set(shapes), f"parameter tensors {sorted(params)} do not match the "
                                    f"architecture's {sorted(shapes)}")
    state = {key for key in tensors if key.startswith("optim/")}
    expected = {f"optim/{slot}/{name}" for slot in slots for name in shapes}
    _require(state == expected, f"optimizer state tensors {sorted(state - expected)[:3]} "
                                f"extra, {sorted(expected - state)[:3]} missing for the "
                                f"saved solver")
    best = {key[len("best/"):] for key in tensors if key.startswith("best/")}
    _require(not best or best == set(shapes), f"best-weight tensors {sorted(best)} are "
                                              f"incomplete")
    for key, value in tensors.items():
        prefix, _, rest = key.partition("/")
        if prefix == "preprocess":
            continue
        name = rest.rsplit("/", 1)[-1] if prefix == "optim" else rest
        _require(prefix in ("params", "optim", "best") and name in shapes,
                 f"unexpected tensor {key!r}")
        _require(tuple(value.shape) == shapes[name],
                 f"tensor {key} has shape {tuple(value.shape)}, expected {shapes[name]}")
        _require(value.dtype == np.dtype(dtype),
                 f"tensor {key} is {value.dtype}, expected {dtype}")
