"""A saved model that reads drawings: strokes as thick as its data's, the recipe for its image
shape, then its preprocessing, then predict and predict_proba, one drawing at a time (a lock:
one model, many threads)."""
from __future__ import annotations

import threading

import numpy as np

from ..backend.devices import as_host_array
from ..errors import XpnnDataError
from ..reports.plots import square_image_shape
from .drawing import RECIPES, has_ink
from .strokes import least_ink, thickened

PAD_TARGET = "pad_target"  # in the model file's info: its training images' least ink


def image_shape_of(n_features: int, info: dict):
    """The model's image shape: what its data source recorded, else the square its
    feature count makes (Kaggle's CSV: 784 = 28x28); None when that is no image."""
    recorded = info.get("image_shape")
    if recorded:
        return tuple(int(side) for side in recorded)
    return square_image_shape(n_features)


def pad_target(X, info: dict, sample: int = 2000) -> float | None:
    """The ink the pad widens drawings to for a model trained on rows ``X``: ``least_ink``
    of the first ``sample`` images, in the data's units; None when the rows are no image
    the pad makes (or are sparse)."""
    shape = image_shape_of(X.shape[1], info) if isinstance(X, np.ndarray) else None
    if shape not in RECIPES:
        return None
    return round(least_ink(np.asarray(X[:sample], dtype=np.float64).reshape(-1, *shape)), 3)


def refusal_of(clf, shape) -> str | None:
    """Why the pad cannot feed ``clf`` (rows of ``shape``), or None when it can."""
    if not hasattr(clf, "predict_proba"):
        return "a regressor"
    if clf.n_outputs_ > 1 and clf.out_activation_ == "logistic":
        return "a multi-label classifier"
    if shape is None:
        return f"its rows are {clf.n_features_in_} features, not images"
    if shape not in RECIPES:
        return f"its rows are {shape[0]}x{shape[1]} images"
    return None


class DrawingReader:
    """``read(ink)``: the label (as ``xpnn predict`` writes it), the probabilities per class
    and the grid the model saw."""

    def __init__(self, clf, preprocessing, info, path="the model"):
        shape = image_shape_of(clf.n_features_in_, info)
        refusal = refusal_of(clf, shape)
        if refusal is not None:
            shapes = " or ".join(f"{rows}x{cols}" for rows, cols in RECIPES)
            raise XpnnDataError(f"{path}: {refusal}; the drawing pad makes {shapes} images "
                                f"for a classifier of one label")
        self.clf, self.preprocessing, self.info = clf, preprocessing, info
        self.recipe = RECIPES[shape]
        self.target = info.get(PAD_TARGET, self.recipe.least_ink)  # None: ink as drawn
        self.classes = [str(label) for label in as_host_array(clf.classes_).tolist()]
        self.lock = threading.Lock()

    @classmethod
    def load(cls, path) -> "DrawingReader":
        from ..saving.checkpoint import load_model

        clf, preprocessing, info = load_model(path, device="cpu")
        return cls(clf, preprocessing, info, path)

    def describe(self) -> dict:
        return {"classes": self.classes, "shape": list(self.recipe.shape),
                "value_range": self.recipe.value_range, "recipe": self.recipe.known_as,
                "source": self.info.get("source")}

    def read(self, ink: np.ndarray) -> dict:
        """The model's answer for a drawing (ink in [0, 1]); no label for a blank pad."""
        if not has_ink(ink):
            return {"label": None, "probabilities": {}, "grid": []}
        if self.target is not None:
            ink = thickened(ink, lambda candidate: self.recipe.prepare(candidate)[0],
                            self.target)
        grids = self.recipe.prepare(ink)  # (k, rows, cols) in the data's units
        labels, probs = self.read_grids(grids.reshape(len(grids), -1))
        surest = int(np.argmax(np.max(probs, axis=1)))  # k > 1: the recipe left a choice
        return {"label": labels[surest],
                "probabilities": dict(zip(self.classes, probs[surest])),
                "grid": grids[surest].tolist()}

    def read_grids(self, grids: np.ndarray):
        """(labels as text, probabilities (n, classes) as lists) for rows of grids."""
        X = self.preprocessing.apply(grids, self.clf.dtype_)
        with self.lock:
            X = self.clf.backend_.asarray(X)
            labels = as_host_array(self.clf.predict(X)).tolist()
            probs = as_host_array(self.clf.predict_proba(X))[:, :len(self.classes)]
        return [str(label) for label in labels], np.round(probs.astype(np.float64), 6).tolist()
