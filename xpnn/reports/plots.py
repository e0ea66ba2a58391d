"""PNG plots of a training run: history, confusion matrix, misclassified samples, first-layer weights.

matplotlib is optional and imported only inside these functions. Figures are built
with the object-oriented API on an Agg canvas (no pyplot), so nothing opens a
window, no global backend is switched under a caller's notebook, and no figure is
left registered anywhere. Each PNG is written atomically (temp file + os.replace).
"""
from __future__ import annotations

import io
import math
import os

import numpy as np

from ..errors import XpnnError, install_hint
from ..files.fileio import write_file_atomic
from .history import kept_epoch, training_seconds, validation_score
from .metrics import class_labels

_DPI = 110
_MISSING_MATPLOTLIB = f"plots need matplotlib: {install_hint('plots')}"


def require_matplotlib() -> None:
    """Fail now, before any training or writing, when --plots cannot be honoured."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise XpnnError(_MISSING_MATPLOTLIB)


def square_image_shape(n_features: int):
    """(s, s) when the features are a square image (784 -> 28x28, 64 -> 8x8), else None."""
    side = int(round(math.sqrt(n_features)))
    return (side, side) if side * side == n_features and side >= 4 else None


# --------------------------------------------------------------------------- history


def plot_history(history: list[dict], path, *, kept=None) -> None:
    """Two panels: loss and accuracy per epoch, train and (when present) validation, and on
    both the one epoch whose weights the model kept (``kept``; default: ``history.kept_epoch``).

    The title's time says what it counts: the epochs' own (the sum of the history's
    ``seconds``; ``xpnn train``'s summary prints it as "training"), not loading or evaluation.
    """
    if not history:
        raise XpnnError(f"cannot plot {path}: the training history is empty")
    figure = _new_figure(figsize=(11, 4.4))
    ax_loss, ax_acc = figure.subplots(1, 2)

    epochs = np.array([row["epoch"] for row in history], dtype=np.float64)
    has_validation = any(validation_score(row) is not None for row in history)
    kept = kept_epoch(history) if kept is None else int(kept)
    kept_label = (f"kept: epoch {kept} (best validation accuracy)" if has_validation
                  else f"kept: epoch {kept} (the last)")
    for ax, key, title, ylabel in (
        (ax_loss, "loss", "loss", "cross-entropy loss"),
        (ax_acc, "accuracy", "accuracy", "accuracy"),
    ):
        train = _column(history, key)
        val = _column(history, f"val_{key}")
        ax.plot(epochs, train, marker=_marker_for(len(train)), markersize=4, label="train")
        has_val = ~np.isnan(val)  # validation may run only every few epochs
        if has_val.any():
            ax.plot(epochs[has_val], val[has_val], marker=_marker_for(int(has_val.sum())),
                    markersize=4, label="validation")
        if has_validation or kept != int(epochs[-1]):
            ax.axvline(kept, color="grey", linestyle=":", linewidth=1, label=kept_label)
        ax.set_title(title, fontsize=13)
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=10)
        _integer_ticks(ax.xaxis)
    if np.nanmax(_column(history, "accuracy")) <= 1.0:
        _percent_ticks(ax_acc.yaxis)
    figure.suptitle(history_title(history), fontsize=14)
    _save_png(figure, path)


def history_title(history: list[dict]) -> str:
    """"training history: 20 epochs, 0.2 s of training (the epochs alone)"."""
    title = f"training history: {len(history)} epochs"
    if any(row.get("seconds") is not None for row in history):
        title += f", {training_seconds(history):.1f} s of training (the epochs alone)"
    return title


def _marker_for(n_points):
    """Dots on each point while they stay distinguishable; a plain line beyond that."""
    return "o" if n_points <= 40 else None


def _column(history, key):
    """One history column as floats, None (no validation that epoch) as NaN."""
    values = [row.get(key) for row in history]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


# --------------------------------------------------------------------------- confusion


def plot_confusion(cm: np.ndarray, path, class_names=None) -> None:
    """Heatmap of counts (rows true, columns predicted) with the count written in each cell."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise XpnnError(f"cannot plot {path}: confusion matrix must be square (k, k), got {cm.shape}")
    n_classes = cm.shape[0]
    names = class_labels(class_names, n_classes)
    # About 0.6 inch per cell keeps a 4-5 digit count readable at a fixed font size.
    side = min(max(5.5, 0.6 * n_classes + 2.5), 24)
    figure = _new_figure(figsize=(side + 1.0, side))
    ax = figure.subplots()

    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    colorbar = figure.colorbar(image, ax=ax, shrink=0.85)
    colorbar.set_label("count", fontsize=11)

    if n_classes <= 30:  # beyond that, the figure is capped and numbers no longer fit
        digits = len(str(int(cm.max())))
        font_size = 11 if digits <= 5 else 9
        for (row, col), count in np.ndenumerate(cm):
            ax.text(col, row, str(int(count)), ha="center", va="center", fontsize=font_size,
                    color=_text_colour_on(image, count))

    ticks = np.arange(n_classes)
    long_names = max(len(n) for n in names) > 3
    ax.set_xticks(ticks, names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_yticks(ticks, names)
    ax.tick_params(labelsize=10)
    ax.set_xlabel("predicted", fontsize=12)
    ax.set_ylabel("true", fontsize=12)
    total = int(cm.sum())
    accuracy = np.trace(cm) / total if total else 0.0
    ax.set_title(f"confusion matrix: {total} samples, accuracy {accuracy:.2%}", fontsize=13)
    _save_png(figure, path)


def _text_colour_on(image, value):
    """White text on dark cells, near-black on light ones (by the cell colour's luminance)."""
    red, green, blue, _alpha = image.cmap(image.norm(value))
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    if value == 0:
        return "0.6"  # zeros in grey so the real counts stand out
    return "white" if luminance < 0.5 else "0.1"


# --------------------------------------------------------------------------- samples


def plot_misclassified(images: np.ndarray, true, pred, path, class_names=None,
                       max_images=36) -> None:
    """A grid of up to ``max_images`` images (n, h, w), each titled "true X / pred Y"."""
    images = np.asarray(images)
    true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
    if images.ndim != 3:
        raise XpnnError(
            f"cannot plot {path}: misclassified images must be (n, height, width), "
            f"got shape {images.shape}"
        )
    if not (images.shape[0] == true.shape[0] == pred.shape[0]):
        raise XpnnError(
            f"cannot plot {path}: {images.shape[0]} images but {true.shape[0]} true and "
            f"{pred.shape[0]} predicted labels"
        )
    n_total = images.shape[0]
    if n_total == 0:
        figure = _new_figure(figsize=(6, 2.5))
        figure.text(0.5, 0.5, "no misclassified samples", ha="center", va="center", fontsize=16)
        _save_png(figure, path)
        return

    n_shown = min(n_total, int(max_images))
    shown = images[:n_shown]
    n_cols = math.ceil(math.sqrt(n_shown))
    n_rows = math.ceil(n_shown / n_cols)
    figure = _new_figure(figsize=(1.75 * n_cols, 1.95 * n_rows + 0.6))
    axes = np.atleast_1d(figure.subplots(n_rows, n_cols, squeeze=False)).reshape(-1)
    low, high = (0, 255) if shown.dtype == np.uint8 else (float(shown.min()), float(shown.max()))

    true_names = _label_names(path, true[:n_shown], class_names)
    pred_names = _label_names(path, pred[:n_shown], class_names)
    # Short names fit on one line; long ones (e.g. "T-shirt/top") get two, for every cell alike.
    fits_one_line = max(len(n) for n in true_names + pred_names) <= 4
    separator = " / " if fits_one_line else "\n"

    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index >= n_shown:
            continue
        ax.imshow(shown[index], cmap="gray_r", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(f"true {true_names[index]}{separator}pred {pred_names[index]}", fontsize=10)

    count = f"all {n_total}" if n_shown == n_total else f"first {n_shown} of {n_total}"
    figure.suptitle(f"misclassified samples ({count})", fontsize=13)
    _save_png(figure, path)


# --------------------------------------------------------------------------- weights


def plot_first_layer(w1: np.ndarray, image_shape, path, max_units=64) -> None:
    """Each of the first ``max_units`` columns of w1 (d, hidden) drawn as an image.

    Diverging colours, symmetric range per unit: red pixels push the unit up, blue down.
    """
    w1 = np.asarray(w1, dtype=np.float64)
    image_shape = tuple(int(s) for s in image_shape)
    if w1.ndim != 2 or w1.shape[0] != math.prod(image_shape):
        raise XpnnError(
            f"cannot plot {path}: first-layer weights of shape {w1.shape} do not match images "
            f"of shape {image_shape} ({math.prod(image_shape)} inputs expected)"
        )
    n_hidden = w1.shape[1]
    n_units = min(n_hidden, int(max_units))
    n_cols = math.ceil(math.sqrt(n_units))
    n_rows = math.ceil(n_units / n_cols)
    figure = _new_figure(figsize=(1.35 * n_cols, 1.5 * n_rows + 0.7))
    axes = np.atleast_1d(figure.subplots(n_rows, n_cols, squeeze=False)).reshape(-1)

    for unit, ax in enumerate(axes):
        ax.set_axis_off()
        if unit >= n_units:
            continue
        weights = w1[:, unit].reshape(image_shape)
        limit = float(np.max(np.abs(weights))) or 1.0
        ax.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"unit {unit}", fontsize=9)

    shown = f"all {n_hidden}" if n_units == n_hidden else f"first {n_units} of {n_hidden}"
    figure.suptitle(
        f"first-layer weights, {shown} units\n"
        "red = positive, blue = negative (each unit on its own symmetric scale)",
        fontsize=12,
    )
    _save_png(figure, path)


# --------------------------------------------------------------------------- helpers


def _new_figure(figsize):
    """A Figure on an Agg canvas; raises the install hint when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise XpnnError(_MISSING_MATPLOTLIB) from None
    figure = Figure(figsize=figsize, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure, path):
    """Render to PNG bytes, then replace ``path`` atomically; frees the figure either way."""
    path = os.fspath(path)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    finally:
        figure.clear()
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise XpnnError(f"cannot write plot {path}: directory {parent} does not exist")
    try:
        write_file_atomic(path, buffer.getvalue())
    except OSError as err:
        raise XpnnError(f"cannot write plot {path}: {err.strerror or err}") from err


def _label_names(path, labels, class_names):
    """Class indices as display names (the index itself when no names are given)."""
    if class_names is None:
        return [str(int(label)) for label in labels]
    try:
        return [str(class_names[int(label)]) for label in labels]
    except IndexError:
        raise XpnnError(
            f"cannot plot {path}: label {int(max(labels))} has no entry among "
            f"{len(class_names)} class names"
        ) from None


def _integer_ticks(axis):
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _percent_ticks(axis):
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0))
