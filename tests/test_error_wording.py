"""Errors in the caller's own terms: a library caller reads ``learning_rate_init=``,
``device="cpu"``, ``label_column``; the ``xpnn`` command's user reads ``--lr``,
``--device cpu``, ``--label-column``. One table (``errors.SPELLINGS``) spells each setting
per entry point; the CLI's ``main`` sets its entry point, the library is the default.

Each kind of error (divergence, device, data) is checked both ways: the library's message
names the parameter and holds no ``--`` flag; the command's (run through its real ``main``,
``clirun.xpnn``) names the flag.
"""
import contextlib
import sys
import types

import numpy as np
import pytest
from clirun import xpnn
from conftest import gpu_skip_reason

import xpnn as library
from xpnn.backend.devices import Backend, resolve_device
from xpnn.errors import (SPELLINGS, DivergenceError, XpnnDataError, XpnnDeviceError, XpnnError,
                         entry_point, spelled)


def assert_no_flag(message: str):
    assert " --" not in f" {message}" and "(--" not in message, message


def cli_line(result, status=2) -> str:
    """The command's one line on stderr, checked: its status, no traceback."""
    assert result.returncode == status, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# -- the table -------------------------------------------------------------------------------

@pytest.mark.parametrize("setting", sorted(SPELLINGS))
def test_every_setting_is_a_parameter_to_the_library_and_a_flag_to_the_command(setting):
    library_word = spelled(setting, "v")
    with entry_point("cli"):
        cli_word = spelled(setting, "v")
        assert cli_word.startswith("--")
        assert spelled(setting).startswith("--")
    assert_no_flag(library_word)
    assert spelled(setting) == SPELLINGS[setting].library  # the context ended


def test_values_read_as_each_caller_writes_them():
    assert spelled("device", "cpu") == 'device="cpu"'
    assert spelled("learning_rate", "0.001") == "learning_rate_init=0.001"
    with entry_point("cli"):
        assert spelled("device", "cpu") == "--device cpu"
        assert spelled("learning_rate", "0.001") == "--lr 0.001"
        assert spelled("offline", True) == "--offline"
    assert spelled("offline", True) == "offline=True"


def test_an_unknown_entry_point_is_refused():
    with pytest.raises(XpnnError, match=r"^entry_point\('notebook'\): expected one of "
                                        r"'library', 'cli'$"):
        with entry_point("notebook"):
            pass


def test_every_error_meant_for_a_person_is_an_xpnn_error():
    """docs/api.rst's claim; DivergenceError keeps its ValueError (scikit-learn's) and
    ArithmeticError bases."""
    assert issubclass(DivergenceError, XpnnError)
    assert issubclass(DivergenceError, ValueError)
    assert issubclass(DivergenceError, ArithmeticError)


# -- divergence ------------------------------------------------------------------------------

def test_a_diverging_fit_names_learning_rate_init():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = library.MLPClassifier(solver="sgd", learning_rate_init=1e6, dtype="float32",
                                  max_iter=2, random_state=0)
    with pytest.raises(DivergenceError) as info:
        model.fit(X, y)
    message = str(info.value)
    assert "now learning_rate_init=1e+06, e.g. learning_rate_init=100000" in message
    assert "make_pipeline(StandardScaler(), model)" in message
    assert_no_flag(message)


def test_a_diverging_train_names_lr_and_standardize():
    line = cli_line(xpnn("train", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2",
                         "--quiet"), status=3)
    assert line.startswith("xpnn train: training diverged at epoch 1, step ")
    assert "now --lr 1e+06, e.g. --lr 100000" in line and "--standardize" in line
    assert "learning_rate_init" not in line and "StandardScaler" not in line


# -- devices ---------------------------------------------------------------------------------

no_gpu = pytest.mark.skipif(gpu_skip_reason() is None,
                            reason="a GPU is usable here: device='cuda' is no error")


@no_gpu
def test_fit_on_cuda_without_a_usable_gpu_names_device_cpu():
    """Real: CuPy installed without a driver (or not installed), no mock."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with pytest.raises(XpnnDeviceError) as info:
        library.MLPClassifier(device="cuda", max_iter=1).fit(X, y)
    message = str(info.value)
    assert message.startswith('device="cuda": ') and message.endswith('use device="cpu"')
    assert_no_flag(message)


@no_gpu
def test_train_on_cuda_without_a_usable_gpu_names_device_cpu_flag():
    line = cli_line(xpnn("train", "--device", "cuda", "--epochs", "1"))
    assert line.startswith("xpnn train: error: --device cuda: ")
    assert line.endswith("use --device cpu") and 'device="' not in line


def test_a_bad_device_string_both_ways():
    with pytest.raises(XpnnDeviceError, match=r'^device="gpu": expected cpu, cuda or cuda:N'):
        resolve_device("gpu")
    line = cli_line(xpnn("train", "--device", "gpu"))
    assert line == "xpnn train: error: --device gpu: expected cpu, cuda or cuda:N (e.g. cuda:0)"


def _fake_cupy_with_free_mib(monkeypatch, free_mib):
    runtime = types.SimpleNamespace(memGetInfo=lambda: (free_mib * 2**20, 80 * 2**30))
    pool = types.SimpleNamespace(free_bytes=lambda: 0)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=runtime), get_default_memory_pool=lambda: pool))
    return Backend(xp=None, device=contextlib.nullcontext(), name="cupy", label="cuda:0")


@pytest.mark.parametrize("entry, expected", [
    ("library", ('device="cuda:0": ', 'use dtype="float32", fewer rows, or device="cpu"')),
    ("cli", ("--device cuda:0: ", "use --dtype float32, fewer rows, or --device cpu")),
])
def test_out_of_gpu_memory_both_ways(monkeypatch, entry, expected):
    """Simulated (a GPU's free memory cannot be arranged): the words are the point."""
    backend = _fake_cupy_with_free_mib(monkeypatch, 50)
    with entry_point(entry), pytest.raises(XpnnDeviceError) as info:
        backend.asarray(np.zeros((1000, 100_000), dtype=np.float32))  # 381 MiB
    message = str(info.value)
    assert message.startswith(expected[0]) and expected[1] in message
    if entry == "library":
        assert_no_flag(message)


@pytest.mark.parametrize("entry, expected", [
    ("library", ('device="cuda": CuPy is not installed', 'or use device="cpu"')),
    ("cli", ("--device cuda: CuPy is not installed", "or use --device cpu")),
])
def test_missing_cupy_both_ways(monkeypatch, entry, expected):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with entry_point(entry), pytest.raises(XpnnDeviceError) as info:
        resolve_device("cuda")
    message = str(info.value)
    assert message.startswith(expected[0]) and message.endswith(expected[1])


@pytest.mark.parametrize("entry, expected", [
    ("library", 'dtype="float16": expected one of float32, float64'),
    ("cli", "--dtype float16: expected one of float32, float64"),
])
def test_an_unknown_dtype_both_ways(entry, expected):
    """The CLI's --dtype choices stop float16 at the parser; a Backend is asked directly."""
    with entry_point(entry), pytest.raises(XpnnDeviceError, match=f"^{expected}$"):
        resolve_device("cpu").dtype("float16")


# -- data ------------------------------------------------------------------------------------

def test_a_label_column_for_a_named_dataset_both_ways():
    from xpnn.data.sources import load_source

    with pytest.raises(XpnnDataError) as info:
        load_source(dataset="digits", label_column="label")
    message = str(info.value)
    assert message == ('dataset="digits": a label column name (label_column) only applies '
                       'to CSV files')
    line = cli_line(xpnn("train", "--dataset", "digits", "--label-column", "label"))
    assert line == ("xpnn train: error: --dataset digits: a label column name "
                    "(--label-column) only applies to CSV files")


def test_a_class_count_for_class_names_both_ways(tmp_path):
    from xpnn.data.csv import load_csv

    names = tmp_path / "names.csv"
    names.write_text("label,a,b\ncat,1,2\ndog,3,4\ncat,5,6\n")
    with pytest.raises(XpnnDataError) as info:
        load_csv(names, n_classes=3)
    assert "a class count (n_classes=3) needs integer labels 0..2" in str(info.value)
    assert_no_flag(str(info.value))
    line = cli_line(xpnn("train", "--data", names, "--classes", "3"))
    assert "a class count (--classes 3) needs integer labels 0..2" in line


def test_a_csv_without_a_label_column_both_ways(tmp_path):
    from xpnn.data.csv import load_csv

    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("label,a\n1,2\n")
    duplicate = tmp_path / "twice.csv"
    duplicate.write_text("label,a,label\n1,2,1\n0,3,0\n")
    with pytest.raises(XpnnDataError) as info:
        load_csv(duplicate)
    assert str(info.value).endswith("(or name the label column with label_column)")
    line = cli_line(xpnn("train", "--data", duplicate))
    assert line.endswith("(or name the label column with --label-column)")


def test_no_mirror_names_the_data_argument_both_ways(tmp_path):
    from xpnn.data.download import download_dataset

    with pytest.raises(XpnnDataError) as info:
        download_dataset("mnist", tmp_path / "mnist", mirrors=[])
    assert str(info.value).endswith('or pass data="DIR" with a local copy')
    with entry_point("cli"), pytest.raises(XpnnDataError) as info:
        download_dataset("mnist", tmp_path / "mnist", mirrors=[])
    assert str(info.value).endswith("or pass --data DIR with a local copy")


def test_a_validation_set_of_other_features_names_x_val():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = library.MLPClassifier(max_iter=1)
    with pytest.raises(ValueError) as info:
        model.fit(X, y, X_val=X[:, :10], y_val=y)
    message = str(info.value)
    assert message.startswith("X_val: X has 10 features, but MLPClassifier is expecting 64")
    assert_no_flag(message)
