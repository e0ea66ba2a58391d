"""``xpnn train`` through a subprocess: the default job, flags, and error exits."""
import pytest

from clirun import xpnn, xpnn_json


def test_default_train_on_digits_reaches_97_percent():
    summary = xpnn_json("train")
    assert summary["test_accuracy"] >= 0.97
    assert summary["backend"] == "numpy" and summary["device"] == "cpu"
    assert summary["epochs"] == 40 and summary["test_rows"] == 359
    assert summary["test_loss"] < 0.2 and summary["seconds"] > 0


def test_flags_reach_the_model():
    summary = xpnn_json("train", "--hidden", "32,16", "--epochs", "2", "--batch-size", "full",
                        "--lr", "0.1", "--optimizer", "momentum", "--dtype", "float64",
                        "--seed", "3")
    assert summary["hidden"] == [32, 16] and summary["epochs"] == 2
    assert summary["dtype"] == "float64"


def test_progress_goes_to_stderr_and_summary_to_stdout():
    result = xpnn("train", "--epochs", "2")
    assert result.returncode == 0
    assert "epoch   1/2" in result.stderr and "epoch   2/2" in result.stderr
    assert result.stdout.startswith("test accuracy ")


def test_divergence_exits_non_zero_with_the_explanation():
    result = xpnn("train", "--lr", "1e10", "--optimizer", "sgd", "--epochs", "3")
    assert result.returncode == 3
    assert "training diverged at epoch 1, step" in result.stderr
    assert "lower learning rate" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "12,x"], "comma-separated widths"),
    (["--epochs", "0"], "positive integer"),
    (["--lr", "-1"], "positive number"),
    (["--optimizer", "rmsprop"], "invalid choice"),
    (["--device", "tpu"], "expected cpu, cuda or cuda:N"),
])
def test_bad_flags_exit_2_with_one_line(flags, message):
    result = xpnn("train", *flags)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cuda_without_cupy_is_a_clear_error():
    from conftest import gpu_skip_reason

    if gpu_skip_reason() is None:
        pytest.skip("a GPU is usable here; the no-GPU path is tested by simulation")
    result = xpnn("train", "--device", "cuda")
    assert result.returncode == 2
    assert "--device cuda" in result.stderr and "--device cpu" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_version_and_help():
    assert xpnn("--version").stdout.startswith("xpnn ")
    help_text = xpnn("train", "--help").stdout
    for flag in ("--device", "--hidden", "--epochs", "--batch-size", "--lr", "--optimizer",
                 "--seed", "--dtype", "--json"):
        assert flag in help_text
    assert "(default:\n                        cpu)" in help_text or "(default: cpu)" in help_text
