"""Feature scaling fitted on the training split, saved with the model, applied again later."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset


@dataclass(frozen=True)
class Preprocessing:
    """``scale``: X / value_range (pixels /255, digits /16). ``standardize``: (X - mean) / std."""

    kind: str
    value_range: float = 1.0
    mean: np.ndarray | None = None  # (d,) float64, standardize only
    std: np.ndarray | None = None

    def apply(self, X: np.ndarray, dtype: str) -> np.ndarray:
        """Host features in ``dtype`` (float32 stays float32: no float64 intermediate).

        When ``X`` or the scale factors do not fit ``dtype`` (float64 data beyond float32,
        a range of 1e-40 whose reciprocal overflows float32), the arithmetic runs in
        float64 and only the result is cast. Values that still overflow become inf
        without a numeric warning; callers check the result (see commands.common).
        """
        X = np.asarray(X)
        target = np.dtype(dtype)
        with np.errstate(all="ignore"):
            if self._fits(X, target):
                shift, factor = self.affine(target)
                out = X.astype(target, copy=True)
                if shift is not None:
                    out -= shift
                out *= factor
                return out
            wide = X.astype(np.float64)
            if self.kind == "scale":
                wide /= self.value_range
            else:
                wide -= self.mean
                wide /= self.std
            return wide.astype(target)

    def batch_scaling(self, X: np.ndarray, dtype: str):
        """(shift or None, factor) in ``dtype`` for ``fit(X, ..., scaling=...)``, which casts
        each batch of X and scales it with the arithmetic ``apply`` does, so a fit on X with
        them equals one on ``apply(X)`` bit for bit; None where ``apply`` needs float64
        arithmetic (then apply it to the whole set)."""
        if not self._fits(np.asarray(X[:0]), np.dtype(dtype)):
            return None
        return self.affine(dtype)

    def affine(self, dtype):
        """(shift or None, factor) in ``dtype``: the features are (X - shift) * factor, the
        arithmetic ``apply`` does in ``dtype`` (and the ONNX export puts in its graph)."""
        target = np.dtype(dtype)
        with np.errstate(all="ignore"):
            if self.kind == "scale":
                return None, np.asarray(1.0 / self.value_range, dtype=target)
            return self.mean.astype(target), (1.0 / self.std).astype(target)

    def _fits(self, X, target) -> bool:
        """True when X and the scale factors are exact enough in ``target`` to skip float64."""
        small_ints = X.dtype.kind in "biu" and X.dtype.itemsize <= 2  # pixels: exact in float32
        if not (target == np.float64 or small_ints or X.dtype == target):
            return False
        info = np.finfo(target)
        if self.kind == "scale":
            factors = np.array([1.0 / self.value_range])
        else:
            factors = np.concatenate([1.0 / self.std, np.abs(self.mean)])
            factors = factors[factors != 0.0]
        with np.errstate(all="ignore"):
            return bool(np.all((factors >= info.tiny) & (factors <= info.max)))

    def metadata(self) -> dict:
        return {"kind": self.kind, "value_range": self.value_range}

    def tensors(self) -> dict:
        """Its arrays by name (the model file puts them under its preprocess/ group)."""
        return {} if self.mean is None else {"mean": self.mean, "std": self.std}

    @classmethod
    def from_saved(cls, metadata: dict, tensors: dict) -> "Preprocessing":
        """From ``metadata()`` and ``tensors()`` as saved."""
        return cls(metadata["kind"], float(metadata["value_range"]), tensors.get("mean"),
                   tensors.get("std"))


def fit_preprocessing(train: Dataset, standardize: bool = False) -> Preprocessing:
    """Scaling by the data's real range, or mean/std of the training rows only."""
    if not standardize:
        if not train.value_range > 0:
            raise XpnnDataError(f"{train.source}: all features are zero; nothing to learn from")
        return Preprocessing("scale", float(train.value_range))
    with np.errstate(all="ignore"):
        mean = train.X.mean(axis=0, dtype=np.float64)
        std = train.X.std(axis=0, dtype=np.float64)
    finite = np.isfinite(mean) & np.isfinite(std)
    if not finite.all():
        col = int(np.argmin(finite))
        raise XpnnDataError(f"{train.source}, feature {col} (from 0): values too large to "
                            "standardize (their mean or std overflows float64)")
    std[std == 0.0] = 1.0  # constant pixels (image borders) stay 0 after centring
    return Preprocessing("standardize", float(train.value_range), mean, std)
