"""Save and load whole models: device arrays to host, one atomic safetensors file, and back.

The file holds the weights, the optimizer state, the early-stopping copies and, as JSON
metadata, everything else needed to predict or to resume exactly: the estimator's kind and
hyperparameters (``get_params()``), the architecture, class labels, the training state's
counters, history, the training RNG's state, preprocessing. A model saved from any device
loads on any other. On load, every tensor's name, dtype and shape is checked against the
architecture and every metadata field against its schema (``checkpoint_schema.py``);
``checkpoint_io`` has verified the integrity digest and that every tensor is finite.
"""
from __future__ import annotations

import math

import numpy as np

from . import __version__
from .backend import as_host_array, numpy_backend, resolve_device
from .checkpoint_io import load_checkpoint, save_checkpoint
from .checkpoint_schema import ESTIMATORS, check_model_file, upgrade_metadata
from .errors import XpnnCheckpointError
from .estimator import BaseMLP
from .optim import state_arrays, state_from_arrays
from .preprocess import Preprocessing
from .train_state import TrainState


def save_model(path, model: BaseMLP, *, preprocessing: Preprocessing | None = None,
               info: dict | None = None) -> None:
    """Write a fitted ``model`` (and how its inputs were preprocessed) to ``path`` atomically."""
    state = model.state_
    tensors = {f"params/{name}": as_host_array(value) for name, value in state.params.items()}
    tensors.update({f"optim/{key}": as_host_array(value)
                    for key, value in state_arrays(state.opt_state).items()})
    if state.best_params is not None:
        tensors.update({f"best/{name}": as_host_array(value)
                        for name, value in state.best_params.items()})
    hidden = list(model._hidden())
    hyperparameters = {name: _jsonable(value) for name, value in model.get_params().items()
                       if name not in ("device", "comm")}
    if not isinstance(model.random_state, (int, np.integer, type(None))):
        hyperparameters["random_state"] = None  # a RandomState object: its draw is seed_
    metadata = {
        "xpnn_version": __version__,
        "kind": type(model).__name__,
        "architecture": {"n_features": int(model.n_features_in_), "hidden": hidden,
                         "n_outputs": int(model.n_outputs_), "activation": model.activation},
        "hyperparameters": hyperparameters,
        "seed": int(model.seed_),
        "classes": as_host_array(model.classes_).tolist() if hasattr(model, "classes_") else None,
        "classes_dtype": model.classes_.dtype.str if hasattr(model, "classes_") else None,
        "feature_names": (None if not hasattr(model, "feature_names_in_")
                          else [str(name) for name in model.feature_names_in_]),
        "optimizer_step": int(state.opt_state["step"]),
        "state": {name: _jsonable(getattr(state, name)) for name in TrainState.SCALARS},
        "history": state.history,
        "rng_state": model.rng_.bit_generator.state,
        "trained_on": model.backend_.label,
        "preprocessing": None,
        "info": info or {},
    }
    if preprocessing is not None:
        metadata["preprocessing"] = preprocessing.metadata()
        tensors.update(preprocessing.tensors())
    save_checkpoint(path, tensors, metadata)


def load_model(path, device: str | None = "cpu"):
    """(estimator on ``device``, its Preprocessing, info dict) from a saved file.

    A model saved without preprocessing (from the library) gets the identity scaling. Any
    inconsistency is an XpnnCheckpointError naming the file and the field.
    """
    tensors, metadata = load_checkpoint(path)
    metadata = upgrade_metadata(metadata)
    check_model_file(path, tensors, metadata)  # raises XpnnCheckpointError
    backend = numpy_backend() if device is None else resolve_device(device)
    try:
        return _rebuild(tensors, metadata, backend, device)
    except (KeyError, TypeError, ValueError) as exc:
        raise XpnnCheckpointError(
            f"{path}: the checkpoint is incomplete or inconsistent ({type(exc).__name__}: "
            f"{exc}); re-save it with this xpnn version") from exc


def _rebuild(tensors, metadata, backend, device):
    hyper = {name: _from_json(name, value) for name, value in metadata["hyperparameters"].items()}
    model = ESTIMATORS[metadata["kind"]](**{**hyper, "device": device})
    model._validate_params()
    dtype = model.dtype

    def on_device(prefix):
        return {key[len(prefix):]: backend.asarray(value, dtype=dtype)
                for key, value in tensors.items() if key.startswith(prefix)}

    with backend.activate():
        params = on_device("params/")
        opt_state = state_from_arrays(metadata["optimizer_step"], on_device("optim/"))
        best = on_device("best/") or None
    saved = metadata["state"]
    model.state_ = TrainState(params, opt_state, history=list(metadata["history"]),
                              best_params=best,
                              **{name: _from_json(name, saved[name])
                                 for name in TrainState.SCALARS})
    arch = metadata["architecture"]
    model.backend_ = backend
    model.seed_ = int(metadata["seed"])
    model.rng_ = np.random.default_rng(model.seed_)
    model.rng_.bit_generator.state = metadata["rng_state"]
    model.n_features_in_ = int(arch["n_features"])
    if metadata.get("feature_names"):
        model.feature_names_in_ = np.asarray(metadata["feature_names"], dtype=object)
    model.n_outputs_ = int(arch["n_outputs"])
    model.n_layers_ = len(arch["hidden"]) + 2
    model.out_activation_ = "softmax" if metadata["kind"] == "MLPClassifier" else "identity"
    if metadata["kind"] == "MLPClassifier":
        dtype = metadata.get("classes_dtype")  # ints, floats, bools or names, as fitted
        model.classes_ = np.asarray(metadata["classes"], dtype=None if dtype is None
                                    else np.dtype(dtype))
    model._fit_caller = (backend.name, str(backend.device))
    model._publish()
    preprocessing = Preprocessing("scale", 1.0)  # saved by the library: features as given
    if metadata.get("preprocessing"):
        preprocessing = Preprocessing.from_saved(metadata["preprocessing"], tensors)
    return model, preprocessing, metadata.get("info") or {}


def _jsonable(value):
    """JSON for hyperparameters and counters: tuples as lists, infinities as strings."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _from_json(name, value):
    if value in ("inf", "-inf"):
        return float(value)
    return value
