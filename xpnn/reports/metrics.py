"""Host-side classification metrics from integer labels (NumPy in, NumPy/Python out)."""
from __future__ import annotations

import numpy as np

from ..errors import XpnnDataError


def confusion_matrix(y_true, y_pred, n_classes) -> np.ndarray:
    """Counts (n_classes, n_classes) int64: row = true class, column = predicted class."""
    n_classes = int(n_classes)
    if n_classes < 1:
        raise XpnnDataError(f"confusion_matrix: n_classes must be at least 1, got {n_classes}")
    y_true = _checked_labels("y_true", y_true, n_classes)
    y_pred = _checked_labels("y_pred", y_pred, n_classes)
    if y_true.shape != y_pred.shape:
        raise XpnnDataError(
            f"confusion_matrix: y_true has {y_true.shape[0]} labels but y_pred has "
            f"{y_pred.shape[0]}; they must describe the same samples"
        )
    # Each (true, pred) pair gets one flat cell index; bincount counts them all at once.
    cell = y_true * n_classes + y_pred
    counts = np.bincount(cell, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def _checked_labels(name, labels, n_classes):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise XpnnDataError(
            f"confusion_matrix: {name} must be 1-D class indices, got shape {labels.shape}"
        )
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise XpnnDataError(
                f"confusion_matrix: {name} must hold whole-number class indices, "
                "found fractional or non-finite values"
            )
    elif labels.dtype.kind not in "iub":
        raise XpnnDataError(
            f"confusion_matrix: {name} must hold integer class indices, got dtype {labels.dtype}"
        )
    labels = labels.astype(np.int64)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise XpnnDataError(
            f"confusion_matrix: {name} contains class {bad}, outside 0..{n_classes - 1}; "
            "check n_classes or the labels"
        )
    return labels


def per_class_report(cm) -> dict:
    """Precision, recall, F1 and support per class, as plain Python lists; 0/0 counts as 0.0."""
    cm = _checked_matrix(cm)
    true_pos = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)  # samples whose true class is k
    predicted = cm.sum(axis=0)  # samples predicted as k
    false_pos = predicted - true_pos
    false_neg = support - true_pos
    precision = _safe_divide(true_pos, predicted)
    recall = _safe_divide(true_pos, support)
    # F1 = 2PR/(P+R) = 2TP/(2TP+FP+FN); the second form has no 0/0 when TP = 0.
    f1 = _safe_divide(2 * true_pos, 2 * true_pos + false_pos + false_neg)
    return {
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }


def _safe_divide(numerator, denominator):
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def _checked_matrix(cm):
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise XpnnDataError(f"confusion matrix must be square (k, k) with k >= 1, got {cm.shape}")
    if cm.dtype.kind not in "iu" or (cm.size and cm.min() < 0):
        raise XpnnDataError("confusion matrix must hold non-negative integer counts")
    return cm.astype(np.int64)


def format_report(cm, class_names=None) -> str:
    """A text table: precision/recall/F1/support per class, then the labelled confusion matrix."""
    cm = _checked_matrix(cm)
    n_classes = cm.shape[0]
    names = class_labels(class_names, n_classes)
    report = per_class_report(cm)
    total = int(cm.sum())
    accuracy = float(np.trace(cm)) / total if total else 0.0

    corner = "true \\ pred"
    name_width = max(len("macro avg"), len(corner), *(len(n) for n in names))
    lines = [f"{'class':<{name_width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"]
    for k, name in enumerate(names):
        lines.append(
            f"{name:<{name_width}}  {report['precision'][k]:9.4f}  {report['recall'][k]:6.4f}"
            f"  {report['f1'][k]:6.4f}  {report['support'][k]:7d}"
        )
    macro = {key: float(np.mean(report[key])) for key in ("precision", "recall", "f1")}
    lines.append(
        f"{'macro avg':<{name_width}}  {macro['precision']:9.4f}  {macro['recall']:6.4f}"
        f"  {macro['f1']:6.4f}  {total:7d}"
    )
    lines.append(f"accuracy {accuracy:.4f} ({int(np.trace(cm))}/{total})")
    lines.append("")
    lines.append("confusion matrix (rows = true class, columns = predicted class)")

    cell_width = max(len(str(int(cm.max()))), *(len(n) for n in names))
    header = f"{corner:<{name_width}}" + "".join(f"  {n:>{cell_width}}" for n in names)
    lines.append(header)
    for name, row in zip(names, cm):
        lines.append(f"{name:<{name_width}}" + "".join(f"  {int(v):>{cell_width}d}" for v in row))
    return "\n".join(lines)


def class_labels(class_names, n_classes):
    """Class names as strings, 0..k-1 when none are given; a wrong count is an error."""
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    names = [str(n) for n in class_names]
    if len(names) != n_classes:
        raise XpnnDataError(
            f"{len(names)} class names given for {n_classes} classes"
        )
    return names
