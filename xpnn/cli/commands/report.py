"""Plots and the classification report for a model's predictions on a labelled split."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...backend.devices import as_host_array
from ...errors import XpnnDataError
from ...reports.metrics import confusion_matrix, format_report, per_class_report


def class_names(clf):
    return [str(label) for label in as_host_array(clf.classes_).tolist()]


def model_kept_epoch(clf) -> int:
    """The epoch whose weights ``clf`` predicts with: early stopping's best validation
    epoch, else the last."""
    state = clf.state_
    if clf.early_stopping and state.best_params is not None:
        return int(state.best_epoch)
    return int(clf.history_[-1]["epoch"])


def classification_summary(clf, data, predicted):
    """(confusion matrix, per-class report dict, text table) for host labels."""
    classes = as_host_array(clf.classes_)
    true_idx = np.searchsorted(classes, data.y)
    pred_idx = np.searchsorted(classes, predicted)
    cm = confusion_matrix(true_idx, pred_idx, classes.size)
    return cm, per_class_report(cm), format_report(cm, class_names(clf))


def write_plots(directory, clf, data, predicted, *, history=True) -> list[str]:
    """PNGs in ``directory``: curves, confusion matrix, misclassified images, first layer."""
    from ...reports import plots

    image_shape = data.image_shape or plots.square_image_shape(data.n_features)
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XpnnDataError(f"--plots {directory}: cannot create it ({exc.strerror})") from exc
    written = []
    if history and clf.history_:
        plots.plot_history(clf.history_, out / "history.png", kept=model_kept_epoch(clf))
        written.append(out / "history.png")
    cm, _, _ = classification_summary(clf, data, predicted)
    plots.plot_confusion(cm, out / "confusion.png", class_names(clf))
    written.append(out / "confusion.png")
    if image_shape is not None:
        wrong = np.flatnonzero(predicted != data.y)
        images = data.X[wrong].reshape(-1, *image_shape)
        plots.plot_misclassified(images, data.y[wrong], predicted[wrong],
                                 out / "misclassified.png", class_names(clf))
        plots.plot_first_layer(as_host_array(clf.params_["w1"]), image_shape,
                               out / "first_layer.png")
        written += [out / "misclassified.png", out / "first_layer.png"]
    return [str(path) for path in written]
