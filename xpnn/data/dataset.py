"""The one host-side container every loader returns."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Validated host data: features (n, d), optional integer labels (n,).

    Parameters
    ----------
    X : numpy.ndarray
        Features (n, d), in the loader's dtype (uint8 for IDX, float for CSV/npz); finite and
        2-D.
    y : numpy.ndarray or None
        Labels (n,), or None.
    source : str
        Where the data came from (a path, a name), for messages.
    value_range : float
        The data's real maximum (255 for pixels, 16 for scikit-learn's digits), used for
        scaling.
    image_shape : tuple of int or None, default=None
        (rows, cols), so plots can draw rows as images; None when the features are not an
        image.
    labels_source : str or None, default=None
        The labels' file when not ``source`` (IDX).
    record : str, default="row"
        What a row is called in messages ("row", "record").
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
        """The number of features, d."""
        return self.X.shape[1]

    def subset(self, idx):
        """The rows ``idx`` as a new Dataset.

        Parameters
        ----------
        idx : numpy.ndarray
            Host integer array of row indices.

        Returns
        -------
        Dataset
            Those rows, every other field as it is.
        """
        y = None if self.y is None else self.y[idx]
        return dataclasses.replace(self, X=self.X[idx], y=y)
