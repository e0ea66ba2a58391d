"""``to_onnx``: a fitted estimator (and a model file's preprocessing) as one ONNX model,
returned and, given a path, written atomically."""
from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..estimators.base import BaseMLP
from ..files.fileio import write_file_atomic
from .graph import trace


def to_onnx(estimator, path=None, *, preprocessing=None):
    """The ONNX model computing a fitted estimator's predict (and predict_proba).

    From rows X (N, n_features) in the estimator's dtype; outputs "label" and
    "probabilities" for a classifier, "predictions" for a regressor. ``preprocessing`` (a
    model file's, from ``load_model``) goes into the graph, so it takes raw rows as
    ``xpnn predict`` does.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted xpnn estimator.
    path : str or path-like or None, default=None
        Where to write the model, atomically; None: only returned.
    preprocessing : Preprocessing or None, default=None
        A model file's preprocessing, put first in the graph.

    Returns
    -------
    onnx.ModelProto
        The model; its input is named "X".

    Raises
    ------
    TypeError
        For an estimator that is not xpnn's (a Pipeline: ``register_skl2onnx`` and skl2onnx).
    sklearn.exceptions.NotFittedError
        For an estimator not fitted.
    XpnnMissingPackageError
        When a package of ``xpnn[onnx]`` is missing.

    Examples
    --------
    >>> import onnxruntime
    >>> from sklearn.datasets import load_digits
    >>> from xpnn import MLPClassifier
    >>> from xpnn.onnx import to_onnx
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_iter=20).fit(X / 16.0, y)
    >>> proto = to_onnx(clf, "digits.onnx")
    >>> session = onnxruntime.InferenceSession("digits.onnx")
    >>> label, probabilities = session.run(None, {"X": X / 16.0})
    >>> bool((label == clf.predict(X / 16.0)).all())
    True
    """
    if not isinstance(estimator, BaseMLP):
        raise TypeError(f"xpnn.onnx.to_onnx exports xpnn's MLPClassifier and MLPRegressor, "
                        f"not {type(estimator).__name__}; for a scikit-learn Pipeline call "
                        f"xpnn.onnx.register_skl2onnx() and then skl2onnx.to_onnx")
    check_is_fitted(estimator)
    proto = trace(estimator, preprocessing)
    if path is not None:
        write_file_atomic(path, proto.SerializeToString())
    return proto
