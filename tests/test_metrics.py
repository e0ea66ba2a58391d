"""metrics: hand-computed cases, then scikit-learn as the oracle on random labels."""
import numpy as np
import pytest

from xpnn.errors import XpnnDataError
from xpnn.reports.metrics import confusion_matrix, format_report, per_class_report

# 3 classes, 6 samples; worked out by hand:
#   true 0: predicted 0, 1      true 1: predicted 1      true 2: predicted 2, 0, 2
Y_TRUE = [0, 0, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 2, 0, 2]
EXPECTED_CM = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(np.array(Y_TRUE), np.array(Y_PRED), 3)
    assert cm.dtype == np.int64
    assert cm.shape == (3, 3)
    np.testing.assert_array_equal(cm, EXPECTED_CM)


def test_confusion_matrix_counts_unseen_classes_as_zero():
    cm = confusion_matrix([0, 0], [0, 0], 4)
    np.testing.assert_array_equal(cm, [[2, 0, 0, 0]] + [[0] * 4] * 3)
    np.testing.assert_array_equal(confusion_matrix([], [], 2), np.zeros((2, 2), np.int64))


def test_per_class_report_by_hand():
    report = per_class_report(np.array(EXPECTED_CM))
    # precision = diag / column sum, recall = diag / row sum
    assert report["precision"] == pytest.approx([1 / 2, 1 / 2, 2 / 2])
    assert report["recall"] == pytest.approx([1 / 2, 1 / 1, 2 / 3])
    assert report["f1"] == pytest.approx([0.5, 2 / 3, 0.8])
    assert report["support"] == [2, 1, 3]
    assert all(type(v) is float for key in ("precision", "recall", "f1") for v in report[key])
    assert all(type(v) is int for v in report["support"])


def test_zero_division_gives_zero():
    # Class 1 never occurs and is never predicted; class 2 is predicted but never true.
    cm = np.array([[3, 0, 1], [0, 0, 0], [0, 0, 0]])
    report = per_class_report(cm)
    assert report["precision"] == [1.0, 0.0, 0.0]
    assert report["recall"] == [0.75, 0.0, 0.0]
    assert report["f1"] == pytest.approx([6 / 7, 0.0, 0.0])
    assert report["support"] == [4, 0, 0]


@pytest.mark.parametrize("seed", range(5))
def test_against_scikit_learn_on_random_labels(seed):
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle here")
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 12))
    y_true = rng.integers(0, n_classes, size=int(rng.integers(1, 300)))
    # Mostly right, sometimes wrong; a random class may go unpredicted, so 0/0 cases occur.
    y_pred = np.where(rng.random(y_true.size) < 0.6, y_true, rng.integers(0, n_classes, y_true.size))
    labels = list(range(n_classes))

    cm = confusion_matrix(y_true, y_pred, n_classes)
    np.testing.assert_array_equal(cm, metrics.confusion_matrix(y_true, y_pred, labels=labels))

    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    report = per_class_report(cm)
    np.testing.assert_allclose(report["precision"], precision, rtol=1e-12, atol=0)
    np.testing.assert_allclose(report["recall"], recall, rtol=1e-12, atol=0)
    np.testing.assert_allclose(report["f1"], f1, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(report["support"], support)


def test_format_report_is_a_readable_table():
    text = format_report(np.array(EXPECTED_CM), class_names=["cat", "dog", "bird"])
    lines = text.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert lines[1].split() == ["cat", "0.5000", "0.5000", "0.5000", "2"]
    assert lines[3].split() == ["bird", "1.0000", "0.6667", "0.8000", "3"]
    assert "accuracy 0.6667 (4/6)" in text
    matrix_header = next(i for i, line in enumerate(lines) if line.startswith("true \\ pred"))
    assert lines[matrix_header].split()[-3:] == ["cat", "dog", "bird"]
    assert lines[matrix_header + 3].split() == ["bird", "1", "0", "2"]
    # Columns line up: every matrix row is as wide as its header.
    widths = {len(line) for line in lines[matrix_header:matrix_header + 4]}
    assert len(widths) == 1


def test_format_report_default_names_and_wide_counts():
    cm = np.diag([1000, 5, 12345])
    text = format_report(cm)
    assert "12345" in text
    assert text.splitlines()[1].split()[0] == "0"


@pytest.mark.parametrize(
    ("y_true", "y_pred", "n_classes", "message"),
    [
        ([0, 1, 3], [0, 1, 2], 3, "y_true contains class 3, outside 0..2"),
        ([0, 1, 2], [0, -1, 2], 3, "y_pred contains class -1"),
        ([0, 1], [0, 1, 1], 3, "2 labels but y_pred has 3"),
        ([[0, 1]], [[0, 1]], 3, "must be 1-D"),
        ([0.5, 1.0], [0, 1], 3, "whole-number"),
        (["a", "b"], [0, 1], 3, "integer class indices"),
        ([0], [0], 0, "at least 1"),
    ],
)
def test_bad_labels_are_explained(y_true, y_pred, n_classes, message):
    with pytest.raises(XpnnDataError, match=message):
        confusion_matrix(y_true, y_pred, n_classes)


def test_whole_float_labels_are_accepted():
    cm = confusion_matrix(np.array([0.0, 1.0]), np.array([1, 1]), 2)
    np.testing.assert_array_equal(cm, [[0, 1], [0, 1]])


def test_bad_matrix_and_names_are_explained():
    with pytest.raises(XpnnDataError, match="square"):
        per_class_report(np.zeros((2, 3), np.int64))
    with pytest.raises(XpnnDataError, match="non-negative integer"):
        per_class_report(np.array([[1, -1], [0, 1]]))
    with pytest.raises(XpnnDataError, match="2 class names given for 3 classes"):
        format_report(np.eye(3, dtype=np.int64), class_names=["a", "b"])
