"""Save and load whole models: device arrays to host, one atomic safetensors file, and back.

The file holds the weights, the optimizer state, the early-stopping copies and, as JSON
metadata, everything else needed to predict or to resume exactly: architecture, dtype,
class labels, hyperparameters, epoch, history, the training RNG's state, preprocessing.
A model saved from any device loads on any other.
"""
from __future__ import annotations

import numpy as np

from . import __version__
from .backend import as_host_array, numpy_backend, resolve_device
from .checkpoint_io import load_checkpoint, save_checkpoint
from .errors import XpnnCheckpointError
from .estimator import MLPClassifier
from .optim import state_arrays, state_from_arrays
from .preprocess import Preprocessing
from .train import TrainState

HYPERPARAMETERS = ("hidden", "epochs", "batch_size", "lr", "optimizer", "seed", "dtype",
                   "momentum", "weight_decay", "val_fraction", "early_stopping", "patience",
                   "check_every", "lr_schedule")


def save_model(path, clf: MLPClassifier, *, preprocessing: Preprocessing | None = None,
               info: dict | None = None) -> None:
    """Write a fitted ``clf`` (and how its inputs were preprocessed) to ``path`` atomically."""
    state = clf.state_
    tensors = {f"params/{name}": as_host_array(value) for name, value in state.params.items()}
    tensors.update({f"optim/{key}": as_host_array(value)
                    for key, value in state_arrays(state.opt_state).items()})
    if state.best_params is not None:
        tensors.update({f"best/{name}": as_host_array(value)
                        for name, value in state.best_params.items()})
    metadata = {
        "xpnn_version": __version__,
        "architecture": {"n_features": clf.n_features_in_, "hidden": list(clf.hidden),
                         "n_classes": int(clf.classes_.shape[0])},
        "hyperparameters": {name: _jsonable(getattr(clf, name)) for name in HYPERPARAMETERS},
        "classes": as_host_array(clf.classes_).tolist(),
        "optimizer_step": int(state.opt_state["step"]),
        "epoch": state.epoch,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped_early,
        "rng_state": clf.rng_.bit_generator.state,
        "trained_on": clf.backend_.label,
        "preprocessing": None,
        "info": info or {},
    }
    if preprocessing is not None:
        metadata["preprocessing"] = preprocessing.metadata()
        tensors.update(preprocessing.tensors())
    save_checkpoint(path, tensors, metadata)


def load_model(path, device: str | None = "cpu"):
    """(MLPClassifier on ``device``, its Preprocessing, info dict) from a saved file.

    A model saved without preprocessing (from the library) gets the identity scaling.
    """
    tensors, metadata = load_checkpoint(path)
    try:
        return _rebuild(tensors, metadata, device)
    except (KeyError, TypeError, ValueError) as exc:
        raise XpnnCheckpointError(
            f"{path}: the checkpoint is incomplete or inconsistent ({type(exc).__name__}: "
            f"{exc}); re-save it with this xpnn version") from exc


def _rebuild(tensors, metadata, device):
    backend = numpy_backend() if device is None else resolve_device(device)
    hyper = {"lr_schedule": "constant", **metadata["hyperparameters"]}
    clf = MLPClassifier(**{**hyper, "hidden": tuple(hyper["hidden"]), "device": device})
    dtype = hyper["dtype"]

    def on_device(prefix):
        return {key[len(prefix):]: backend.asarray(value, dtype=dtype)
                for key, value in tensors.items() if key.startswith(prefix)}

    params = on_device("params/")
    arch = metadata["architecture"]
    expected_w1 = (arch["n_features"], (arch["hidden"] or [arch["n_classes"]])[0])
    if tuple(params["w1"].shape) != tuple(expected_w1):
        raise ValueError(f"w1 has shape {tuple(params['w1'].shape)}, expected {expected_w1}")
    opt_state = state_from_arrays(metadata["optimizer_step"], on_device("optim/"))
    best = on_device("best/") or None
    clf.state_ = TrainState(params, opt_state, epoch=int(metadata["epoch"]),
                            history=list(metadata["history"]), best_epoch=metadata["best_epoch"],
                            best_params=best, stopped_early=bool(metadata["stopped_early"]))
    clf.params_, clf.history_ = clf.state_.params, clf.state_.history
    clf.backend_ = backend
    clf.classes_ = np.asarray(metadata["classes"])  # host, as fit keeps them
    clf.n_features_in_ = int(arch["n_features"])
    clf.rng_ = np.random.default_rng()
    clf.rng_.bit_generator.state = metadata["rng_state"]
    preprocessing = Preprocessing("scale", 1.0)  # saved by the library: features as given
    if metadata.get("preprocessing"):
        preprocessing = Preprocessing.from_saved(metadata["preprocessing"], tensors)
    return clf, preprocessing, metadata.get("info", {})


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return value
