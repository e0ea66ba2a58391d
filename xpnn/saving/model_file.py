"""The model file, described once: what save_model writes, load_model checks and reads back.

A model file is one safetensors file (``checkpoint_io``: atomic, integrity digest, finite
tensors) whose metadata holds ``FIELDS`` and whose tensors follow ``TENSORS``. Each field
says how it is written from a fitted estimator, how it is checked (the message names the
field) and how it is read back; the writer, the check and the reader all walk these two
tables. Hyperparameters are the estimator's ``get_params()``, checked by its own
``_parameter_constraints``; the optimizer-state tensors are the slots of the optimizer those
hyperparameters build; the output head (``out_activation``, a key of ``heads.HEADS``) and the
training dtype are fields of their own (files from before them: the estimator's only head
then, and the dtype hyperparameter). So a new hyperparameter, head or optimizer needs no edit
here, and a new field is one row.
A hyperparameter missing from an older file takes the estimator's default (dropout: 0). The
dropout masks need no state of their own: a step's are a function of the seed and the
state's samples_seen (both here) and the step (``dropout.py``), so a resumed run draws the
masks an uninterrupted one would.
Files of format 1 (development versions before the first release) are refused
(``checkpoint_io``); SGD's momentum buffer of earlier format-2 files loads as today's velocity
(``upgrade_tensors``).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import is_classifier

from ..backend.devices import DTYPES, as_host_array
from ..core.activations import ACTIVATIONS
from ..core.heads import HEADS
from ..core.mlp import layer_sizes, parameter_shapes
from ..core.optim import OPTIMIZERS, state_arrays, state_from_arrays, velocity_from_buffer
from ..data.preprocess import Preprocessing
from ..errors import XpnnCheckpointError
from ..estimators.estimator import MLPClassifier, MLPRegressor
from ..training.train_state import TrainState

ESTIMATORS = {cls.__name__: cls for cls in (MLPClassifier, MLPRegressor)}
PREPROCESSING_KINDS = ("scale", "standardize")
NOT_SAVED = ("device", "comm")  # where and with whom to run: the loader's choice


class _Bad(Exception):
    """A field that is wrong; validate() adds the path and the closing words."""


def _require(condition, message):
    if not condition:
        raise _Bad(message)


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _jsonable(value):
    """JSON for hyperparameters and counters: tuples as lists, infinities as strings, a dict
    as {"pairs": [[key, value], ...]} (JSON keys are text only; class_weight's keys are
    class labels: numbers, bools or names, kept as they are)."""
    if isinstance(value, dict):
        return {"pairs": [[_jsonable(key), _jsonable(item)] for key, item in value.items()]}
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _from_json(value):
    """What ``_jsonable`` wrote, back: dicts from their pairs, infinities from strings."""
    if isinstance(value, dict) and set(value) == {"pairs"}:
        return {key: _from_json(item) for key, item in value["pairs"]}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return float(value) if isinstance(value, str) and value in ("inf", "-inf") else value


@dataclass(frozen=True)
class Saving:
    """What save_model was given."""

    model: object
    preprocessing: Preprocessing | None
    info: dict | None


@dataclass(frozen=True)
class Loading:
    """A file being checked or read: its (upgraded) metadata and its host tensors."""

    metadata: dict
    tensors: dict

    def estimator_class(self):
        return ESTIMATORS[self.metadata["kind"]]

    def estimator(self, device=None):
        """A fresh estimator with the saved hyperparameters (not yet validated)."""
        hyper = _read_hyperparameters(self.metadata["hyperparameters"], self)
        return self.estimator_class()(**{**hyper, "device": device})


@dataclass(frozen=True)
class Field:
    """One metadata entry: written from the fitted estimator, checked, read back."""

    key: str
    write: Callable  # (Saving) -> JSON value
    check: Callable  # (value, Loading) -> None; raises _Bad naming the field
    read: Callable = lambda value, file: value  # (value, Loading) -> what the estimator gets


# -- the metadata's checks, in the order of FIELDS (a check may rely on earlier fields) ----

def _check_text(key):
    def check(value, file):
        _require(value is None or isinstance(value, str), f"{key} {value!r} is not text")
    return check


def _check_kind(kind, file):
    _require(kind in ESTIMATORS, f"kind {kind!r} is not one of {', '.join(ESTIMATORS)}")


def _check_architecture(arch, file):
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


def _check_hyperparameters(hyper, file):
    _require(isinstance(hyper, dict), "hyperparameters are missing")
    unknown = sorted(set(hyper) - set(file.estimator_class()().get_params()))
    _require(not unknown, f"unknown hyperparameters {unknown}")
    try:  # the estimator's own parameter table: names, types and ranges
        file.estimator()._validate_params()
        file.estimator()._dropout_rates()  # a list: one rate in [0, 1) per hidden layer
    except (TypeError, ValueError) as exc:
        raise _Bad(f"hyperparameters: {str(exc).rstrip('.')}") from None
    arch = file.metadata["architecture"]
    _require(list(file.estimator()._hidden()) == arch["hidden"],
             "hyperparameters.hidden_layer_sizes disagree with the architecture")
    _require(hyper.get("activation", "relu") == arch["activation"],
             "hyperparameters.activation disagrees with the architecture")


def _read_hyperparameters(hyper, file):
    return {name: _from_json(value) for name, value in hyper.items()}


def _check_seed(seed, file):
    _require(_is_int(seed, 0), f"seed {seed!r} is not a non-negative integer")


def _has_classes(file) -> bool:
    """Whether the estimator predicts class labels (then the file names them)."""
    return is_classifier(file.estimator_class()())


def _check_classes(classes, file):
    if not _has_classes(file):
        _require(classes is None, "classes are given for a model that predicts values")
        return
    n_outputs = file.metadata["architecture"]["n_outputs"]
    _require(isinstance(classes, list), f"classes {classes!r} is not a list")
    one_output = _out_activation(file) == "logistic" and n_outputs == 1  # one or two classes
    _require(len(classes) in (1, 2) if one_output else len(classes) == n_outputs,
             f"{len(classes)} classes for {n_outputs} outputs")
    _require(any(_class_kinds(classes).values()),
             "classes are neither all numbers, all true/false, nor all names")
    _require(len(set(classes)) == len(classes), "classes are not unique")
    _require(classes == sorted(classes), "classes are not in sorted order")


def _class_kinds(classes) -> dict:
    """numpy dtype kind -> whether every label fits it."""
    integers = all(_is_int(c, -(2**63)) for c in classes)
    return {"b": all(isinstance(c, bool) for c in classes), "i": integers, "u": integers,
            "f": all(_is_number(c) and math.isfinite(c) for c in classes),
            "U": all(isinstance(c, str) for c in classes)}


def _out_activation(file) -> str:
    """The saved output head; files from before it was saved: the estimator's only head then
    (softmax for a classifier, identity for a regressor)."""
    saved = file.metadata.get("out_activation")
    if saved is not None:
        return saved
    return "softmax" if _has_classes(file) else "identity"


def _check_out_activation(name, file):
    name = _out_activation(file)
    expected = ({"softmax", "logistic"} if _has_classes(file)
                else {file.estimator()._output_head(None)})
    _require(name in HEADS and name in expected,
             f"out_activation {name!r} is not one of {sorted(expected)}")


def _training_dtype(file) -> str:
    """The saved training dtype; older files: the dtype hyperparameter, always set then."""
    return file.metadata.get("dtype") or file.metadata["hyperparameters"].get("dtype",
                                                                              "float32")


def _check_dtype(dtype, file):
    dtype = _training_dtype(file)
    _require(dtype in DTYPES, f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")


def _check_classes_dtype(dtype, file):
    if dtype is None or not _has_classes(file):
        return
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise _Bad(f"classes_dtype {dtype!r} is not a dtype") from None
    _require(kind in "biufU", f"classes_dtype {dtype!r} is not numbers, bools or text")
    _require(_class_kinds(file.metadata["classes"])[kind], f"classes do not hold {dtype} values")


def _read_classes(classes, file):
    if classes is None:
        return None
    dtype = file.metadata.get("classes_dtype")  # ints, floats, bools or names, as fitted
    return np.asarray(classes, dtype=None if dtype is None else np.dtype(dtype))


def _check_feature_names(names, file):
    n_features = file.metadata["architecture"]["n_features"]
    _require(names is None or (isinstance(names, list) and len(names) == n_features
                               and all(isinstance(name, str) for name in names)),
             f"feature_names is not a list of {n_features} names")


def _check_optimizer_step(step, file):
    _require(_is_int(step, 0), "optimizer_step is not a non-negative integer")


def _check_state(state, file):
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


def _check_history(history, file):
    _require(isinstance(history, list) and all(
        isinstance(row, dict) and _is_number(row.get("loss")) for row in history),
        "history is not a list of epoch records")


def _check_rng_state(rng_state, file):
    _require(isinstance(rng_state, dict) and isinstance(rng_state.get("bit_generator"), str),
             "rng_state is missing")
    try:
        _read_rng(rng_state, file)
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _Bad(f"rng_state is unusable ({exc})") from None


def _read_rng(rng_state, file):
    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    return rng


def _check_preprocessing(pre, file):
    if pre is None:
        return
    _require(isinstance(pre, dict), "preprocessing is not an object")
    _require(pre.get("kind") in PREPROCESSING_KINDS,
             f"preprocessing.kind {pre.get('kind')!r} is not one of "
             f"{', '.join(PREPROCESSING_KINDS)}")
    scale = pre.get("value_range")
    _require(_is_number(scale) and math.isfinite(scale) and scale > 0,
             f"preprocessing.value_range {scale!r} is not a positive number")


def _read_preprocessing(pre, file):
    if not pre:  # saved by the library: features as given
        return Preprocessing("scale", 1.0)
    return Preprocessing.from_saved(pre, _group(file.tensors, PREPROCESS))


def _check_info(info, file):
    _require(info is None or isinstance(info, dict), f"info is a {type(info).__name__}, not an "
                                                     f"object")


def _write_hyperparameters(s):
    model = s.model
    hyper = {name: _jsonable(value) for name, value in model.get_params().items()
             if name not in NOT_SAVED}
    if not isinstance(model.random_state, (int, np.integer, type(None))):
        hyper["random_state"] = None  # a RandomState object: its draw is seed_
    return hyper


def _write_state(s):
    return {name: _jsonable(getattr(s.model.state_, name)) for name in TrainState.SCALARS}


def _fitted_classes(model):
    return as_host_array(model.classes_) if hasattr(model, "classes_") else None


def _version(s):
    from .. import __version__

    return __version__


# The metadata, in the order it is written and checked.
FIELDS = (
    Field("xpnn_version", _version, _check_text("xpnn_version")),
    Field("kind", lambda s: type(s.model).__name__, _check_kind),
    Field("architecture",
          lambda s: {"n_features": int(s.model.n_features_in_),
                     "hidden": list(s.model._hidden()), "n_outputs": int(s.model.n_outputs_),
                     "activation": s.model.activation},
          _check_architecture),
    Field("hyperparameters", _write_hyperparameters, _check_hyperparameters,
          _read_hyperparameters),
    Field("seed", lambda s: int(s.model.seed_), _check_seed, lambda seed, file: int(seed)),
    Field("dtype", lambda s: s.model.dtype_, _check_dtype,
          lambda dtype, file: _training_dtype(file)),
    Field("out_activation", lambda s: s.model.out_activation_, _check_out_activation,
          lambda name, file: _out_activation(file)),
    Field("classes", lambda s: None if (c := _fitted_classes(s.model)) is None else c.tolist(),
          _check_classes, _read_classes),
    Field("classes_dtype",
          lambda s: None if (c := _fitted_classes(s.model)) is None else c.dtype.str,
          _check_classes_dtype),
    Field("feature_names",
          lambda s: ([str(name) for name in s.model.feature_names_in_]
                     if hasattr(s.model, "feature_names_in_") else None),
          _check_feature_names,
          lambda names, file: np.asarray(names, dtype=object) if names else None),
    Field("optimizer_step", lambda s: int(s.model.state_.opt_state["step"]),
          _check_optimizer_step, lambda step, file: int(step)),
    Field("state", _write_state, _check_state,
          lambda state, file: {name: _from_json(state[name]) for name in TrainState.SCALARS}),
    Field("history", lambda s: s.model.state_.history, _check_history,
          lambda history, file: list(history)),
    Field("rng_state", lambda s: s.model.rng_.bit_generator.state, _check_rng_state, _read_rng),
    Field("trained_on", lambda s: s.model.backend_.label, _check_text("trained_on")),
    Field("preprocessing",
          lambda s: None if s.preprocessing is None else s.preprocessing.metadata(),
          _check_preprocessing, _read_preprocessing),
    Field("info", lambda s: s.info or {}, _check_info, lambda info, file: info or {}),
)


# -- the tensors: every name is <group prefix><name> ---------------------------------------

PARAMS, OPTIM, BEST, PREPROCESS = "params/", "optim/", "best/", "preprocess/"


@dataclass(frozen=True)
class Layout:
    """What the checked metadata says the tensors must be."""

    shapes: dict  # parameter name -> shape
    slots: tuple  # the optimizer's per-parameter state slots
    dtype: str  # of params/, optim/, best/
    n_features: int
    standardized: bool


@dataclass(frozen=True)
class TensorGroup:
    """One kind of tensor: how it is written, which names and shapes the file must hold."""

    prefix: str
    write: Callable  # (Saving) -> {name after the prefix: array}
    expect: Callable  # (Layout) -> {name after the prefix: shape}
    mismatch: str  # message when the names differ: {found} {expected} {extra} {missing}
    optional: bool = False  # the whole group may be absent
    in_model_dtype: bool = True


TENSORS = (
    TensorGroup(PARAMS, lambda s: s.model.state_.params, lambda layout: layout.shapes,
                "parameter tensors {found} do not match the architecture's {expected}"),
    TensorGroup(OPTIM, lambda s: state_arrays(s.model.state_.opt_state),
                lambda layout: {f"{slot}/{name}": shape for slot in layout.slots
                                for name, shape in layout.shapes.items()},
                "optimizer state tensors {extra} extra, {missing} missing for the saved solver"),
    TensorGroup(BEST, lambda s: s.model.state_.best_params or {}, lambda layout: layout.shapes,
                "best-weight tensors {found} are incomplete", optional=True),
    TensorGroup(PREPROCESS,
                lambda s: {} if s.preprocessing is None else s.preprocessing.tensors(),
                lambda layout: ({"mean": (layout.n_features,), "std": (layout.n_features,)}
                                if layout.standardized else {}),
                "preprocess tensors {extra} extra, {missing} missing for the saved "
                "preprocessing", in_model_dtype=False),
)


def _group(tensors: dict, prefix: str) -> dict:
    """{name after the prefix: tensor} of one group."""
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def optimizer_slots(model) -> tuple:
    """The per-parameter state slots of the optimizer ``model``'s hyperparameters build
    (a solver outside optim.OPTIMIZERS, L-BFGS, keeps none between fits)."""
    return model._optimizer().state_slots if model.solver in OPTIMIZERS else ()


def _layout(file: Loading) -> Layout:
    metadata = file.metadata
    arch, pre = metadata["architecture"], metadata.get("preprocessing")
    model = file.estimator()
    shapes = parameter_shapes(layer_sizes(arch["n_features"], arch["hidden"],
                                          arch["n_outputs"]))
    return Layout(shapes, optimizer_slots(model), _training_dtype(file), arch["n_features"],
                  bool(pre) and pre["kind"] == "standardize")


def _check_tensors(file: Loading):
    tensors, layout = file.tensors, _layout(file)
    for key in tensors:
        _require(any(key.startswith(group.prefix) for group in TENSORS),
                 f"unexpected tensor {key!r}")
    for group in TENSORS:
        found, expected = _group(tensors, group.prefix), group.expect(layout)
        if set(found) != set(expected) and not (group.optional and not found):
            raise _Bad(group.mismatch.format(
                found=sorted(found), expected=sorted(expected),
                extra=sorted(group.prefix + name for name in set(found) - set(expected))[:3],
                missing=sorted(group.prefix + name for name in set(expected) - set(found))[:3]))
        for name, value in found.items():
            key = group.prefix + name
            _require(tuple(value.shape) == expected[name],
                     f"tensor {key} has shape {tuple(value.shape)}, expected {expected[name]}")
            _require(not group.in_model_dtype or value.dtype == np.dtype(layout.dtype),
                     f"tensor {key} is {value.dtype}, expected {layout.dtype}")
    std = tensors.get(PREPROCESS + "std")
    _require(std is None or bool(np.all(std > 0)), f"{PREPROCESS}std is not positive")


# -- the three directions --------------------------------------------------------------------

def to_file(model, preprocessing=None, info=None) -> tuple[dict, dict]:
    """(host tensors, metadata) of a fitted ``model``: what save_model writes."""
    saving = Saving(model, preprocessing, info)
    tensors = {group.prefix + name: as_host_array(value)
               for group in TENSORS for name, value in group.write(saving).items()}
    return tensors, {field.key: field.write(saving) for field in FIELDS}


def validate(path, tensors: dict, metadata: dict) -> None:
    """Raise XpnnCheckpointError naming ``path`` and the first field that is wrong."""
    try:
        _require(isinstance(metadata, dict), "its metadata is not a JSON object")
        file = Loading(metadata, tensors)
        for field in FIELDS:
            field.check(metadata.get(field.key), file)
        _check_tensors(file)
    except _Bad as bad:
        raise XpnnCheckpointError(f"{path}: {bad}; the file is damaged or was not written by "
                                  f"xpnn") from None


def from_file(tensors: dict, metadata: dict, backend, device):
    """(estimator on ``backend``, Preprocessing, info) from a validated file."""
    file = Loading(metadata, tensors)
    values = {field.key: field.read(metadata.get(field.key), file) for field in FIELDS}
    model = file.estimator(device)
    model._validate_params()
    with backend.activate():
        on_device = {group.prefix: {name: backend.asarray(value, dtype=values["dtype"])
                                    for name, value in _group(tensors, group.prefix).items()}
                     for group in TENSORS if group.in_model_dtype}
    state = TrainState(on_device[PARAMS],
                       state_from_arrays(values["optimizer_step"], on_device[OPTIM]),
                       history=values["history"], best_params=on_device[BEST] or None,
                       **values["state"])
    restore_fitted(model, values, state, backend)
    return model, values["preprocessing"], values["info"]


def restore_fitted(model, values: dict, state: TrainState, backend) -> None:
    """Onto a fresh estimator, every fitted attribute that fit sets: the one place for them."""
    arch = values["architecture"]
    model.state_ = state
    model.backend_ = backend
    model.seed_ = values["seed"]
    model.rng_ = values["rng_state"]
    model.n_features_in_ = int(arch["n_features"])
    if values["feature_names"] is not None:
        model.feature_names_in_ = values["feature_names"]
    model.n_outputs_ = int(arch["n_outputs"])
    model.n_layers_ = len(arch["hidden"]) + 2
    model.out_activation_ = values["out_activation"]
    model.dtype_ = values["dtype"]
    if values["classes"] is not None:
        model.classes_ = values["classes"]
    model._fit_caller = (backend.name, str(backend.device))
    model._fitted_params = model._resume_fixed_params()  # what resume_fit may not change
    model._publish()


# -- SGD's momentum buffer before scikit-learn's velocity -------------------------------------

def upgrade_tensors(tensors: dict, metadata: dict) -> dict:
    """A file whose SGD state is the momentum buffer b (xpnn before 2026-12: b = mu b + g,
    p -= lr b) holds today's velocity v = -lr b (v = mu v - lr g, p += v): the same steps
    at a constant rate, and the old form's next step at any rate. lr: the rate as the file
    left it (learning_rate_init times the 'adaptive' factor)."""
    old = [key for key in tensors if key.startswith(OPTIM + "momentum/")]
    if not old or not isinstance(metadata, dict):
        return tensors
    try:
        velocities = velocity_from_buffer(
            {key[len(OPTIM + "momentum/"):]: tensors[key] for key in old},
            metadata["hyperparameters"]["learning_rate_init"], metadata["state"]["lr_factor"])
    except (KeyError, TypeError, ValueError):
        return tensors  # the check names what is missing
    upgraded = {key: value for key, value in tensors.items() if key not in old}
    upgraded.update({OPTIM + "velocity/" + name: value for name, value in velocities.items()})
    return upgraded
