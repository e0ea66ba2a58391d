"""Feature scaling fitted on the training split, saved with the model, applied again later."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data.dataset import Dataset
from .errors import XpnnDataError


@dataclass(frozen=True)
class Preprocessing:
    """``scale``: X / value_range (pixels /255, digits /16). ``standardize``: (X - mean) / std."""

    kind: str
    value_range: float = 1.0
    mean: np.ndarray | None = None  # (d,) float64, standardize only
    std: np.ndarray | None = None

    def apply(self, X: np.ndarray, dtype: str) -> np.ndarray:
        """Host features in ``dtype`` (float32 stays float32: no float64 intermediate)."""
        out = np.asarray(X).astype(dtype, copy=True)
        if self.kind == "scale":
            out *= np.asarray(1.0 / self.value_range, dtype=dtype)
        else:
            out -= self.mean.astype(dtype)
            out *= (1.0 / self.std).astype(dtype)
        return out

    def metadata(self) -> dict:
        return {"kind": self.kind, "value_range": self.value_range}

    def tensors(self) -> dict:
        return {} if self.mean is None else {"preprocess/mean": self.mean,
                                            "preprocess/std": self.std}

    @classmethod
    def from_saved(cls, metadata: dict, tensors: dict) -> "Preprocessing":
        return cls(metadata["kind"], float(metadata["value_range"]),
                   tensors.get("preprocess/mean"), tensors.get("preprocess/std"))


def fit_preprocessing(train: Dataset, standardize: bool = False) -> Preprocessing:
    """Scaling by the data's real range, or mean/std of the training rows only."""
    if not standardize:
        if not train.value_range > 0:
            raise XpnnDataError(f"{train.source}: all features are zero; nothing to learn from")
        return Preprocessing("scale", float(train.value_range))
    mean = train.X.mean(axis=0, dtype=np.float64)
    std = train.X.std(axis=0, dtype=np.float64)
    std[std == 0.0] = 1.0  # constant pixels (image borders) stay 0 after centring
    return Preprocessing("standardize", float(train.value_range), mean, std)
