"""xpnn's own inference code run on ndonnx, an array-API namespace whose arrays record an
ONNX graph: the export is the forward pass predict runs, not a second one.

``model_outputs`` is what predict and predict_proba compute from raw rows, on any array
namespace: the cast to the model's dtype, the model file's preprocessing, the MLP's forward
(``mlp.predict_outputs``), the head's probabilities and the class labels (the estimators'
own ``_probabilities``, ``_class_indices`` and ``_predictions``). On NumPy it gives
predict's answers (a test holds it to them); on ndonnx arrays (``trace``) the same calls
become the nodes of an ONNX graph, the weights its constants.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier

from ..backend.devices import as_host_array
from ..core import mlp
from .extra import require

INPUT_NAME = "X"  # (N, n_features), N symbolic


def model_outputs(model, X, xp, preprocessing=None) -> dict:
    """predict and predict_proba of raw rows ``X``, preprocessed first when given.

    xpnn's own inference code, run on ``xp`` (ndonnx's arrays, to trace the ONNX graph).

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        A fitted estimator.
    X : array
        Raw rows (N, n_features), an array of ``xp``.
    xp : namespace
        The array namespace of ``X``.
    preprocessing : Preprocessing or None, default=None
        Applied to ``X`` first (in the model's dtype); None: nothing.

    Returns
    -------
    dict
        For a classifier ``{"label": (N,) class values (multi-label: the (N, k) indicator),
        "probabilities": (N, k)}``; for a regressor ``{"predictions": (N,) or (N, k)}``.
    """
    features = xp.astype(X, getattr(xp, model.dtype_))
    if preprocessing is not None:
        features = preprocessed(features, preprocessing, model.dtype_, xp)
    params = {name: xp.asarray(as_host_array(value)) for name, value in model.params_.items()}
    outputs = mlp.predict_outputs(params, features, xp, model._spec())  # (N, k) raw
    # ndonnx's matmul leaves its result's width unknown (None); the reshape to k, a no-op
    # elsewhere, states it again, so the graph's outputs declare their shapes
    outputs = xp.reshape(outputs, (-1, int(model.n_outputs_)))
    if not is_classifier(model):
        return {"predictions": model._predictions(outputs, xp)}
    indices = model._class_indices(outputs, xp)
    labels = indices if model._multilabel else xp.take(
        xp.asarray(as_host_array(model.classes_)), indices, axis=0)
    return {"label": labels, "probabilities": model._probabilities(outputs, xp)}


def preprocessed(features, preprocessing, dtype: str, xp):
    """(features - shift) * factor in ``dtype``, the arithmetic of Preprocessing.apply; the
    identity scaling of a model saved from the library adds nothing."""
    shift, factor = preprocessing.affine(dtype)
    if shift is None and factor == 1.0:
        return features
    if shift is not None:
        features = features - xp.asarray(shift)
    return features * xp.asarray(factor)


def trace(model, preprocessing=None, input_dtype=None):
    """The onnx.ModelProto of ``model_outputs`` on ndonnx: one input X (N, n_features) of
    ``input_dtype`` (default: the model's dtype), the outputs by their names above."""
    ndx = require("ndonnx")
    from .. import __version__

    dtype = np.dtype(input_dtype or model.dtype_)
    X = ndx.argument(shape=("N", int(model.n_features_in_)),
                     dtype=ndx.from_numpy_dtype(dtype))
    proto = ndx.build({INPUT_NAME: X}, model_outputs(model, X, ndx, preprocessing))
    proto.producer_name, proto.producer_version = "xpnn", __version__
    proto.doc_string = f"xpnn {type(model).__name__}: its predict, traced by ndonnx"
    return proto
