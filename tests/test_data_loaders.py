"""Every loader on small generated files: values, dtypes, shapes, image_shape, value_range."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datagen import (
    STANDARD_NAMES,
    kaggle_header,
    make_images,
    make_labels,
    write_csv,
    write_idx,
    write_idx_dir,
)

from xpnn.data import (
    DataSplits,
    Dataset,
    load_csv,
    load_idx,
    load_idx_dir,
    load_npz,
    load_source,
    read_idx,
)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def pixels_and_labels(rng):
    pixels = rng.integers(0, 256, size=(6, 784))  # (n, 784), Kaggle's layout
    labels = rng.integers(0, 10, size=6)
    return pixels, labels


# ---------------------------------------------------------------- CSV


def test_kaggle_train_csv_with_header(tmp_path, pixels_and_labels):
    pixels, labels = pixels_and_labels
    path = write_csv(tmp_path / "train.csv", np.column_stack([labels, pixels]), kaggle_header(784))
    data = load_csv(path)
    assert isinstance(data, Dataset)
    assert data.X.shape == (6, 784) and data.X.dtype == np.float32
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.X, pixels)
    np.testing.assert_array_equal(data.y, labels)
    assert data.value_range == 255.0
    assert data.source == str(path)


def test_kaggle_test_csv_without_labels(tmp_path, pixels_and_labels):
    pixels, _ = pixels_and_labels
    path = write_csv(tmp_path / "test.csv", pixels, kaggle_header(784, labeled=False))
    data = load_csv(path, need_labels=False)
    assert data.y is None
    np.testing.assert_array_equal(data.X, pixels)


def test_unlabeled_csv_recognised_by_model_feature_count(tmp_path, pixels_and_labels):
    pixels, labels = pixels_and_labels
    unlabeled = write_csv(tmp_path / "u.csv", pixels)
    labeled = write_csv(tmp_path / "l.csv", np.column_stack([labels, pixels]))
    assert load_csv(unlabeled, n_features=784, need_labels=False).y is None
    both = load_csv(labeled, n_features=784, need_labels=False)
    np.testing.assert_array_equal(both.y, labels)
    np.testing.assert_array_equal(both.X, pixels)


def test_csv_without_header_has_label_first(tmp_path):
    rows = [[3, 0.5, -2.0], [1, 4.0, 0.25], [0, 0.0, 1.0]]
    data = load_csv(write_csv(tmp_path / "plain.txt", rows))
    np.testing.assert_array_equal(data.y, [3, 1, 0])
    np.testing.assert_allclose(data.X, [[0.5, -2.0], [4.0, 0.25], [0.0, 1.0]])
    assert data.value_range == 4.0  # not pixel-like: max |x|
    assert data.image_shape is None


def test_csv_label_column_by_name(tmp_path):
    rows = [[0.5, 7, 1.5], [2.5, 2, 3.5]]
    path = write_csv(tmp_path / "named.csv", rows, header=["a", "digit", "b"])
    data = load_csv(path, label_column="digit")
    np.testing.assert_array_equal(data.y, [7, 2])
    np.testing.assert_allclose(data.X, [[0.5, 1.5], [2.5, 3.5]])


def test_csv_tolerates_blank_lines_crlf_bom_quotes_and_gzip(tmp_path):
    text = '\ufeff"label","p0","p1"\r\n1,2,3\r\n\r\n0,"4",5\r\n'
    path = tmp_path / "odd.csv"
    path.write_text(text, newline="")
    data = load_csv(path)
    np.testing.assert_array_equal(data.y, [1, 0])
    np.testing.assert_array_equal(data.X, [[2, 3], [4, 5]])

    import gzip

    zipped = tmp_path / "odd.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    np.testing.assert_array_equal(load_csv(zipped).X, data.X)


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_images_and_labels(tmp_path, rng, gz):
    images, labels = make_images(rng, 7, rows=5, cols=3), make_labels(rng, 7)
    suffix = ".gz" if gz else ""
    images_path = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, gz=gz)
    labels_path = write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, gz=gz)
    data = load_idx(images_path, labels_path)
    assert data.X.shape == (7, 15) and data.X.dtype == np.uint8
    assert data.image_shape == (5, 3)
    assert data.value_range == 255.0
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.X, images.reshape(7, -1))
    np.testing.assert_array_equal(data.y, labels)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_other_type_codes(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / "values.idx", array)
    decoded = read_idx(path)
    assert decoded.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(decoded, array)
    data = load_idx(path)
    assert data.value_range == 18.0  # values -5..18: max |x|


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_directory_gives_train_and_test(tmp_path, gz):
    arrays = write_idx_dir(tmp_path / "mnist", gz=gz, n_train=12, n_test=5)
    train, test = load_idx_dir(tmp_path / "mnist")
    np.testing.assert_array_equal(train.X, arrays["train_images"].reshape(12, -1))
    np.testing.assert_array_equal(train.y, arrays["train_labels"])
    np.testing.assert_array_equal(test.X, arrays["test_images"].reshape(5, -1))
    np.testing.assert_array_equal(test.y, arrays["test_labels"])
    assert train.image_shape == test.image_shape == (4, 3)


def test_idx_directory_accepts_kaggle_dotted_names(tmp_path, rng):
    for stem in STANDARD_NAMES.values():
        dotted = stem.replace("-idx", ".idx")
        array = make_labels(rng, 3) if "labels" in stem else make_images(rng, 3)
        write_idx(tmp_path / dotted, array)
    train, test = load_idx_dir(tmp_path)
    assert len(train) == len(test) == 3


# ---------------------------------------------------------------- npz


def test_npz_2d(tmp_path, rng):
    features = rng.standard_normal((8, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=8)
    np.savez(tmp_path / "d.npz", X=features, y=labels)
    data = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.X, features)
    assert data.X.dtype == np.float32 and data.y.dtype == np.int64
    np.testing.assert_array_equal(data.y, labels)
    assert data.value_range == pytest.approx(float(np.abs(features).max()))
    assert data.image_shape is None


def test_npz_3d_images_flatten(tmp_path, rng):
    images = make_images(rng, 4, rows=2, cols=6)
    np.savez_compressed(tmp_path / "img.npz", X=images, y=np.array([0, 1, 2, 1]))
    data = load_npz(tmp_path / "img.npz")
    assert data.X.shape == (4, 12) and data.image_shape == (2, 6)
    assert data.value_range == 255.0


def test_npz_without_labels_when_not_needed(tmp_path):
    np.savez(tmp_path / "x.npz", X=np.ones((3, 2)))
    assert load_npz(tmp_path / "x.npz", need_labels=False).y is None


# ---------------------------------------------------------------- load_source


def test_source_detects_each_format(tmp_path, rng, pixels_and_labels):
    pixels, labels = pixels_and_labels
    write_idx_dir(tmp_path / "dir")
    table = np.column_stack([labels, pixels])
    csv_path = write_csv(tmp_path / "train.csv", table, kaggle_header(784))
    np.savez(tmp_path / "a.npz", X=np.ones((2, 3)), y=np.array([0, 1]))
    images_path = write_idx(tmp_path / "foo-images-idx3-ubyte.gz", make_images(rng, 3), gz=True)
    write_idx(tmp_path / "foo-labels-idx1-ubyte", make_labels(rng, 3))
    renamed = write_idx(tmp_path / "mystery.bin", make_images(rng, 2))  # found by magic

    from_dir = load_source(str(tmp_path / "dir"))
    assert isinstance(from_dir, DataSplits)
    assert len(from_dir.train) == 12 and len(from_dir.test) == 5
    from_csv = load_source(csv_path, n_features=784, n_classes=10)
    assert from_csv.test is None and from_csv.train.X.shape == (6, 784)
    assert load_source(tmp_path / "a.npz").train.X.shape == (2, 3)
    from_images = load_source(images_path).train
    assert from_images.y is not None and from_images.image_shape == (4, 3)
    assert load_source(renamed, need_labels=False).train.y is None


def test_source_digits():
    splits = load_source(dataset="digits")
    assert splits.test is None
    assert splits.train.X.shape == (1797, 64)
    assert splits.train.value_range == 16.0


def test_the_digits_read_directly_are_scikit_learns_and_its_loader_is_the_fallback(
        monkeypatch):
    """xpnn reads scikit-learn's bundled file without importing sklearn.datasets (its imports
    cost the default job 0.13 s); the same arrays as scikit-learn's load_digits, and that
    loader where the file is not found."""
    from sklearn.datasets import load_digits as sklearn_load_digits

    from xpnn.data import digits

    expected = sklearn_load_digits()
    direct = digits.load_digits()
    np.testing.assert_array_equal(direct.X, expected.data.astype(np.float32))
    np.testing.assert_array_equal(direct.y, expected.target)
    monkeypatch.setattr(digits, "_bundled_rows", lambda: None)
    fallback = digits.load_digits()
    np.testing.assert_array_equal(fallback.X, direct.X)
    np.testing.assert_array_equal(fallback.y, direct.y)
    code = ("import sys; from xpnn.data.digits import load_digits; load_digits(); "
            "print('sklearn.datasets' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(),
                    reason="needs Debian's dataset-fashion-mnist in /usr/share/datasets")
def test_real_fashion_mnist_from_system_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("XPNN_DATA", str(tmp_path / "empty-cache"))  # ignore any user cache
    monkeypatch.setattr("urllib.request.urlopen", _no_network)
    splits = load_source(dataset="fashion-mnist", offline=True)
    train, test = splits.train, splits.test
    assert train.X.shape == (60000, 784) and train.X.dtype == np.uint8
    assert test.X.shape == (10000, 784)
    assert train.image_shape == (28, 28) and train.value_range == 255.0
    assert set(np.unique(train.y)) == set(range(10)) == set(np.unique(test.y))


def _no_network(*args, **kwargs):
    raise AssertionError("the network must not be touched")
