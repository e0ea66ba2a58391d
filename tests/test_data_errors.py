"""Every bad input: XpnnDataError whose message names the file and the problem."""
import gzip
import struct

import numpy as np
import pytest
from datagen import idx_bytes, make_images, write_bytes, write_csv, write_idx, write_idx_dir

from xpnn.data import load_csv, load_idx, load_idx_dir, load_npz, load_source
from xpnn.errors import XpnnDataError, XpnnError


def raises_naming(path, *fragments):
    """Context: an XpnnDataError whose one-line message names ``path`` and each fragment."""
    return _Expect(str(path), fragments)


class _Expect:
    def __init__(self, path, fragments):
        self.path, self.fragments = path, fragments
        self._raises = pytest.raises(XpnnDataError)

    def __enter__(self):
        self.info = self._raises.__enter__()
        return self.info

    def __exit__(self, *exc_info):
        handled = self._raises.__exit__(*exc_info)
        message = str(self.info.value)
        assert "\n" not in message, message
        assert self.path in message, message
        for fragment in self.fragments:
            assert fragment in message, message
        return handled


def test_data_errors_are_xpnn_errors():
    assert issubclass(XpnnDataError, XpnnError)


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("text", ["", "\n\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_csv_empty(tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    with raises_naming(path, "empty"):
        load_csv(path)


def test_csv_header_without_rows(tmp_path):
    path = write_csv(tmp_path / "h.csv", [], header=["label", "pixel0"])
    with raises_naming(path, "no data rows"):
        load_csv(path)


def test_csv_wrong_column_count_names_editor_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("label,p0,p1\n1,2,3\n\n4,5\n6,7,8\n")  # bad row is line 4 (blank line 3)
    with raises_naming(path, "line 4", "3 columns expected, found 2"):
        load_csv(path)


def test_csv_wrong_column_count_on_every_row_after_header(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2], [3, 4]], header=["label", "a", "b"])
    with raises_naming(path, "line 2", "3 columns expected, found 2"):
        load_csv(path)


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    header = ["label", "pixel0", "pixel1"]
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3], [0, "x7", 5]], header=header)
    with raises_naming(path, "line 3", "column 2 (pixel0)", "'x7' is not a number"):
        load_csv(path)


def test_csv_non_numeric_cell_without_header(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3], [0, 1, "abc"]])
    with raises_naming(path, "line 2", "column 3", "'abc'"):
        load_csv(path)


def test_csv_bad_line_found_past_the_first_scan_chunk(tmp_path):
    rows = [[i % 10, i % 256, 3] for i in range(2500)]
    rows[2100][2] = "oops"
    path = write_csv(tmp_path / "long.csv", rows, header=["label", "a", "b"])
    with raises_naming(path, "line 2102", "column 3 (b)", "'oops'"):
        load_csv(path)


def test_csv_empty_cell(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n0,,5\n")
    with raises_naming(path, "line 2", "column 2", "empty cell"):
        load_csv(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e300"])
def test_csv_non_finite(tmp_path, bad):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3], [0, 4, bad]], header=["label", "a", "b"])
    with raises_naming(path, "line 3", "column 3 (b)", "not a finite number"):
        load_csv(path)


@pytest.mark.parametrize(
    "label, n_classes, problem",
    [
        ("1.5", None, "not an integer"),
        ("-1", None, "negative"),
        ("10", 10, "out of range for 10 classes"),
    ],
)
def test_csv_bad_labels(tmp_path, label, n_classes, problem):
    rows = [[1, 2, 3], [0, 2, 3], [label, 4, 5]]
    path = write_csv(tmp_path / "t.csv", rows, header=["label", "a", "b"])
    with raises_naming(path, "line 4", problem):
        load_csv(path, n_classes=n_classes)


def test_csv_feature_count_neither_labeled_nor_unlabeled(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3]])
    with raises_naming(path, "3 columns", "expects 5 features"):
        load_csv(path, n_features=5)


def test_csv_labeled_header_with_wrong_feature_count(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3]], header=["label", "a", "b"])
    with raises_naming(path, "2 feature columns", "expects 3 features"):
        load_csv(path, n_features=3)


def test_csv_unlabeled_when_labels_needed(tmp_path):
    path = write_csv(tmp_path / "test.csv", [[1, 2, 3]])
    with raises_naming(path, "no label column", "labels are needed"):
        load_csv(path, n_features=3, need_labels=True)


def test_csv_label_column_needs_header(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3]])
    with raises_naming(path, "'digit'", "no header"):
        load_csv(path, label_column="digit")


def test_csv_label_column_missing_from_header(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2, 3]], header=["label", "a", "b"])
    with raises_naming(path, "no column named 'digit'", "label, a, b"):
        load_csv(path, label_column="digit")


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"label,a\n1,\xff\xfe\n")
    with raises_naming(path, "not UTF-8"):
        load_csv(path)


def test_csv_missing_file(tmp_path):
    with raises_naming(tmp_path / "nope.csv", "no such file"):
        load_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------- IDX


@pytest.fixture
def images():
    return make_images(np.random.default_rng(0), 6)


def test_idx_bad_magic(tmp_path, images):
    content = bytearray(idx_bytes(images))
    content[:4] = b"\x12\x34\x08\x03"
    path = write_bytes(tmp_path / "x-images-idx3-ubyte", bytes(content))
    with raises_naming(path, "bad magic number 0x12340803"):
        load_idx(path)


def test_idx_unknown_type_code(tmp_path, images):
    content = bytearray(idx_bytes(images))
    content[2] = 0x07
    path = write_bytes(tmp_path / "x.idx", bytes(content))
    with raises_naming(path, "bad magic number 0x00000703"):
        load_idx(path)


def test_idx_too_short(tmp_path):
    path = write_bytes(tmp_path / "x.idx", b"\0\0")
    with raises_naming(path, "too short"):
        load_idx(path)


def test_idx_truncated_header(tmp_path):
    path = write_bytes(tmp_path / "x.idx", b"\0\0\x08\x03" + struct.pack(">I", 6))
    with raises_naming(path, "truncated header"):
        load_idx(path)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_truncated_data(tmp_path, images, gz):
    path = write_bytes(tmp_path / "x.idx", idx_bytes(images)[:-5], gz=gz)
    with raises_naming(path, "truncated", "6 x 4 x 3", "72 bytes", "67"):
        load_idx(path)


def test_idx_extra_bytes(tmp_path, images):
    path = write_bytes(tmp_path / "x.idx", idx_bytes(images) + b"\0\0\0")
    with raises_naming(path, "size mismatch", "3 bytes more"):
        load_idx(path)


def test_idx_corrupt_gzip(tmp_path, images):
    zipped = bytearray(gzip.compress(idx_bytes(images)))
    zipped[-8] ^= 0xFF  # break the CRC
    path = write_bytes(tmp_path / "x.gz", bytes(zipped))
    with raises_naming(path, "corrupt gzip"):
        load_idx(path)


def test_idx_truncated_gzip(tmp_path, images):
    path = write_bytes(tmp_path / "x.gz", gzip.compress(idx_bytes(images))[:-12])
    with raises_naming(path, "corrupt gzip"):
        load_idx(path)


def test_idx_count_mismatch(tmp_path, images):
    images_path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    labels_path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with raises_naming(labels_path, "5 labels for 6 images", str(images_path)):
        load_idx(images_path, labels_path)


def test_idx_labels_passed_as_images(tmp_path):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with raises_naming(path, "holds labels"):
        load_idx(path)


def test_idx_images_passed_as_labels(tmp_path, images):
    images_path = write_idx(tmp_path / "a-images-idx3-ubyte", images)
    with raises_naming(images_path, "expected labels (1 dimension), found 3"):
        load_idx(images_path, images_path)


def test_idx_label_out_of_range(tmp_path, images):
    images_path = write_idx(tmp_path / "i.idx", images)
    labels_path = write_idx(tmp_path / "l.idx", np.array([0, 1, 2, 12, 1, 0], np.uint8))
    with raises_naming(labels_path, "record 3", "label 12 is out of range for 10 classes"):
        load_idx(images_path, labels_path, n_classes=10)


def test_idx_float_images_with_nan(tmp_path):
    values = np.zeros((2, 2, 2), np.float32)
    values[1, 0, 1] = np.nan
    path = write_idx(tmp_path / "f.idx", values)
    with raises_naming(path, "record 1", "feature 1", "not a finite number"):
        load_idx(path)


def test_idx_dir_missing_files(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with raises_naming(tmp_path, "missing t10k-labels-idx1-ubyte.gz"):
        load_idx_dir(tmp_path)


def test_idx_images_without_labels_file_when_needed(tmp_path, images):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    with raises_naming(path, "no labels file"):
        load_source(path)


# ---------------------------------------------------------------- npz


def test_npz_not_an_archive(tmp_path):
    path = write_bytes(tmp_path / "d.npz", b"definitely not a zip file")
    with raises_naming(path, "not an .npz archive"):
        load_npz(path)


def test_npz_truncated_archive(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((20, 20)), y=np.zeros(20, np.int64))
    path.write_bytes(path.read_bytes()[:300])
    with raises_naming(path, "not a readable .npz archive"):
        load_npz(path)


def test_npz_missing_x(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.ones((2, 2)), y=np.zeros(2))
    with raises_naming(path, "no array named 'X'", "features, y"):
        load_npz(path)


def test_npz_missing_y_when_needed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((2, 2)))
    with raises_naming(path, "no array named 'y'"):
        load_npz(path, need_labels=True)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2)])
def test_npz_wrong_ndim(tmp_path, shape):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones(shape), y=np.zeros(shape[0], np.int64))
    with raises_naming(path, f"got shape {shape}"):
        load_npz(path)


def test_npz_length_mismatch(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((4, 2)), y=np.zeros(3, np.int64))
    with raises_naming(path, "4 samples in X but 3 labels"):
        load_npz(path)


def test_npz_nan(tmp_path):
    features = np.ones((4, 2))
    features[2, 1] = np.nan
    path = tmp_path / "d.npz"
    np.savez(path, X=features, y=np.zeros(4, np.int64))
    with raises_naming(path, "row 2", "feature 1", "nan is not a finite number"):
        load_npz(path)


@pytest.mark.parametrize(
    "labels, problem",
    [
        (np.array([0, -3, 1]), "row 1 (from 0): label -3 is negative"),
        (np.array([0.0, 1.0, 2.5]), "row 2 (from 0): label 2.5 is not an integer"),
        (np.array([0, 1, 9]), "row 2 (from 0): label 9 is out of range for 3 classes"),
        (np.array(["a", "b", "c"]), "class names ('a', 'b', 'c'); a class count (n_classes=3) "
                                    "needs integer labels"),
        (np.array([b"a", b"b", b"c"]), "dtype |S1"),
        (np.zeros((3, 1), np.int64), "labels must be 1-D"),
    ],
)
def test_npz_bad_labels(tmp_path, labels, problem):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((3, 2)), y=labels)
    with raises_naming(path, problem):
        load_npz(path, n_classes=3)


def test_npz_object_array_is_not_unpickled(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([[1, "a"]], dtype=object), y=np.zeros(1, np.int64))
    with raises_naming(path, "cannot read the arrays safely"):
        load_npz(path)


# ---------------------------------------------------------------- load_source


def test_source_needs_exactly_one_source(tmp_path):
    with pytest.raises(XpnnDataError, match="exactly one"):
        load_source()
    with pytest.raises(XpnnDataError, match="exactly one"):
        load_source(str(tmp_path), dataset="digits")


def test_source_missing_path(tmp_path):
    with raises_naming(tmp_path / "gone.csv", "no such file or directory"):
        load_source(tmp_path / "gone.csv")


def test_source_unknown_format(tmp_path):
    path = write_bytes(tmp_path / "notes.bin", b"hello")
    with raises_naming(path, "unknown format"):
        load_source(path)


def test_source_unknown_dataset():
    with pytest.raises(XpnnDataError, match="unknown dataset 'cifar'.*fashion-mnist"):
        load_source(dataset="cifar")


def test_source_unlabeled_csv_when_labels_needed(tmp_path):
    path = write_csv(tmp_path / "test.csv", [[1, 2]], header=["pixel0", "pixel1"])
    with raises_naming(path, "no label column"):
        load_source(path, n_features=2, need_labels=True)


def test_source_feature_count_mismatch_for_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((3, 2)), y=np.zeros(3, np.int64))
    with raises_naming(path, "2 features per sample", "expects 784"):
        load_source(path, n_features=784)


def test_source_label_column_outside_csv(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((3, 2)), y=np.zeros(3, np.int64))
    with raises_naming(path, "only applies to CSV"):
        load_source(path, label_column="label")


def test_source_idx_labels_out_of_range_for_model(tmp_path):
    write_idx_dir(tmp_path, gz=False, n_train=12, n_test=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(12, 1, np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(5, 7, np.uint8))
    test_labels = tmp_path / "t10k-labels-idx1-ubyte"
    with raises_naming(test_labels, "label 7 is out of range for 5 classes"):
        load_source(tmp_path, n_classes=5)
