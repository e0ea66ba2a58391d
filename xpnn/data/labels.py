"""Class labels, checked exactly: integers stay integers, class names stay text.

A label array is either int64 (class numbers, never negative, below ``n_classes`` when
that is given) or a NumPy unicode array of class names. Labels never pass through a
float: a CSV cell ``16777217`` stays 16777217 (float32 would make it 16777216), and an
npz ``y`` of uint64 2**64-1 or float 1e19 is refused, not wrapped into int64.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np

from ..errors import XpnnDataError, spelled

INT64_MAX = int(np.iinfo(np.int64).max)


def parse_label_cells(cells: list[str]) -> tuple[np.ndarray | None, int | None, str | None]:
    """(labels, None, None) from CSV label cells, or (None, bad index, problem).

    Every cell an integer ("7", "+7", "7.0", "7e0"): int64 labels. Any cell that is not a
    number: the whole column is class names, kept verbatim (a unicode array). A number
    that is not an integer ("2.5", "nan") or beyond int64 is a problem at its index.
    """
    numbers = [_decimal(cell) for cell in cells]
    if any(number is None for number in numbers):  # a name: the column holds class names
        for index, cell in enumerate(cells):
            if not cell:
                return None, index, "empty label cell"
        return np.array(cells, dtype=str), None, None
    values = []
    for index, (cell, number) in enumerate(zip(cells, numbers)):
        problem = _integer_problem(cell, number)
        if problem is not None:
            return None, index, problem
        values.append(int(number))
    return np.array(values, dtype=np.int64), None, None


def _decimal(cell: str) -> Decimal | None:
    """The cell as an exact decimal number, or None when it is not a number."""
    if not cell or "_" in cell:  # Decimal accepts "1_0"; a CSV reader should not
        return None
    try:
        return Decimal(cell)
    except (InvalidOperation, ValueError):
        return None


def _integer_problem(cell: str, number: Decimal) -> str | None:
    if not number.is_finite():
        return f"label {cell!r} is not an integer"
    if number.adjusted() > 19:  # more than 20 digits: far beyond int64 (and cheap to test)
        return f"label {cell!r} is out of range (labels must fit in int64)"
    if number != number.to_integral_value():
        return f"label {cell!r} is not an integer"
    if int(number) > INT64_MAX:
        return f"label {cell!r} is out of range (labels must fit in int64)"
    return None


def first_bad_label(labels: np.ndarray, n_classes: int | None) -> tuple[int, str] | None:
    """(index, what is wrong) for the first numeric label that is not a class number.

    A class number is an integer in [0, n_classes) (or [0, 2**63) without n_classes).
    Integer arrays are compared as integers (uint64 2**64-1 is out of range, not -1);
    float arrays must hold integral values below 2**63.
    """
    if labels.size == 0:
        return None
    if labels.dtype.kind in "iu":
        return _first_bad_integer(labels, n_classes)
    values = labels.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
        bad |= values >= 2.0**63
        if n_classes is not None:
            bad |= values >= n_classes
    if not bad.any():
        return None
    index = int(np.argmax(bad))
    value = float(values[index])
    if not (np.isfinite(value) and value == np.round(value)):
        return index, f"label {value!r} is not an integer"
    if value < 0:
        return index, f"label {int(value)} is negative"
    if value >= 2.0**63:
        return index, f"label {value:g} is out of range (labels must fit in int64)"
    return index, _out_of_range(int(value), n_classes)


def _first_bad_integer(labels, n_classes):
    negative = labels < 0 if labels.dtype.kind == "i" else np.zeros(labels.shape, bool)
    too_big = labels > INT64_MAX if labels.dtype == np.uint64 else np.zeros(labels.shape, bool)
    if n_classes is not None:
        too_big = too_big | (labels >= n_classes)
    bad = negative | too_big
    if not bad.any():
        return None
    index = int(np.argmax(bad))
    value = int(labels[index])
    if value < 0:
        return index, f"label {value} is negative"
    if value > INT64_MAX:
        return index, f"label {value} is out of range (labels must fit in int64)"
    return index, _out_of_range(value, n_classes)


def _out_of_range(value, n_classes):
    return f"label {value} is out of range for {n_classes} classes (expected 0..{n_classes - 1})"


def check_labels(labels: np.ndarray, n_samples: int, source: str, n_classes: int | None,
                 where) -> np.ndarray:
    """int64 class numbers or a unicode array of class names, one per sample.

    ``where(index)`` names a label's place in messages ("line 7", "row 3 (from 0)").
    """
    if labels.ndim != 1:
        raise XpnnDataError(f"{source}: labels must be 1-D (samples,), got shape {labels.shape}")
    if labels.shape[0] != n_samples:
        raise XpnnDataError(
            f"{source}: {n_samples} samples in X but {labels.shape[0]} labels; they must match"
        )
    if labels.dtype.kind == "U":
        if n_classes is not None:
            shown = ", ".join(repr(name) for name in labels[:3].tolist())
            shown += ", ..." if labels.shape[0] > 3 else ""
            raise XpnnDataError(
                f"{source}: the labels are class names ({shown}); a class count "
                f"({spelled('n_classes', n_classes)}) needs integer labels 0..{n_classes - 1}"
            )
        return labels
    if labels.dtype.kind not in "iuf":
        raise XpnnDataError(
            f"{source}: labels have dtype {labels.dtype}; expected integer class labels "
            "or class names (text)"
        )
    bad_label = first_bad_label(labels, n_classes)
    if bad_label is not None:
        index, problem = bad_label
        raise XpnnDataError(f"{source}, {where(index)}: {problem}")
    return labels.astype(np.int64)
