"""Save and load whole models: device arrays to host, one atomic safetensors file, and back.

The file holds the weights, the optimizer state, the early-stopping copies and, as JSON
metadata, everything else needed to predict or to resume exactly: the estimator's kind and
hyperparameters (``get_params()``), the architecture, class labels, the training state's
counters, history, the training RNG's state, preprocessing. A model saved from any device
loads on any other. What the file holds, how each part is written, checked and read back
is declared once, in ``model_file.py``; ``checkpoint_io`` has verified the integrity digest
and that every tensor is finite.
"""
from __future__ import annotations

from .backend import numpy_backend, resolve_device
from .checkpoint_io import load_checkpoint, save_checkpoint
from .errors import XpnnCheckpointError
from .estimator import BaseMLP
from .model_file import from_file, to_file, upgrade_tensors, validate
from .preprocess import Preprocessing


def save_model(path, model: BaseMLP, *, preprocessing: Preprocessing | None = None,
               info: dict | None = None) -> None:
    """Write a fitted ``model`` (and how its inputs were preprocessed) to ``path`` atomically."""
    tensors, metadata = to_file(model, preprocessing, info)
    save_checkpoint(path, tensors, metadata)


def load_model(path, device: str | None = "cpu"):
    """(estimator on ``device``, its Preprocessing, info dict) from a saved file.

    A model saved without preprocessing (from the library) gets the identity scaling. Any
    inconsistency is an XpnnCheckpointError naming the file and the field.
    """
    tensors, metadata = load_checkpoint(path)
    tensors = upgrade_tensors(tensors, metadata)
    validate(path, tensors, metadata)  # raises XpnnCheckpointError
    backend = numpy_backend() if device is None else resolve_device(device)
    try:
        return from_file(tensors, metadata, backend, device)
    except (KeyError, TypeError, ValueError) as exc:
        raise XpnnCheckpointError(
            f"{path}: the checkpoint is incomplete or inconsistent ({type(exc).__name__}: "
            f"{exc}); re-save it with this xpnn version") from exc
