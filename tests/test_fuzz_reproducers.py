"""One test per class of failure the mutation fuzzer found (issue 9), with its reproducer."""
import json
import re
import struct
import zipfile

import numpy as np
import pytest
from datagen import csv_bytes, fuzz_seed_arrays, idx_bytes, write_csv
from test_fuzz_cli import run_main

from xpnn.files.checkpoint_io import load_checkpoint, save_checkpoint
from xpnn.cli.commands.predict import submission_csv
from xpnn.data import load_csv, load_idx, load_npz, stratified_split
from xpnn.errors import XpnnCheckpointError, XpnnDataError


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A model trained on 12-pixel rows, labels 0..2, and the CSV it was trained on."""
    root = tmp_path_factory.mktemp("repro")
    images, labels = fuzz_seed_arrays()
    (root / "train.csv").write_bytes(csv_bytes(images, labels))
    (root / "test.csv").write_bytes(csv_bytes(images, None))
    path = root / "model.safetensors"
    status, _, stderr = run_main(["train", "--data", root / "train.csv", "--epochs", 2,
                                  "--hidden", 8, "--quiet", "--save", path])
    assert status == 0, stderr
    return path


def refused(argv, *fragments, outputs=()):
    status, _, stderr = run_main(argv, outputs)
    assert status == 2, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr
    return stderr


# ---------------------------------------------------------------- 1: non-UTF-8 after 8 KB


def test_1_non_utf8_after_the_first_8kb(model, tmp_path):
    images, labels = fuzz_seed_arrays(n=300)
    train = tmp_path / "train.csv"
    train.write_bytes(csv_bytes(images, labels) + b"\xff\n")
    assert train.stat().st_size > 8192
    refused(["train", "--data", train, "--epochs", 1, "--quiet"], str(train), "line 302",
            "not UTF-8")
    test = tmp_path / "test.csv"
    test.write_bytes(csv_bytes(images, None) + b"\xff\n")
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    refused(["predict", model, "--data", test, "--out", out], str(test), "line 302", "not UTF-8",
            outputs=[out])


# ---------------------------------------------------------------- 2: zero samples


def test_2_zero_samples(tmp_path):
    npz = tmp_path / "empty.npz"
    np.savez(npz, X=np.zeros((0, 8, 8)), y=np.zeros(0, np.int64))
    refused(["train", "--data", npz, "--quiet"], str(npz), "no samples")
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(idx_bytes(np.zeros((0, 4, 3), np.uint8)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(0, np.uint8)))
    refused(["train", "--data", images, "--quiet"], str(images), "0 images")


# ---------------------------------------------------------------- 3: damaged npz members


def _npz_with_member(path, name, payload, *, method=zipfile.ZIP_STORED, flag_bits=0):
    """An npz whose member ``name`` holds ``payload``; the headers then edited by hand."""
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr(name, payload)
        archive.writestr("y.npy", _npy(np.zeros(3, np.int64)))
    content = bytearray(path.read_bytes())
    if flag_bits:
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = content.find(signature)
            content[at + offset] |= flag_bits
    path.write_bytes(bytes(content))
    return path


def _npy(array, shape_text=None):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    content = buffer.getvalue()
    if shape_text is not None:  # same header length: the padding absorbs the difference
        old = repr(array.shape).encode()
        head_end = content.index(b"\n") + 1
        header = content[:head_end].replace(old, shape_text.encode())
        header = header[:head_end - 1].ljust(head_end - 1, b" ")[:head_end - 1] + b"\n"
        content = header + content[head_end:]
    return content


def _set_method(path, method):
    content = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (at := content.find(signature, start)) >= 0:
            struct.pack_into("<H", content, at + offset, method)
            start = at + 4
    path.write_bytes(bytes(content))
    return path


DAMAGED_NPZ = {
    "compression-99": (lambda p: _set_method(_npz_with_member(p, "X.npy", _npy(np.ones((3, 2)))),
                                             99), "compression method 99"),
    "encrypted": (lambda p: _npz_with_member(p, "X.npy", _npy(np.ones((3, 2))), flag_bits=0x1),
                  "encrypted"),
    "lzma-on-stored-data": (lambda p: _set_method(
        _npz_with_member(p, "X.npy", _npy(np.ones((3, 2)))), zipfile.ZIP_LZMA),
        "compression method 14"),
    "gigantic-shape": (lambda p: _npz_with_member(
        p, "X.npy", _npy(np.ones((3, 2)), shape_text="(10000000, 10000000)")),
        "shape (10000000, 10000000)"),
    "not-a-npy": (lambda p: _npz_with_member(p, "X.npy", b"just some text, not an array"),
                  "not a .npy array"),
}


@pytest.mark.parametrize("case", list(DAMAGED_NPZ))
def test_3_damaged_npz_members(tmp_path, case):
    build, fragment = DAMAGED_NPZ[case]
    path = build(tmp_path / "d.npz")
    with pytest.raises(XpnnDataError) as info:
        load_npz(path)
    message = str(info.value)
    assert str(path) in message and "'X.npy'" in message and fragment in message, message
    refused(["train", "--data", path, "--quiet"], str(path), fragment)


# ---------------------------------------------------------------- 4: values outside float32


def test_4_float64_values_beyond_float32_train_without_warnings(tmp_path):
    images, labels = fuzz_seed_arrays(n=60)
    X = images.reshape(60, -1).astype(np.float64)
    for factor, name in ((1e36, "huge.npz"), (1e-40, "tiny.npz")):  # 255e36 > float32 max
        path = tmp_path / name
        np.savez(path, X=X * factor, y=labels.astype(np.int64))
        status, stdout, stderr = run_main(["train", "--data", path, "--epochs", 3, "--hidden", 8,
                                           "--dtype", "float32", "--json"])
        assert status == 0, stderr  # scaled by its real range: no overflow, no "NaN"
        assert json.loads(stdout)["dtype"] == "float32"


def test_4_out_of_range_values_name_file_row_and_column(model, tmp_path):
    images, _ = fuzz_seed_arrays()
    X = images.reshape(30, -1).astype(np.float64)
    X[4, 7] = 1e300  # finite in float64, beyond float32 even after scaling by 1/255
    path = tmp_path / "far.npz"
    np.savez(path, X=X, y=np.zeros(30, np.int64))
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    refused(["predict", model, "--data", path, "--out", out], str(path), "row 4", "feature 7",
            outputs=[out])
    csv = tmp_path / "far.csv"
    write_csv(csv, [[0] + [1] * 11 + [1e39]], header=["label"] + [f"p{i}" for i in range(12)])
    refused(["evaluate", model, "--data", csv], str(csv), "line 2", "column 13",
            "too large for float32")


# ---------------------------------------------------------------- 5: labels parsed exactly


def test_5_csv_labels_never_pass_through_float32(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[16777217, 1], ["2.0", 2], [0, 3]],
                     header=["label", "a"])
    assert load_csv(path).y.tolist() == [16777217, 2, 0]
    path = write_csv(tmp_path / "u.csv", [[1, 1], ["2.0000001", 2]], header=["label", "a"])
    with pytest.raises(XpnnDataError, match=r"u\.csv, line 3: label '2\.0000001' is not an int"):
        load_csv(path)


@pytest.mark.parametrize("labels, problem", [
    (np.array([0, 2**64 - 1], np.uint64), "label 18446744073709551615 is out of range"),
    (np.array([0.0, 1e19]), "label 1e+19 is out of range"),
])
def test_5_npz_labels_beyond_int64_are_refused_not_wrapped(tmp_path, labels, problem):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((2, 2)), y=labels)
    with pytest.raises(XpnnDataError, match="row 1 .*" + re.escape(problem)):
        load_npz(path)


# ---------------------------------------------------------------- 6/7: checkpoints


@pytest.fixture
def checkpoint(tmp_path):
    tensors = {"params/w1": np.arange(12, dtype=np.float32).reshape(4, 3),
               "params/b1": np.ones(3, np.float32)}
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, tensors, {"classes": [0, 1, 2]})
    return path


def _edit_header(path, edit, *, drop_digest=False):
    """Rewrite the JSON header with ``edit(header)``, keeping the data bytes."""
    content = path.read_bytes()
    (length,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8:8 + length])
    if drop_digest:
        del header["__metadata__"]["xpnn_sha256"]
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + content[8 + length:])


def test_7_flipped_weight_byte_is_a_checksum_mismatch(checkpoint):
    content = bytearray(checkpoint.read_bytes())
    content[-5] ^= 0x01
    checkpoint.write_bytes(bytes(content))
    with pytest.raises(XpnnCheckpointError, match="checkpoint is corrupt \\(checksum mismatch"):
        load_checkpoint(checkpoint)


@pytest.mark.parametrize("edit, drop_digest, message", [
    (lambda h: h["params/w1"].update(dtype="I32"), False, "checksum mismatch"),  # relabel
    (lambda h: h["params/w1"].update(dtype="F64"), True, "needs 96"),  # sizes inconsistent
    (lambda h: h.update({"params/w9": h.pop("params/w1")}), False, "checksum mismatch"),
    (lambda h: h["params/b1"].update(shape=[1, 3]), False, "checksum mismatch"),
    (lambda h: h["__metadata__"].update(format_version="-7"), True, "format_version"),
    (lambda h: h["__metadata__"].update(xpnn='{"classes": [2, 1, 0]}'), False, "checksum"),
])
def test_7_header_edits_are_refused(checkpoint, edit, drop_digest, message):
    _edit_header(checkpoint, edit, drop_digest=drop_digest)
    with pytest.raises(XpnnCheckpointError, match=message):
        load_checkpoint(checkpoint)


def test_7_non_finite_tensor_in_a_file_without_digest_names_the_tensor(checkpoint):
    content = bytearray(checkpoint.read_bytes())
    content[-4:] = np.array([np.nan], np.float32).tobytes()  # last value of params/w1
    checkpoint.write_bytes(bytes(content))
    _edit_header(checkpoint, lambda h: None, drop_digest=True)  # an older file: no record
    with pytest.raises(XpnnCheckpointError, match="tensor 'params/w1' holds NaN"):
        load_checkpoint(checkpoint)


def test_7_files_without_the_integrity_record_still_load(checkpoint):
    _edit_header(checkpoint, lambda h: None, drop_digest=True)
    tensors, metadata = load_checkpoint(checkpoint)
    assert metadata == {"classes": [0, 1, 2]} and tensors["params/w1"][3, 2] == 11.0


def test_7_corrupt_checkpoint_through_predict(model, tmp_path):
    bad = tmp_path / "bad.safetensors"
    content = bytearray(model.read_bytes())
    content[-3] ^= 0x40
    bad.write_bytes(bytes(content))
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    refused(["predict", bad, "--data", model.parent / "test.csv", "--out", out],
            str(bad), "checksum mismatch", outputs=[out])


# ---------------------------------------------------------------- 8: smaller ones


def test_8_whitespace_only_line_is_skipped_like_an_empty_one(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label,a,b\n1,2,3\n   \t \n\n0,4,5\n \n")
    data = load_csv(path)
    assert data.y.tolist() == [1, 0] and data.X.tolist() == [[2, 3], [4, 5]]


def test_8_label_header_in_a_later_column_is_the_label(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[7, 8, 1], [9, 10, 0]], header=["a", "b", "label"])
    data = load_csv(path)
    assert data.y.tolist() == [1, 0] and data.X.tolist() == [[7, 8], [9, 10]]
    two = write_csv(tmp_path / "two.csv", [[1, 2, 0]], header=["label", "b", "Label"])
    with pytest.raises(XpnnDataError, match="columns 1 and 3 are all named 'label'"):
        load_csv(two)


def test_8_unknown_test_label_at_evaluate_names_the_file(model, tmp_path):
    images, labels = fuzz_seed_arrays()
    labels = labels.copy()
    labels[5] = 7
    path = tmp_path / "labelled.csv"
    path.write_bytes(csv_bytes(images, labels))
    refused(["evaluate", model, "--data", path], str(path), "label 7", "not one of the model's")
    names = tmp_path / "names.csv"
    write_csv(names, [["cat"] + [1] * 12, ["dog"] + [2] * 12],
              header=["label"] + [f"p{i}" for i in range(12)])
    refused(["evaluate", model, "--data", names], str(names), "class names")


# ---------------------------------------------------------------- class names (sibling issue)


def test_class_names_load_as_text_and_split_stratified(tmp_path):
    rows = [[name, i, i % 5] for i, name in enumerate(["cat", "dog", "emu"] * 10)]
    path = write_csv(tmp_path / "animals.csv", rows, header=["label", "a", "b"])
    data = load_csv(path)
    assert data.y.dtype.kind == "U" and data.y[:3].tolist() == ["cat", "dog", "emu"]
    train_idx, test_idx = stratified_split(data.y, 0.2, np.random.default_rng(0))
    assert sorted(np.unique(data.y[test_idx]).tolist()) == ["cat", "dog", "emu"]
    assert len(train_idx) + len(test_idx) == 30
    with pytest.raises(XpnnDataError, match="n_classes=3.*needs integer labels"):
        load_csv(path, n_classes=3)
    bad = write_csv(tmp_path / "half.csv", [[1, 1], [2.5, 2]], header=["label", "a"])
    with pytest.raises(XpnnDataError, match=r"line 3: label '2\.5' is not an integer"):
        load_csv(bad)


def test_class_names_without_header_are_data_not_a_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("cat,1,2\ndog,3,4\n")
    assert load_csv(path).y.tolist() == ["cat", "dog"]


def test_predict_writes_class_names_verbatim():
    text = submission_csv(["ImageId", "Label"], np.array(["cat", "big, dog", 'say "hi"']))
    assert text.decode().splitlines() == ["ImageId,Label", "1,cat", '2,"big, dog"',
                                          '3,"say ""hi"""']


def test_idx_labels_of_zero_images_checked_first(tmp_path):
    images = tmp_path / "i.idx"
    images.write_bytes(idx_bytes(np.zeros((0, 2, 2), np.uint8)))
    with pytest.raises(XpnnDataError, match="0 images"):
        load_idx(images)
