"""The CLI on real files: the Kaggle flow, every bad input (exit 2, nothing written),
checkpoints (resume, interrupt, cross-device load), evaluate, predict, gradcheck, devices."""
import gzip
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from assertions import assert_params_equal
from clirun import xpnn, xpnn_json
from datagen import kaggle_header, write_csv, write_idx_dir


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    """Kaggle-style train.csv (label first) and test.csv (no label) made from digits * 16."""
    from xpnn.data.digits import load_digits

    data = load_digits()
    pixels = (data.X * 16).clip(0, 255).astype(int)
    root = tmp_path_factory.mktemp("kaggle")
    train = write_csv(root / "train.csv", np.column_stack([data.y[:1500], pixels[:1500]]),
                      header=kaggle_header(64))
    test = write_csv(root / "test.csv", pixels[1500:], header=kaggle_header(64, labeled=False))
    return {"train": train, "test": test, "root": root, "test_labels": data.y[1500:]}


@pytest.fixture(scope="module")
def model(kaggle):
    path = kaggle["root"] / "model.safetensors"
    summary = xpnn_json("train", "--data", kaggle["train"], "--epochs", "15", "--hidden", "64",
                        "--batch-size", "32", "--save", path, process=True)  # the real command
    assert summary["test_accuracy"] > 0.9
    return path


def test_kaggle_flow_end_to_end(kaggle, model, tmp_path):
    out = tmp_path / "submission.csv"
    result = xpnn("predict", model, "--data", kaggle["test"], "--out", out, process=True)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label"
    assert len(lines) == 1 + 297
    ids = [int(line.split(",")[0]) for line in lines[1:]]
    assert ids == list(range(1, 298))
    predicted = np.array([int(line.split(",")[1]) for line in lines[1:]])
    assert np.mean(predicted == kaggle["test_labels"]) > 0.85


def test_predict_proba_columns(kaggle, model, tmp_path):
    out = tmp_path / "proba.csv"
    assert xpnn("predict", model, "--data", kaggle["test"], "--out", out, "--proba").returncode == 0
    header, first = out.read_text().splitlines()[:2]
    assert header == "ImageId,Label," + ",".join(f"prob_{k}" for k in range(10))
    probs = np.array(first.split(",")[2:], dtype=float)
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert np.argmax(probs) == int(first.split(",")[1])


def test_evaluate_reports_per_class_metrics(kaggle, model):
    labelled = kaggle["root"] / "labelled_test.csv"
    pixels = np.loadtxt(kaggle["test"], delimiter=",", skiprows=1)
    write_csv(labelled, np.column_stack([kaggle["test_labels"], pixels]).astype(int),
              header=kaggle_header(64))
    result = xpnn_json("evaluate", model, "--data", labelled)
    assert result["rows"] == 297 and result["accuracy"] > 0.85
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 297
    assert np.trace(cm) / 297 == pytest.approx(result["accuracy"])
    assert len(result["per_class"]["f1"]) == 10
    text = xpnn("evaluate", model, "--data", labelled).stdout
    assert "precision" in text and "confusion matrix" in text


def _assert_clean_failure(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def _bad_inputs(root, kaggle):
    """(name, file to make, content bytes, [flags], [expected words in the message])."""
    header = ",".join(kaggle_header(64)) + "\n"
    row = "3," + ",".join(["0"] * 64) + "\n"
    gz_idx = gzip.compress(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" * 3 + bytes(8))
    return [
        ("wrong column count", "cols.csv", header + row + "3,1,2\n", ["line 3", "columns"]),
        ("non-numeric cell", "text.csv", header + row + row.replace("3,0,", "3,abc,", 1),
         ["line 3", "abc"]),
        ("label out of range", "range.csv", header + row + row.replace("3,", "12,", 1),
         ["line 3", "0..9"]),
        ("non-integer label", "frac.csv", header + row.replace("3,", "2.5,", 1) + row, ["2.5"]),
        ("NaN cell", "nan.csv", header + row + row.replace(",0,", ",nan,", 1), ["line 3"]),
        ("empty file", "empty.csv", "", ["empty"]),
        ("truncated gzip IDX", "train-images-idx3-ubyte.gz", gz_idx[: len(gz_idx) // 2], []),
        ("bad IDX magic", "bad-idx3-ubyte", b"\x12\x34\x56\x78" + bytes(20), ["magic"]),
        ("npz without X", "noX.npz", None, ["X"]),
        ("corrupt csv.gz", "bad.csv.gz", None, ["gzip"]),
        ("corrupt compressed npz", "bad.npz", None, []),
    ]


@pytest.mark.parametrize("case", range(11), ids=[c[0] for c in _bad_inputs(None, None)])
def test_bad_input_exits_2_and_writes_nothing(case, kaggle, tmp_path):
    name, file_name, content, needles = _bad_inputs(tmp_path, kaggle)[case]
    path = tmp_path / file_name
    if name == "npz without X":
        np.savez(path, y=np.arange(3))
    elif name == "corrupt csv.gz":
        good = gzip.compress(("label,p0,p1\n" + "1,2,3\n" * 2000).encode(), mtime=0)
        path.write_bytes(good[:40] + bytes(b ^ 0x5A for b in good[40:80]) + good[80:])
    elif name == "corrupt compressed npz":
        np.savez_compressed(path, X=np.arange(4000.0).reshape(1000, 4), y=np.zeros(1000, int))
        raw = bytearray(path.read_bytes())
        raw[200:260] = bytes(b ^ 0x5A for b in raw[200:260])
        path.write_bytes(bytes(raw))
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    save = tmp_path / "model.safetensors"
    log = tmp_path / "log.jsonl"
    result = xpnn("train", "--data", path, "--save", save, "--metrics-log", log, "--epochs", "1",
                  "--classes", "10")
    _assert_clean_failure(result, path.name, *needles)
    assert not save.exists() and not log.exists()


def test_bad_inputs_at_predict_time_leave_outputs_untouched(kaggle, model, tmp_path):
    out = tmp_path / "submission.csv"
    out.write_text("previous content\n")
    wrong_width = write_csv(tmp_path / "wide.csv", np.zeros((3, 70), dtype=int))
    result = xpnn("predict", model, "--data", wrong_width, "--out", out)
    _assert_clean_failure(result, "wide.csv", "64")
    assert out.read_text() == "previous content\n"
    missing = xpnn("predict", model, "--data", tmp_path / "nope.csv", "--out", out)
    _assert_clean_failure(missing, "nope.csv")
    no_dir = xpnn("predict", model, "--data", kaggle["test"], "--out", tmp_path / "no" / "x.csv")
    _assert_clean_failure(no_dir, "does not exist")


@pytest.mark.parametrize("damage", ["truncated", "not-xpnn", "missing"])
def test_bad_checkpoints_exit_2(damage, model, kaggle, tmp_path):
    path = tmp_path / "broken.safetensors"
    if damage == "truncated":
        content = model.read_bytes()
        path.write_bytes(content[: len(content) // 2])
    elif damage == "not-xpnn":
        path.write_text("label,pixel0\n1,2\n")
    result = xpnn("evaluate", path, "--data", kaggle["train"])
    _assert_clean_failure(result, "broken.safetensors")


def test_newer_checkpoint_format_is_refused(model, kaggle, tmp_path):
    from xpnn.files.checkpoint_io import load_checkpoint, save_checkpoint
    import xpnn.files.checkpoint_io as io

    tensors, metadata = load_checkpoint(model)
    newer = tmp_path / "newer.safetensors"
    original = io.FORMAT_VERSION
    io.FORMAT_VERSION = original + 1
    try:
        save_checkpoint(newer, tensors, metadata)
    finally:
        io.FORMAT_VERSION = original
    result = xpnn("evaluate", newer, "--data", kaggle["train"])
    _assert_clean_failure(result, "newer", "upgrade")


def test_resume_continues_exactly(tmp_path):
    """4 epochs == 2 epochs + resume 2 epochs, bit for bit (NumPy), at a constant rate (a
    schedule over the planned epochs, as the digits' cosine, makes a 2-epoch plan another run:
    tests/test_training.py holds an interrupted cosine run resumed to its plan)."""
    from xpnn.files.checkpoint_io import load_checkpoint

    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    common = ["--hidden", "32", "--quiet", "--lr-schedule", "constant"]
    assert xpnn("train", "--epochs", "4", "--save", full, *common).returncode == 0
    assert xpnn("train", "--epochs", "2", "--save", half, *common).returncode == 0
    result = xpnn("train", "--resume", half, "--epochs", "4", "--save", half, "--quiet")
    assert result.returncode == 0, result.stderr
    (t_full, m_full), (t_half, m_half) = load_checkpoint(full), load_checkpoint(half)
    assert_params_equal(t_half, t_full)
    strip = [[{k: v for k, v in row.items() if k != "seconds"} for row in m["history"]]
             for m in (m_full, m_half)]
    assert strip[0] == strip[1] and len(strip[0]) == 4
    assert m_full["rng_state"] == m_half["rng_state"]


def _train_then_ctrl_c(save, after_epoch):
    """Start a practically endless ``xpnn train --save``; send SIGINT once ``after_epoch`` is
    printed. Returns (exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "xpnn", "train", "--epochs", "100000",
                             "--hidden", "16", "--lr-schedule", "constant", "--save",
                             str(save)],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            # a shell's background job ignores SIGINT, and children inherit
                            # that: give the command the default a terminal would
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stderr:
        if line.startswith(f"epoch {after_epoch:>3}/"):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path):
    save = tmp_path / "interrupted.safetensors"
    status, err = _train_then_ctrl_c(save, after_epoch=3)
    assert status == 130
    assert "resumable checkpoint" in err and save.exists()
    from xpnn.saving.checkpoint import load_model

    clf, _, _ = load_model(save)
    assert clf.state_.epoch >= 3 and len(clf.history_) == clf.state_.epoch


def test_checkpoint_from_torch_or_strict_loads_on_numpy(digits_data, tmp_path):
    import xpnn
    from xpnn.backend.devices import as_host_array
    from xpnn.saving.checkpoint import load_model, save_model
    from conftest import make_backend

    X, y = digits_data
    for name in ("array_api_strict", "torch"):
        if name == "torch":
            pytest.importorskip("torch", reason="torch is not installed")
        backend = make_backend(name)
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2).fit(backend.asarray(X, "float32"),
                                                             backend.asarray(y))
        path = tmp_path / f"{name}.safetensors"
        save_model(path, clf)
        loaded, _, _ = load_model(path, device="cpu")
        assert isinstance(loaded.params_["w1"], np.ndarray)
        np.testing.assert_array_equal(loaded.predict(X.astype(np.float32)),
                                      as_host_array(clf.predict(backend.asarray(X, "float32"))))


def test_idx_directory_and_npz_sources(tmp_path):
    write_idx_dir(tmp_path / "idx", n_train=60, n_test=20)
    summary = xpnn_json("train", "--data", tmp_path / "idx", "--epochs", "1", "--hidden", "8")
    assert summary["train_rows"] == 60 and summary["test_rows"] == 20
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(50, 6)), y=rng.integers(0, 3, 50))
    summary = xpnn_json("train", "--data", tmp_path / "d.npz", "--epochs", "1", "--standardize")
    assert summary["train_rows"] + summary["test_rows"] == 50


def test_plots_are_written(tmp_path):
    summary = xpnn_json("train", "--epochs", "2", "--early-stopping", "--val-split", "0.2",
                        "--plots", tmp_path / "p")
    names = sorted(os.path.basename(p) for p in summary["plots"])
    assert names == ["confusion.png", "first_layer.png", "history.png", "misclassified.png"]
    for path in summary["plots"]:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_gradcheck_and_devices_commands():
    ok = xpnn("gradcheck", "--hidden", "4,3")
    assert ok.returncode == 0 and "gradcheck passed" in ok.stdout and "w3" in ok.stdout
    strict = xpnn("gradcheck", "--tol", "1e-30")
    assert strict.returncode == 1 and "FAILED" in strict.stdout
    devices = xpnn("devices")
    assert devices.returncode == 0 and devices.stdout.startswith("cpu      usable")
    assert "cuda" in devices.stdout


def test_metrics_log_has_one_json_record_per_epoch(tmp_path):
    log = tmp_path / "m.jsonl"
    xpnn_json("train", "--epochs", "3", "--metrics-log", log)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(records[0])


def test_offline_mnist_without_a_copy_is_a_clear_error(tmp_path):
    env = {**os.environ, "XPNN_DATA": str(tmp_path / "cache"), "XPNN_MIRRORS": "http://127.0.0.1:9"}
    result = xpnn("train", "--dataset", "mnist", "--offline", "--save", tmp_path / "m.safetensors",
                  env=env)
    _assert_clean_failure(result, "mnist")
    assert "offline" in result.stderr.lower()
    assert not (tmp_path / "m.safetensors").exists()


def test_library_saved_model_works_with_the_cli(digits_data, tmp_path):
    from xpnn import MLPClassifier
    from xpnn.saving.checkpoint import save_model

    X, y = digits_data
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5).fit(X[:1500], y[:1500])
    save_model(tmp_path / "lib.safetensors", clf)  # no preprocessing: features as given
    np.savez(tmp_path / "rest.npz", X=X[1500:], y=y[1500:])
    out = tmp_path / "p.csv"
    result = xpnn("predict", tmp_path / "lib.safetensors", "--data", tmp_path / "rest.npz",
                  "--out", out)
    assert result.returncode == 0, result.stderr
    predicted = [int(line.split(",")[1]) for line in out.read_text().splitlines()[1:]]
    np.testing.assert_array_equal(predicted, clf.predict(X[1500:]))
    evaluated = xpnn_json("evaluate", tmp_path / "lib.safetensors", "--data", tmp_path / "rest.npz")
    assert evaluated["accuracy"] == pytest.approx(clf.score(X[1500:], y[1500:]))


def test_resume_refuses_flags_it_cannot_honour(tmp_path):
    path = tmp_path / "m.safetensors"
    assert xpnn("train", "--epochs", "1", "--hidden", "8", "--save", path).returncode == 0
    before = path.read_bytes()
    result = xpnn("train", "--resume", path, "--epochs", "3", "--lr", "0.5", "--hidden", "64",
                  "--save", path)
    _assert_clean_failure(result, "--hidden", "--lr", "cannot change on --resume")
    assert path.read_bytes() == before


def test_failed_run_leaves_an_existing_metrics_log_alone(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1}\n')
    result = xpnn("train", "--lr", "1e10", "--optimizer", "sgd", "--metrics-log", log)
    assert result.returncode == 3
    assert log.read_text() == '{"epoch": 1}\n'


def test_interrupted_run_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path):
    from xpnn.files.checkpoint_io import load_checkpoint

    save = tmp_path / "interrupted.safetensors"
    assert _train_then_ctrl_c(save, after_epoch=2)[0] == 130
    done = load_checkpoint(save)[1]["state"]["epoch"]
    target = done + 2
    assert xpnn("train", "--resume", save, "--epochs", target, "--save", save,
                "--quiet").returncode == 0
    fresh = tmp_path / "fresh.safetensors"
    assert xpnn("train", "--epochs", target, "--hidden", "16", "--lr-schedule", "constant",
                "--save", fresh, "--quiet").returncode == 0
    (resumed_t, resumed_m), (fresh_t, fresh_m) = load_checkpoint(save), load_checkpoint(fresh)
    trained = [name for name in fresh_t if name.startswith(("params/", "optim/"))]
    assert_params_equal({name: resumed_t[name] for name in trained},
                        {name: fresh_t[name] for name in trained})
    assert resumed_m["state"]["epoch"] == fresh_m["state"]["epoch"] == target


def test_a_test_label_the_training_set_lacks_is_refused_before_training(tmp_path):
    """An IDX directory whose t10k labels hold a class the train labels lack: one line naming
    the labels file, the record and the label as written, exit 2, before any epoch."""
    from datagen import STANDARD_NAMES, write_idx

    arrays = write_idx_dir(tmp_path / "idx", n_train=60, n_test=20)
    labels = arrays["test_labels"].copy()
    labels[7] = 11  # a class the training labels never have (they are 0..9)
    labels_file = tmp_path / "idx" / (STANDARD_NAMES["test_labels"] + ".gz")
    write_idx(labels_file, labels, gz=True)
    result = xpnn("train", "--data", tmp_path / "idx", "--epochs", "1", "--save",
                  tmp_path / "m.safetensors")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1  # no "training on ..." line, no epoch: refused at load time
    assert (f"{labels_file}, record 7 (from 0): label 11 is not one of the training split's"
            in lines[0])
    assert "np.int64" not in lines[0]
    assert not (tmp_path / "m.safetensors").exists()


def test_evaluate_on_the_training_source_scores_the_same_held_out_rows(tmp_path):
    """README: ``evaluate`` on the very source a model was trained on uses the same
    held-out rows (the stratified test split drawn from the run's seed)."""
    model = tmp_path / "model.safetensors"
    trained = xpnn_json("train", "--epochs", "3", "--seed", "5", "--save", str(model))
    evaluated = xpnn_json("evaluate", str(model), "--dataset", "digits")
    assert evaluated["rows"] == trained["test_rows"] == 359
    assert evaluated["accuracy"] == trained["test_accuracy"]
    assert evaluated["loss"] == pytest.approx(trained["test_loss"], rel=1e-6)


def test_plots_without_matplotlib_fail_before_training(tmp_path, monkeypatch):
    """README: --plots without matplotlib is one line naming the extra, before any epoch;
    nothing is written."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # cannot be uninstalled here
    result = xpnn("train", "--epochs", "2", "--plots", str(tmp_path / "plots"), "--save",
                  str(tmp_path / "model.safetensors"))
    assert result.returncode == 2
    assert "'.[plots]'" in result.stderr and "epoch" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
