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

from ..backend.devices import numpy_backend, resolve_device
from ..data.preprocess import Preprocessing
from ..errors import XpnnCheckpointError
from ..estimators.base import BaseMLP
from ..files.checkpoint_io import load_checkpoint, save_checkpoint
from .model_file import from_file, to_file, upgrade_tensors, validate


def save_model(path, model: BaseMLP, *, preprocessing: Preprocessing | None = None,
               info: dict | None = None) -> None:
    """Write a fitted ``model`` (and how its inputs were preprocessed) to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write (safetensors); an earlier file there is replaced only whole.
    model : MLPClassifier or MLPRegressor
        A fitted estimator.
    preprocessing : Preprocessing or None, default=None
        How its inputs were scaled; None: the identity scaling.
    info : dict or None, default=None
        JSON-serialisable notes saved beside it (``load_model`` returns them).

    Raises
    ------
    XpnnCheckpointError
        When the file cannot be written (a missing directory, an OS error), or a tensor or the
        metadata cannot be saved.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from xpnn import MLPClassifier
    >>> from xpnn import load_model, save_model
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_iter=20).fit(X / 16.0, y)
    >>> save_model("digits.safetensors", clf, info={"note": "digits"})
    >>> clf2, preprocessing, info = load_model("digits.safetensors")
    >>> info
    {'note': 'digits'}
    """
    tensors, metadata = to_file(model, preprocessing, info)
    save_checkpoint(path, tensors, metadata)


def load_model(path, device: str | None = "cpu"):
    """Load a model saved by ``save_model``, on ``device``.

    A model saved without preprocessing (from the library) gets the identity scaling.

    Parameters
    ----------
    path : str or path-like
        The saved file.
    device : str or None, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; None: NumPy.

    Returns
    -------
    model : MLPClassifier or MLPRegressor
        The estimator, its arrays on ``device``, ready to predict or to resume.
    preprocessing : Preprocessing
        How its inputs are to be scaled.
    info : dict
        The notes saved with it.

    Raises
    ------
    XpnnCheckpointError
        For any inconsistency, naming the file and the field.
    XpnnDeviceError
        When ``device`` is not usable here.

    Examples
    --------
    With the file and ``X, y`` of ``save_model``'s example:

    >>> from xpnn import load_model
    >>> clf, preprocessing, info = load_model("digits.safetensors", device="cpu")
    >>> clf.score(X / 16.0, y) > 0.9
    True
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
