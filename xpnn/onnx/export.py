"""``to_onnx``: a fitted estimator (and a model file's preprocessing) as one ONNX model,
returned and, given a path, written atomically."""
from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..estimator import BaseMLP
from ..fileio import write_file_atomic
from .graph import trace


def to_onnx(estimator, path=None, *, preprocessing=None):
    """The onnx.ModelProto computing ``estimator``'s predict (and predict_proba) from rows
    X (N, n_features) in its dtype: outputs "label" and "probabilities" for a classifier,
    "predictions" for a regressor. ``preprocessing`` (a model file's, from load_model) goes
    into the graph, so it takes raw rows as ``xpnn predict`` does. Written to ``path``
    atomically when one is given."""
    if not isinstance(estimator, BaseMLP):
        raise TypeError(f"xpnn.onnx.to_onnx exports xpnn's MLPClassifier and MLPRegressor, "
                        f"not {type(estimator).__name__}; for a scikit-learn Pipeline call "
                        f"xpnn.onnx.register_skl2onnx() and then skl2onnx.to_onnx")
    check_is_fitted(estimator)
    proto = trace(estimator, preprocessing)
    if path is not None:
        write_file_atomic(path, proto.SerializeToString())
    return proto
