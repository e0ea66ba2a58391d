"""scikit-learn's bundled 8x8 digits: 1797 samples, pixel values 0..16, no download."""
from __future__ import annotations

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset

DIGITS_MAX = 16.0  # the real pixel range of load_digits (not 255)


def load_digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a core dependency
        raise XpnnDataError(
            "--dataset digits needs scikit-learn: pip install scikit-learn"
        ) from exc
    bunch = sklearn_load_digits()
    return Dataset(
        X=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        source="scikit-learn digits",
        value_range=DIGITS_MAX,
        image_shape=(8, 8),
    )
