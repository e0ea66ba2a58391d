"""NumPy ``.npz`` archives holding ``X`` (and optionally ``y``), plus the array checks
every loader shares: finite features, integer labels in range, the value range.

The shared checks live here because an ``.npz`` file *is* just the two arrays; the
CSV and IDX loaders run their own format-specific checks first (to name a line or
a record) and then build their Dataset through :func:`arrays_to_dataset`.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset

PIXEL_MAX = 255.0  # value_range of integer pixel data in [0, 255]


def value_range_of(features: np.ndarray) -> float:
    """The data's real range: 255 for uint8 pixels, else max |x| (1.0 if all zero).

    Kaggle's pixel CSVs reach 255; digits exported as CSV stay 0..16 and are scaled by 16.
    """
    if features.size == 0:
        return 1.0
    if features.dtype == np.uint8:
        return PIXEL_MAX
    low, high = float(features.min()), float(features.max())
    largest = max(abs(low), abs(high))
    return largest if largest > 0.0 else 1.0


def first_non_finite(features: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN or inf in a 2-D array, or None when all finite."""
    if features.dtype.kind != "f":
        return None
    bad = ~np.isfinite(features)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)


def first_bad_label(labels: np.ndarray, n_classes: int | None) -> tuple[int, str] | None:
    """(index, what is wrong) for the first label that is not an integer in [0, n_classes)."""
    values = labels.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
        if n_classes is not None:
            bad |= values >= n_classes
    if not bad.any():
        return None
    index = int(np.argmax(bad))
    value = float(labels[index])
    is_integer = np.isfinite(value) and value == np.round(value)
    shown = int(value) if is_integer else value
    if not is_integer:
        problem = f"label {shown!r} is not an integer"
    elif value < 0:
        problem = f"label {shown} is negative"
    else:
        problem = (
            f"label {shown} is out of range for {n_classes} classes (expected 0..{n_classes - 1})"
        )
    return index, problem


def arrays_to_dataset(
    features: np.ndarray,
    labels: np.ndarray | None,
    source: str,
    *,
    n_classes: int | None = None,
    image_shape: tuple[int, int] | None = None,
    record: str = "row",
) -> Dataset:
    """Check host arrays and wrap them: X 2-D numeric finite, y integer (n,) or None.

    ``record`` names a row in error messages ("row", "record"); indices count from 0.
    """
    if features.dtype.kind == "b":
        features = features.astype(np.uint8)
    if features.dtype.kind not in "iuf":
        raise XpnnDataError(f"{source}: X has dtype {features.dtype}; expected numbers")
    if features.ndim != 2:
        raise XpnnDataError(
            f"{source}: X must be 2-D (samples, features), got shape {features.shape}"
        )
    n_samples, n_features = features.shape
    if n_samples == 0:
        raise XpnnDataError(f"{source}: no samples (X has 0 rows)")
    if n_features == 0:
        raise XpnnDataError(f"{source}: no features (X has 0 columns)")
    bad_cell = first_non_finite(features)
    if bad_cell is not None:
        row, col = bad_cell
        raise XpnnDataError(
            f"{source}, {record} {row} (from 0), feature {col}: "
            f"{features[row, col]} is not a finite number"
        )
    if labels is not None:
        labels = _checked_labels(labels, n_samples, source, n_classes, record)
    return Dataset(
        X=features,
        y=labels,
        source=source,
        value_range=value_range_of(features),
        image_shape=image_shape,
    )


def _checked_labels(labels, n_samples, source, n_classes, record) -> np.ndarray:
    if labels.dtype.kind not in "iuf":
        raise XpnnDataError(
            f"{source}: labels have dtype {labels.dtype}; expected integer class labels"
        )
    if labels.ndim != 1:
        raise XpnnDataError(f"{source}: labels must be 1-D (samples,), got shape {labels.shape}")
    if labels.shape[0] != n_samples:
        raise XpnnDataError(
            f"{source}: {n_samples} samples in X but {labels.shape[0]} labels; they must match"
        )
    bad_label = first_bad_label(labels, n_classes)
    if bad_label is not None:
        index, problem = bad_label
        raise XpnnDataError(f"{source}, {record} {index} (from 0): {problem}")
    return labels.astype(np.int64)


def load_npz(
    path: str | Path,
    *,
    n_classes: int | None = None,
    need_labels: bool = True,
) -> Dataset:
    """Arrays ``X`` (n, d) or (n, h, w) and optional ``y`` (n,) from an .npz; never unpickles."""
    source = str(path)
    if not _is_zip(path, source):
        raise XpnnDataError(
            f"{source}: not an .npz archive (a zip of .npy arrays, as np.savez writes)"
        )
    try:
        # np.load is handed an open file: on a damaged archive it would leak its own handle
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            names = list(archive.files)
            if "X" not in names:
                listed = ", ".join(names) if names else "none"
                raise XpnnDataError(f"{source}: no array named 'X' (arrays found: {listed})")
            features = archive["X"]
            labels = archive["y"] if "y" in names else None
    except XpnnDataError:
        raise
    except ValueError as exc:  # object arrays would need pickle, which is never allowed here
        reason = "it holds object arrays, which would need pickle" if "pickle" in str(exc) else exc
        raise XpnnDataError(f"{source}: cannot read the arrays safely ({reason})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise XpnnDataError(f"{source}: not a readable .npz archive ({exc})") from exc

    if labels is None and need_labels:
        raise XpnnDataError(f"{source}: no array named 'y', and labels are needed here")
    image_shape = None
    if features.ndim == 3:  # (n, h, w) images
        image_shape = (int(features.shape[1]), int(features.shape[2]))
        features = features.reshape(features.shape[0], -1)
    elif features.ndim != 2:
        raise XpnnDataError(
            f"{source}: X must be 2-D (samples, features) or 3-D (samples, height, width), "
            f"got shape {features.shape}"
        )
    return arrays_to_dataset(features, labels, source, n_classes=n_classes, image_shape=image_shape)


def _is_zip(path, source) -> bool:
    try:
        with open(path, "rb") as raw:
            return raw.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty zip
    except FileNotFoundError as exc:
        raise XpnnDataError(f"{source}: no such file") from exc
    except OSError as exc:
        raise XpnnDataError(f"{source}: cannot read ({exc.strerror or exc})") from exc
