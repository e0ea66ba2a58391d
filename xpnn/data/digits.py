"""scikit-learn's bundled 8x8 digits: 1797 samples, pixel values 0..16, no download."""
from __future__ import annotations

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
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a core dependency
        raise XpnnDataError(
            f"{spelled('dataset', 'digits')} needs scikit-learn: pip install scikit-learn"
        ) from exc
    bunch = sklearn_load_digits()
    # value_range comes out as the data's real maximum, 16 (not 255)
    return arrays_to_dataset(bunch.data.astype(np.float32), bunch.target, "scikit-learn digits",
                             n_classes=n_classes, image_shape=(8, 8))
