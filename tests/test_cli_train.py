"""``xpnn train`` as a user runs it (clirun.py): the default job, flags, and error exits."""
import pytest

from clirun import xpnn, xpnn_json


def test_default_train_on_digits_reaches_97_percent():
    from xpnn.cli.recipes import RECIPES

    summary = xpnn_json("train")
    assert summary["test_accuracy"] >= 0.97
    assert summary["backend"] == "numpy" and summary["device"] == "cpu"
    assert summary["epochs"] == RECIPES["digits"]["default"]["epochs"]
    assert summary["test_rows"] == 359
    assert summary["test_loss"] < 0.2 and summary["seconds"] > 0


def test_flags_reach_the_model(tmp_path):
    from xpnn.saving.checkpoint import load_model

    path = tmp_path / "model.safetensors"
    summary = xpnn_json("train", "--hidden", "32,16", "--epochs", "2", "--batch-size", "full",
                        "--lr", "0.1", "--optimizer", "momentum", "--dtype", "float64",
                        "--seed", "3", "--save", str(path))
    assert summary["hidden"] == [32, 16] and summary["epochs"] == 2
    assert summary["dtype"] == "float64"
    model, _, _ = load_model(path)
    assert tuple(model.hidden_layer_sizes) == (32, 16) and model.max_iter == 2
    assert model.batch_size == "full" and model.learning_rate_init == 0.1
    assert model.solver == "sgd" and model.momentum == 0.9 and not model.nesterovs_momentum
    assert model.random_state == 3 and model.dtype_ == "float64"
    assert model.state_.opt_state["step"] == 2  # full batch: one step an epoch


def test_progress_goes_to_stderr_and_summary_to_stdout():
    result = xpnn("train", "--epochs", "2", process=True)
    assert result.returncode == 0
    assert "epoch   1/2" in result.stderr and "epoch   2/2" in result.stderr
    assert result.stdout.startswith("test accuracy ")


def test_divergence_exits_non_zero_with_the_explanation():
    result = xpnn("train", "--lr", "1e10", "--optimizer", "sgd", "--epochs", "3", process=True)
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
    (["--class-weight", "even"], "invalid choice"),
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


def _one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_class_names_train_predict_and_come_back_verbatim(tmp_path):
    """A CSV label column of names trains; the checkpoint stores them; predict writes them."""
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    lines = ["label," + ",".join(f"p{i}" for i in range(64))]
    lines += [f"{names[label]}," + ",".join(str(int(v)) for v in row) for row, label in zip(X, y)]
    data = tmp_path / "named.csv"
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.safetensors"
    summary = xpnn_json("train", "--data", data, "--epochs", "15", "--save", model)
    assert summary["test_accuracy"] > 0.9
    out = tmp_path / "pred.csv"
    assert xpnn("predict", model, "--data", data, "--out", out).returncode == 0
    predicted = [line.split(",")[1] for line in out.read_text().splitlines()[1:]]
    assert set(predicted) <= set(names) and np.mean(np.array(predicted) == names[y]) > 0.9


def test_resume_accepts_repeated_values_and_refuses_changed_ones(tmp_path):
    model = tmp_path / "m.safetensors"
    assert xpnn("train", "--epochs", "2", "--hidden", "8", "--seed", "0", "--lr", "0.001",
                "--save", model).returncode == 0
    again = xpnn_json("train", "--resume", model, "--epochs", "3", "--hidden", "8", "--seed",
                      "0", "--lr", "0.001", "--optimizer", "adam", "--save", model)
    assert again["epochs"] == 3
    before = model.read_bytes()
    result = xpnn("train", "--resume", model, "--epochs", "4", "--seed", "1", "--save", model)
    _one_line_error(result, "--seed", "cannot change on --resume")
    assert model.read_bytes() == before


def test_class_weight_balanced_is_saved_and_fixed_on_resume(tmp_path):
    from xpnn.saving.checkpoint import load_model

    balanced, plain = tmp_path / "balanced.safetensors", tmp_path / "plain.safetensors"
    for path, flags in ((balanced, ["--class-weight", "balanced"]), (plain, [])):
        result = xpnn("train", "--epochs", "1", "--hidden", "8", *flags, "--save", path)
        assert result.returncode == 0, result.stderr
    assert load_model(balanced)[0].class_weight == "balanced"
    assert load_model(plain)[0].class_weight is None
    again = xpnn_json("train", "--resume", balanced, "--epochs", "2", "--class-weight",
                      "balanced")
    assert again["epochs"] == 2
    _one_line_error(xpnn("train", "--resume", plain, "--epochs", "2", "--class-weight",
                         "balanced"), "--class-weight cannot change on --resume")


def test_resuming_a_library_checkpoint_without_its_data_record_is_refused(tmp_path):
    import numpy as np

    import xpnn as library
    from xpnn.saving.checkpoint import save_model

    model = tmp_path / "lib.safetensors"
    X = np.random.default_rng(0).random((40, 64))
    save_model(model, library.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(
        X, np.arange(40) % 2))
    _one_line_error(xpnn("train", "--resume", model), "does not record its data source")


def test_a_model_too_large_for_memory_is_a_one_line_error():
    result = xpnn("train", "--hidden", "4000000000", "--epochs", "1", "--quiet")
    _one_line_error(result, "GiB", "use smaller hidden layers")


@pytest.mark.parametrize("flags, needles", [
    (["--val-split", "0.2"], ["--val-split needs --early-stopping"]),
    (["--weight-decay", "0.1"], ["--weight-decay", "--optimizer adamw", "--alpha"]),
])
def test_flag_combinations_the_estimator_would_refuse(flags, needles):
    _one_line_error(xpnn("train", "--epochs", "1", *flags), *needles)


def test_activation_and_l2_flags_reach_the_model():
    summary = xpnn_json("train", "--epochs", "3", "--activation", "tanh", "--alpha", "1e-3",
                        "--lr-schedule", "invscaling", "--optimizer", "nesterov", "--lr", "0.05")
    assert summary["activation"] == "tanh" and summary["test_accuracy"] > 0.8


@pytest.mark.parametrize("flags, needle", [
    (["--momentum", "1.5"], "--momentum"), (["--alpha", "-1"], "--alpha"),
    (["--weight-decay", "-1", "--optimizer", "adamw"], "--weight-decay"),
    (["--check-every", "-3"], "--check-every"),
    (["--lr-schedule", "invscaling"], "applies to sgd"),
])
def test_out_of_range_numeric_flags_are_one_line_errors(flags, needle):
    _one_line_error(xpnn("train", "--epochs", "1", *flags), needle)


def test_adaptive_schedule_divides_on_plateaus_and_resume_keeps_patience(tmp_path):
    from xpnn.files.checkpoint_io import load_checkpoint

    model = tmp_path / "m.safetensors"
    # full-batch SGD at lr 1e-5 improves the loss by less than tol each epoch: plateaus
    assert xpnn("train", "--optimizer", "sgd", "--lr", "1e-5", "--epochs", "6", "--batch-size",
                "full", "--lr-schedule", "adaptive", "--patience", "1", "--quiet", "--save",
                model).returncode == 0
    assert load_checkpoint(model)[1]["state"]["lr_factor"] < 1.0
    stopper = tmp_path / "es.safetensors"
    assert xpnn("train", "--epochs", "2", "--early-stopping", "--patience", "50", "--quiet",
                "--save", stopper).returncode == 0
    assert xpnn("train", "--resume", stopper, "--epochs", "3", "--early-stopping", "--quiet",
                "--save", stopper).returncode == 0
    assert load_checkpoint(stopper)[1]["hyperparameters"]["n_iter_no_change"] == 50


HEAVY = ("sklearn", "scipy", "numba", "torch", "jax", "matplotlib", "mpi4py", "onnx", "ndonnx",
         "onnxruntime", "skl2onnx")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"],
                                  ["export", "--help"]])
def test_the_cli_starts_without_importing_what_the_command_does_not_need(argv):
    """`xpnn --version` and the help texts import none of scikit-learn, SciPy, numba, torch,
    JAX, matplotlib, mpi4py, the ONNX packages (checked in a fresh interpreter through
    sys.modules)."""
    import subprocess
    import sys

    code = ("import sys, xpnn.cli.parser\n"
            "try:\n    xpnn.cli.parser.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


# -- named recipes (issue 19) ---------------------------------------------------------------

def parsed(*argv):
    from xpnn.cli.parser import build_parser

    args = build_parser().parse_args(["train", *argv])
    args.given = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    return args


def test_a_recipe_fills_the_flags_left_out_and_explicit_flags_win():
    from xpnn.cli.recipes import RECIPES, with_recipe

    accurate = RECIPES["fashion-mnist"]["accurate"]
    filled = with_recipe(parsed("--dataset", "fashion-mnist", "--epochs", "3"), "accurate")
    assert filled.epochs == 3  # given
    assert filled.hidden == accurate["hidden"] and filled.lr_schedule == "cosine"
    default = with_recipe(parsed("--hidden", "64"))  # digits, its default recipe
    assert default.hidden == (64,) and default.epochs == RECIPES["digits"]["default"]["epochs"]
    other = with_recipe(parsed("--data", "x.csv"))
    assert other.epochs == RECIPES["other data"]["default"]["epochs"]


def test_every_flag_has_help_and_every_default_shows_zero_included():
    """Each option of each command says what it does; a default of 0 or 0.0 is shown as
    any other (argparse's own formatter would see 0 == False and drop it)."""
    import argparse

    from xpnn.cli.parser import HelpFormat, build_parser

    commands = next(action for action in build_parser()._actions
                    if isinstance(action, argparse._SubParsersAction)).choices
    zeros = []
    for name, command in commands.items():
        formatter = HelpFormat(prog=name)
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"xpnn {name} {action.option_strings[0]} has no help"
            number = isinstance(action.default, (int, float)) and not isinstance(
                action.default, bool)
            if number and action.default == 0 and "default" not in action.help:
                text = formatter._get_help_string(action)
                assert text.endswith("(default: %(default)s)"), (name, action.dest, text)
                zeros.append((name, action.option_strings[0]))
    assert ("train", "--seed") in zeros and ("gradcheck", "--seed") in zeros


def test_every_recipe_is_listed_in_help_and_an_unknown_one_is_refused(tmp_path):
    from xpnn.cli.recipes import RECIPES

    help_text = " ".join(xpnn("train", "--help").stdout.split())
    for source, recipes in RECIPES.items():
        for name in recipes:
            assert f"{source} {name}:" in help_text
    result = xpnn("train", "--recipe", "accurate", "--save", tmp_path / "m.safetensors")
    assert result.returncode == 2
    assert result.stderr.strip() == ("xpnn train: error: --recipe accurate: digits has the "
                                     "recipes default")
    assert not list(tmp_path.iterdir())


def test_the_recipe_s_learning_rate_follows_the_optimizer():
    """Without --lr a run takes its optimizer's rate (recipes.LEARNING_RATES), or its
    recipe's rate for that optimizer where the recipe has one; --lr wins."""
    from xpnn.cli.recipes import LEARNING_RATES, RECIPES, describe, with_recipe

    digits = RECIPES["digits"]["default"]["lr"]
    for optimizer, rate in LEARNING_RATES.items():
        assert with_recipe(parsed("--data", "x.csv", "--optimizer", optimizer)).lr == rate
        assert with_recipe(parsed("--optimizer", optimizer)).lr == digits[optimizer]
    assert LEARNING_RATES["sgd"] > LEARNING_RATES["adam"]
    assert with_recipe(parsed("--optimizer", "sgd", "--lr", "0.5")).lr == 0.5
    assert with_recipe(parsed("--dataset", "fashion-mnist", "--optimizer", "nesterov")).lr == (
        LEARNING_RATES["nesterov"])
    assert "--lr by --optimizer: sgd 0.1," in describe()
    assert "--lr 0.2 with sgd" in describe()


def test_plain_sgd_reaches_95_percent_on_the_digits_in_the_default_epochs():
    """Adam's 1e-3 left plain SGD at 0.85 after 40 epochs on the digits; its own rate (the
    recipe's for plain SGD) does not."""
    from xpnn.cli.recipes import RECIPES

    recipe = RECIPES["digits"]["default"]
    summary = xpnn_json("train", "--optimizer", "sgd", "--quiet")
    assert summary["optimizer"] == "sgd" and summary["epochs"] == recipe["epochs"]
    assert summary["lr"] == recipe["lr"]["sgd"]
    assert summary["test_accuracy"] >= 0.95, summary["test_accuracy"]
