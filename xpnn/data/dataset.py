"""The one host-side container every loader returns."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Validated host data: features (n, d), optional integer labels (n,).

    ``X`` keeps the loader's dtype (uint8 for IDX, float for CSV/npz); it is
    finite and 2-D. ``value_range`` is the data's real maximum (255 for pixels,
    16 for scikit-learn's digits) used for scaling. ``image_shape`` lets plots
    draw rows as images; ``None`` when the features are not an image.
    """

    X: np.ndarray
    y: np.ndarray | None
    source: str
    value_range: float
    image_shape: tuple[int, int] | None = None
    labels_source: str | None = None  # the labels' file when not ``source`` (IDX)
    record: str = "row"  # what a row is called in messages ("row", "record")

    def __len__(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def subset(self, idx):
        """The rows ``idx`` (host integer array) as a new Dataset."""
        y = None if self.y is None else self.y[idx]
        return dataclasses.replace(self, X=self.X[idx], y=y)
