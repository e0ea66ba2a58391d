"""plots: each function writes a real PNG atomically; bad inputs and missing matplotlib are explained."""
import os
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'xpnn[plots]')")

from xpnn.files import fileio

from xpnn.reports import plots  # noqa: E402
from xpnn.errors import XpnnError  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_real_png(path, min_side=150):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    from matplotlib.image import imread

    pixels = imread(path)  # (height, width, channels) floats in [0, 1]
    assert pixels.ndim == 3
    assert min(pixels.shape[:2]) >= min_side
    assert pixels[..., :3].std() > 0.01  # not a blank canvas
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no temp files left


def _history(n_epochs, with_val):
    rows = []
    for epoch in range(1, n_epochs + 1):
        rows.append({
            "epoch": epoch,
            "loss": 2.0 / epoch,
            "accuracy": 1 - 0.5 / epoch,
            "val_loss": 2.2 / epoch if with_val else None,
            "val_accuracy": 1 - 0.6 / epoch if with_val else None,
            "seconds": 0.5,
        })
    return rows


@pytest.mark.parametrize("with_val", [True, False])
def test_plot_history(tmp_path, with_val):
    path = tmp_path / "history.png"
    plots.plot_history(_history(10, with_val), path)
    _assert_real_png(path)


def test_plot_history_with_validation_only_some_epochs(tmp_path):
    history = _history(12, with_val=True)
    for row in history:
        if row["epoch"] % 4:
            row["val_loss"] = row["val_accuracy"] = None
    path = tmp_path / "history.png"
    plots.plot_history(history, str(path))  # str paths work too
    _assert_real_png(path)


def test_plot_history_empty_is_explained(tmp_path):
    with pytest.raises(XpnnError, match="history is empty"):
        plots.plot_history([], tmp_path / "h.png")


@pytest.mark.parametrize("class_names", [None, ["zero", "one", "two", "three"]])
def test_plot_confusion(tmp_path, class_names):
    cm = np.array([[950, 3, 0, 12], [1, 1000, 7, 0], [0, 0, 0, 0], [40, 2, 5, 880]])
    path = tmp_path / "confusion.png"
    plots.plot_confusion(cm, path, class_names=class_names)
    _assert_real_png(path)


def test_plot_confusion_bad_input(tmp_path):
    with pytest.raises(XpnnError, match="square"):
        plots.plot_confusion(np.zeros((2, 3), np.int64), tmp_path / "c.png")
    with pytest.raises(XpnnError, match="1 class names given for 2 classes"):
        plots.plot_confusion(np.eye(2, dtype=np.int64), tmp_path / "c.png", class_names=["a"])


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_plot_misclassified(tmp_path, dtype):
    rng = np.random.default_rng(0)
    images = (rng.random((40, 28, 28)) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    true = rng.integers(0, 10, 40)
    pred = (true + 1) % 10
    path = tmp_path / "wrong.png"
    plots.plot_misclassified(images, true, pred, path, max_images=36)
    _assert_real_png(path)


def test_plot_misclassified_with_long_class_names(tmp_path):
    images = np.random.default_rng(1).random((5, 8, 8))
    names = ["T-shirt/top", "Trouser", "Pullover"]
    path = tmp_path / "wrong.png"
    plots.plot_misclassified(images, [0, 1, 2, 0, 1], [1, 2, 0, 2, 0], path, class_names=names)
    _assert_real_png(path)


def test_plot_misclassified_with_no_images(tmp_path):
    path = tmp_path / "wrong.png"
    plots.plot_misclassified(np.zeros((0, 28, 28)), [], [], path)
    _assert_real_png(path)


def test_plot_misclassified_bad_input(tmp_path):
    with pytest.raises(XpnnError, match=r"\(n, height, width\)"):
        plots.plot_misclassified(np.zeros((3, 784)), [0, 1, 2], [1, 2, 0], tmp_path / "w.png")
    with pytest.raises(XpnnError, match="3 images but 2 true"):
        plots.plot_misclassified(np.zeros((3, 4, 4)), [0, 1], [1, 2, 0], tmp_path / "w.png")
    with pytest.raises(XpnnError, match="label 5 has no entry"):
        plots.plot_misclassified(np.zeros((1, 4, 4)), [5], [0], tmp_path / "w.png",
                                 class_names=["a", "b"])


def test_plot_first_layer(tmp_path):
    w1 = np.random.default_rng(0).standard_normal((784, 20)).astype(np.float32)
    w1[:, 3] = 0.0  # an all-zero unit must not divide by zero
    path = tmp_path / "w1.png"
    plots.plot_first_layer(w1, (28, 28), path, max_units=16)
    _assert_real_png(path)


def test_plot_first_layer_shape_mismatch(tmp_path):
    with pytest.raises(XpnnError, match=r"\(64, 5\) do not match images of shape \(28, 28\)"):
        plots.plot_first_layer(np.zeros((64, 5)), (28, 28), tmp_path / "w1.png")


def test_failed_write_keeps_old_png_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "history.png"
    plots.plot_history(_history(3, with_val=False), path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        plots.plot_history(_history(5, with_val=True), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["history.png"]


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(XpnnError, match="nowhere.*does not exist"):
        plots.plot_history(_history(2, with_val=False), tmp_path / "nowhere" / "h.png")


def test_missing_matplotlib_gives_install_hint(tmp_path, monkeypatch):
    for module in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import` raise ImportError
    with pytest.raises(XpnnError, match=r"plots need matplotlib: pip install -e '\.\[plots\]'"):
        plots.plot_history(_history(2, with_val=False), tmp_path / "h.png")
    assert os.listdir(tmp_path) == []


def _early_stopped_history():
    """Validation loss lowest at epoch 20, validation accuracy best at epoch 14: the run keeps
    epoch 14's weights (early stopping watches the accuracy)."""
    history = _history(20, with_val=True)
    for row in history:
        row["val_accuracy"] = 0.90 + 0.001 * row["epoch"]
        row["seconds"] = 0.01
    history[13]["val_accuracy"] = 0.99
    return history


def test_history_marks_the_kept_epoch_on_both_panels(tmp_path, monkeypatch):
    """One best epoch, the kept one, named as such on both panels (the loss panel once
    marked the lowest validation loss instead); the title's time says what it counts."""
    history = _early_stopped_history()
    assert plots.kept_epoch(history) == 14
    assert plots.kept_epoch(_history(5, with_val=False)) == 5  # no validation: the last
    drawn = {}
    monkeypatch.setattr(plots, "_save_png", lambda figure, path: drawn.update(figure=figure))
    plots.plot_history(history, tmp_path / "history.png")
    figure = drawn["figure"]
    for ax in figure.axes:
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels == ["train", "validation", "kept: epoch 14 (best validation accuracy)"]
        marks = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert [list(line.get_xdata()) for line in marks] == [[14, 14]]
    assert figure._suptitle.get_text() == (
        "training history: 20 epochs, 0.2 s of training (the epochs alone)")
    plots.plot_history(history, tmp_path / "history.png", kept=20)  # the caller knows best
    labels = [t.get_text() for t in drawn["figure"].axes[0].get_legend().get_texts()]
    assert labels[-1] == "kept: epoch 20 (best validation accuracy)"


def test_train_plots_and_summary_agree_on_the_kept_epoch_and_time(tmp_path):
    """xpnn train --early-stopping --plots: history.png's title time is the summary's
    "of training" time (the epochs alone), and its kept epoch is the model's."""
    from clirun import xpnn

    from xpnn.saving.checkpoint import load_model

    result = xpnn("train", "--early-stopping", "--epochs", "12", "--hidden", "32",
                  "--plots", tmp_path, "--save", tmp_path / "m.safetensors", "--quiet")
    assert result.returncode == 0, result.stderr
    model, _, _ = load_model(tmp_path / "m.safetensors")
    training = sum(row["seconds"] for row in model.history_)
    assert f"s: {training:.1f} s of training, " in result.stdout
    assert plots.history_title(model.history_).endswith(
        f"{training:.1f} s of training (the epochs alone)")
