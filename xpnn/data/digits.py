"""scikit-learn's bundled 8x8 digits: 1797 samples, pixel values 0..16, no download."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError, spelled
from .dataset import Dataset
from .npz import arrays_to_dataset


def load_digits(*, n_classes: int | None = None) -> Dataset:
    """scikit-learn's digits: features (1797, 64) float32 in 0..16 and labels 0..9.

    Checked like every loader's.

    Parameters
    ----------
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.

    Returns
    -------
    Dataset
        The validated data, ``value_range`` 16, ``image_shape`` (8, 8).
    """
    rows = _bundled_rows()
    if rows is not None:  # as scikit-learn's load_digits splits them
        features, labels = rows[:, :-1], rows[:, -1].astype(int, copy=False)
    else:
        try:
            from sklearn.datasets import load_digits as sklearn_load_digits
        except ImportError as exc:  # pragma: no cover - scikit-learn is a core dependency
            raise XpnnDataError(
                f"{spelled('dataset', 'digits')} needs scikit-learn: pip install scikit-learn"
            ) from exc
        bunch = sklearn_load_digits()
        features, labels = bunch.data, bunch.target
    # value_range comes out as the data's real maximum, 16 (not 255)
    return arrays_to_dataset(features.astype(np.float32), labels, "scikit-learn digits",
                             n_classes=n_classes, image_shape=(8, 8))


def _bundled_rows() -> np.ndarray | None:
    """scikit-learn's digits file read as its ``load_digits`` reads it (``np.loadtxt`` of the
    gzipped CSV: 64 pixels, then the label, a row each), without importing
    ``sklearn.datasets``: 0.13 s of imports for a 1797-row file, a tenth of the default job's
    own time (bench/README.md, "Issue 40's targets, third sitting"). None where the file is not
    where scikit-learn keeps it (then its ``load_digits``)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        return None
    with gzip.open(path, mode="rt", encoding="utf-8") as text:
        return np.loadtxt(text, delimiter=",")
