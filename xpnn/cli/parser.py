"""The ``xpnn`` command: parses flags and calls the library; no math here.

Exit status: 0 success, 1 failed check (gradcheck over tolerance), 2 bad input or flag
(one line on stderr, nothing written), 3 training diverged, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..config import CHOICES
from ..errors import DivergenceError, XpnnError, entry_point
from ..parallel.launcher import end_interrupted, name_command, release_interrupts
from . import recipes


def has_default(action) -> bool:
    """Whether a flag has a default worth showing: not None, False or suppressed, compared by
    identity (0 and 0.0 equal False, and are defaults worth showing). ``--help`` and cli.md's
    reference (docs/_ext/xpnn_cli_docs.py) both ask this."""
    return not any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS))


class HelpFormat(argparse.ArgumentDefaultsHelpFormatter):
    """Show real defaults, zero included; leave out "(default: None/False)" and defaults the
    text states."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not has_default(action) or "default" in text:
            return text
        return super()._get_help_string(action)


class OneLineErrors(argparse.ArgumentParser):
    """A bad flag is one line on stderr and exit 2, as every other bad input (no usage dump;
    it names --help instead)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden(text: str):
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 256,128; got {text!r}")
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 256,128; got {text!r}")
    return widths


def _number(convert, low, high=float("inf"), *, low_inclusive=True, high_inclusive=False,
            what="a number"):
    """An argparse type: ``convert(text)`` within [low, high] (or open ends as asked)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        within = value is not None and (low <= value if low_inclusive else low < value) and (
            value <= high if high_inclusive else value < high)
        if not within:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _number(int, 1, what="a positive integer")
_nonnegative_int = _number(int, 0, what="an integer >= 0")
_positive_float = _number(float, 0.0, low_inclusive=False, what="a positive number")
_nonnegative_float = _number(float, 0.0, what="a number >= 0")
_unit_interval = _number(float, 0.0, 1.0, high_inclusive=True,
                         what="a number between 0 and 1")
_fraction = _number(float, 0.0, 1.0, low_inclusive=False,
                    what="a fraction between 0 and 1")


def _dropout(text: str):
    """One rate in [0, 1) for every hidden layer (a float), or one per layer (a tuple)."""
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        rates = ()
    if not rates or not all(0.0 <= rate < 1.0 for rate in rates):
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1) like 0.2, or one per "
                                         f"hidden layer like 0.2,0.1; got {text!r}")
    return rates[0] if len(rates) == 1 else rates


def _batch_size(text: str):
    return 0 if text.lower() in ("full", "0") else _positive_int(text)


def _choices(parameter: str) -> tuple:
    """The options the estimators accept for ``parameter``: the very tables their parameter
    check reads (activations, schedules, dtypes), without importing scikit-learn."""
    from ..core.activations import ACTIVATIONS
    from ..backend.devices import DTYPES
    from ..core.optim import SCHEDULES

    return tuple(sorted({"activation": ACTIVATIONS, "learning_rate": SCHEDULES,
                         "dtype": DTYPES}[parameter]))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="xpnn", formatter_class=HelpFormat,
        description="Train, evaluate and use MLP classifiers on CPU (NumPy) or GPU (CuPy).")
    parser.add_argument("--version", action="version", version=f"xpnn {__version__}")
    parser.set_defaults(data_parallel=False)  # train sets it: under mpiexec it starts MPI
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=OneLineErrors)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_export(commands)
    _add_serve(commands)
    _add_gradcheck(commands)
    devices = commands.add_parser("devices", formatter_class=HelpFormat,
                                  help="which backends and devices are usable here, and why not")
    devices.set_defaults(run=_lazy("inspect", "run_devices"))
    return parser


def _lazy(module, function="run"):
    """Import a command's module only when it runs (keeps --help fast), with start-up's
    Ctrl-C handler still in place (``launcher.py``), then KeyboardInterrupt again."""
    def run(args):
        import importlib

        if args.data_parallel:  # under a launcher, MPI starts before the heavy imports
            from ..parallel.distributed import launched_comm

            launched_comm()
        command = getattr(importlib.import_module(f"xpnn.cli.commands.{module}"), function)
        release_interrupts()
        return command(args)
    return run


def _add_train(commands):
    train = commands.add_parser(
        "train", formatter_class=HelpFormat, help="train a model (default: scikit-learn's digits)",
        description="Train an MLP. Flags left out take the data source's recipe (--recipe, "
                    f"default: 'default'): {recipes.describe()}; all Adam unless a flag says "
                    "otherwise. Under an MPI launcher "
                    "(mpiexec -n N xpnn train ...) it trains data-parallel on the N ranks: "
                    "each global batch split across them, the same model as one process.")
    _add_data_flags(train)
    _add_device_flags(train, dtype=True)
    _add_model_flags(train.add_argument_group("model and optimizer"))
    _add_run_flags(train.add_argument_group("validation, checkpoints, output"))
    train.set_defaults(run=_lazy("train"), data_parallel=True)


def _add_model_flags(model):
    """train's network, optimizer, regularization, seed and classes (recipe flags among them)."""
    model.add_argument("--recipe", default=recipes.DEFAULT, choices=recipes.names(),
                       help="the data source's named settings for the flags left out (see "
                            "above; explicit flags win)")
    model.add_argument("--hidden", type=_hidden, help="hidden layer widths, e.g. 256,128 (recipe)")
    model.add_argument("--activation", default="relu", choices=_choices("activation"),
                       help="hidden-layer activation")
    model.add_argument("--epochs", type=_positive_int,
                       help="epochs in all (recipe; with --resume: the saved plan)")
    model.add_argument("--batch-size", type=_batch_size,
                       help="rows per step, or 'full' for full-batch gradient descent (recipe)")
    model.add_argument("--lr", type=_positive_float, help="initial learning rate (recipe: by --optimizer)")
    model.add_argument("--optimizer", default="adam",
                       choices=("sgd", "momentum", "nesterov", "adam", "adamw"),
                       help="update rule (sgd/momentum/nesterov: solver='sgd')")
    model.add_argument("--lr-schedule", choices=_choices("learning_rate"),
                       help="learning rate over the run: constant, cosine decay to 0; with "
                            "sgd/momentum/nesterov also invscaling lr/(t+1)^0.5 and adaptive "
                            "(/5 after --patience epochs without progress) (recipe)")
    model.add_argument("--momentum", type=_unit_interval, default=0.9,
                       help="for momentum/nesterov")
    _add_regularization(model)
    model.add_argument("--class-weight", choices=("balanced",), default=None,
                       help="weigh each class's rows by n / (n_classes * its count), "
                            "scikit-learn's class_weight='balanced' (default: all 1)")
    model.add_argument("--seed", type=int, default=0, help="seed for split, init, batch order")
    model.add_argument("--classes", type=_positive_int,
                       help="number of classes: labels must lie in 0..K-1 (default: what the "
                            "data set defines, else any integers or class names)")


def _add_run_flags(run):
    """train's held-out data, divergence checks, kernels, and what the run writes or shows."""
    run.add_argument("--test-split", type=_fraction, default=0.2,
                     help="stratified held-out test fraction when the source has no test set")
    run.add_argument("--early-stopping", action="store_true",
                     help="hold out --val-split of the training rows; stop when their accuracy "
                          "stops improving; keep the best weights")
    run.add_argument("--val-split", type=_fraction, default=None,
                     help="validation fraction for --early-stopping (default 0.1)")
    run.add_argument("--val-data", metavar="PATH",
                     help="a validation set of your own, in any --data format (a directory "
                          "of IDX files: its test files), scaled as the training rows: "
                          "scored every epoch, and with --early-stopping the set it watches "
                          "(instead of --val-split)")
    run.add_argument("--patience", type=_positive_int, default=5,
                     help="epochs without improvement before early stopping")
    run.add_argument("--check-every", type=_nonnegative_int, default=0,
                     help="steps between divergence checks (0: once per epoch, no extra syncs)")
    run.add_argument("--kernels", choices=CHOICES["kernels"], default=None,
                     help="auto: each namespace's fast step where it has one; reference: "
                          "every step through the array-API code (mlp.forward, mlp.backward, "
                          "optim.py), the same weights (default: $XPNN_KERNELS, else auto)")
    run.add_argument("--save", metavar="MODEL", help="write the model here (.safetensors), atomically")
    run.add_argument("--resume", metavar="MODEL", help="continue training a saved model exactly")
    run.add_argument("--metrics-log", metavar="FILE", help="JSON lines, one record per epoch")
    run.add_argument("--plots", metavar="DIR", help="write PNG curves, confusion matrix, "
                                                    "misclassified images, first-layer weights")
    run.add_argument("--tensorboard", metavar="DIR",
                     help="write TensorBoard event files here: loss, accuracy, validation "
                          "and learning rate per epoch, and the hyperparameters "
                          "(xpnn[tracking])")
    run.add_argument("--mlflow", metavar="EXPERIMENT", nargs="?", const="xpnn",
                     help="log the run to MLflow's store ($MLFLOW_TRACKING_URI, else "
                          "./mlflow.db) in EXPERIMENT (default: xpnn): hyperparameters, "
                          "metrics per epoch, test scores, the --save file (xpnn[tracking])")
    run.add_argument("--dashboard", action="store_true",
                     help="show the curves live in the browser (http://HOST:PORT/), and "
                          "after training the drawing pad with the model, until Ctrl-C "
                          "(with MPI: rank 0 serves)")
    _add_server_flags(run)
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--quiet", action="store_true", help="no progress output")


def _add_regularization(model):
    """The flags that hold the weights back: L2, AdamW's decay, dropout."""
    model.add_argument("--alpha", type=_nonnegative_float, default=0.0,
                       help="L2 penalty on the weights, scikit-learn's alpha")
    model.add_argument("--weight-decay", type=_nonnegative_float, default=0.0,
                       help="AdamW's decoupled weight decay (--optimizer adamw)")
    model.add_argument("--dropout", type=_dropout, default=0.0,
                       help="inverted dropout on the hidden layers' outputs while training: "
                            "a rate for every hidden layer, or one per layer (0.2,0.1)")


def _add_model_command(commands, name, help, description):
    """A command that applies a saved model to data: MODEL, data flags, --device."""
    command = commands.add_parser(name, formatter_class=HelpFormat, help=help,
                                  description=description)
    command.add_argument("model", metavar="MODEL", help="a model saved by xpnn train --save")
    _add_data_flags(command, standardize=False)
    _add_device_flags(command)
    command.set_defaults(run=_lazy(name))
    return command


def _add_evaluate(commands):
    evaluate = _add_model_command(
        commands, "evaluate",
        help="loss, accuracy, per-class precision/recall/F1 and confusion matrix",
        description="Evaluate a saved model on labelled data (a source's test split if it has "
                    "one, else all its rows).")
    evaluate.add_argument("--plots", metavar="DIR", help="write confusion.png (and images)")
    evaluate.add_argument("--json", action="store_true", help="print results as one JSON object")


def _add_predict(commands):
    predict = _add_model_command(
        commands, "predict", help="write predicted labels as CSV",
        description="Predict labels for a file (labels in it, if any, are ignored) and write "
                    "Kaggle's submission format ImageId,Label (ImageId from 1).")
    predict.add_argument("--out", required=True, metavar="FILE", help="CSV to write (atomically)")
    predict.add_argument("--proba", action="store_true", help="add a probability column per class")
    predict.add_argument("--quiet", action="store_true", help="no progress output")


def _add_export(commands):
    export = commands.add_parser(
        "export", formatter_class=HelpFormat, help="write a saved model as ONNX (xpnn[onnx])",
        description="Write a saved model as one ONNX file, its preprocessing (scaling or "
                    "standardisation) in the graph: it takes raw rows (N, features) in the "
                    "model's dtype, as xpnn predict reads them, and outputs label and "
                    "probabilities (a regressor: predictions). Needs the onnx extra (pip install -e '.[onnx]' in xpnn's clone).")
    export.add_argument("model", metavar="MODEL", help="a model saved by xpnn train --save")
    export.add_argument("--out", required=True, metavar="FILE",
                        help="the .onnx file to write (atomically)")
    export.add_argument("--quiet", action="store_true", help="no progress output")
    export.set_defaults(run=_lazy("export"))


def _add_serve(commands):
    serve = commands.add_parser(
        "serve", formatter_class=HelpFormat,
        help="a drawing pad in the browser that a saved model reads; a run's curves",
        description="Serve a local web page where you draw with mouse, pen or finger and see "
                    "MODEL read it as you draw (28x28 models: MNIST's preparation; 8x8: "
                    "scikit-learn's digits'), and/or a finished run's curves from --metrics-log. "
                    "POST /api/predict takes JSON or a PNG. Ctrl-C stops it.")
    serve.add_argument("model", metavar="MODEL", nargs="?",
                       help="a classifier saved by xpnn train --save, trained on images")
    serve.add_argument("--metrics-log", metavar="FILE",
                       help="show this run's curves (xpnn train --metrics-log's JSON lines)")
    _add_server_flags(serve)
    serve.add_argument("--open", action="store_true", help="open the page in a browser")
    serve.set_defaults(run=_lazy("serve"))


def _add_server_flags(parser, port=8000):
    parser.add_argument("--port", type=_number(int, 0, 65536, what="a port 0-65535"),
                        default=port, help="the page's TCP port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on; any other than 127.0.0.1 exposes "
                             "the page to the network")


def _add_gradcheck(commands):
    check = commands.add_parser(
        "gradcheck", formatter_class=HelpFormat,
        help="check the hand-derived gradients against finite differences",
        description="Build a small random network and batch in float64 and compare every "
                    "parameter's analytic gradient with central finite differences. Exits 1 "
                    "above the tolerance.")
    check.add_argument("--hidden", type=_hidden, default=(6, 5), help="hidden layer widths")
    check.add_argument("--features", type=_positive_int, default=5,
                       help="inputs of the random problem checked")
    check.add_argument("--classes", type=_positive_int, default=4,
                       help="outputs (classes) of the random problem checked")
    check.add_argument("--samples", type=_positive_int, default=8,
                       help="rows of the random problem checked")
    check.add_argument("--seed", type=int, default=0,
                       help="seed of the random problem and the weights")
    check.add_argument("--dropout", type=_number(float, 0.0, 1.0, what="a rate in [0, 1)"),
                       default=0.0, help="check through one fixed dropout mask of this rate")
    check.add_argument("--tol", type=_positive_float, default=1e-6,
                       help="max relative error allowed")
    check.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    check.set_defaults(run=_lazy("inspect", "run_gradcheck"))


def _add_data_flags(parser, standardize=True):
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="PATH",
                      help="a CSV (Kaggle style), IDX file or directory (raw or .gz), or .npz")
    data.add_argument("--dataset", choices=("digits", "mnist", "fashion-mnist"),
                      help="a named data set (train: digits when no --data is given)")
    data.add_argument("--label-column", metavar="NAME",
                      help="CSV column holding the labels (default: the first)")
    if standardize:
        data.add_argument("--standardize", action="store_true",
                          help="standardize with the training split's mean/std (default: "
                               "scale by the data's real range, e.g. /255, digits /16)")
    data.add_argument("--offline", action="store_true", help="never download")


def _add_device_flags(parser, dtype=False):
    parser.add_argument("--device", default="cpu",
                        help="cpu (NumPy), cuda or cuda:N (CuPy on GPU N)")
    if dtype:
        parser.add_argument("--dtype", default="float32", choices=_choices("dtype"),
                            help="floating-point precision of data, weights and optimizer state")


def main(argv=None) -> int:
    """Run the ``xpnn`` command ``argv``; every message inside names flags, not the
    library's parameters (``errors.entry_point``)."""
    with entry_point("cli"):
        return _main(sys.argv[1:] if argv is None else list(argv))


def _main(argv: list) -> int:
    command = next((token for token in argv if not token.startswith("-")), None)
    name_command(command or "")
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        name_command(command)
        args.given = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
        return args.run(args)
    except KeyboardInterrupt as exc:  # at any moment: one line for the whole job, 130
        if getattr(exc, "agreed", False):  # every rank stopped together: a normal end
            return report_error(command, exc)
        return end_interrupted()
    except (XpnnError, OSError) as exc:
        return report_error(command, exc)
    finally:
        release_interrupts(raise_noted=False)  # a parse error, --help: Ctrl-C as it was


# the exit status of each expected failure (the first class an exception is an instance of:
# a DivergenceError is an XpnnError too)
EXIT_STATUS = {DivergenceError: 3, XpnnError: 2, OSError: 2, KeyboardInterrupt: 130}


def exit_status(exc: BaseException) -> int | None:
    """The exit status of an expected failure, None for an exception that is not one."""
    return next((status for kind, status in EXIT_STATUS.items() if isinstance(exc, kind)),
                None)


def report_error(command: str, exc: BaseException) -> int | None:
    """Print the one line for an expected failure (one write: the lines of MPI ranks never
    run together) and return the exit status; None for an exception that is not one."""
    status = exit_status(exc)
    if status is None:
        return None
    if isinstance(exc, DivergenceError):  # it says what it is itself
        line = f"xpnn {command}: {exc}"
    elif isinstance(exc, XpnnError):
        line = f"xpnn {command}: error: {exc}"
    elif isinstance(exc, OSError):  # an output that cannot be written: disk full, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        line = f"xpnn {command}: error: {where}{exc.strerror or exc}"
    elif isinstance(exc, KeyboardInterrupt):
        line = f"xpnn {command}: interrupted"
    sys.stderr.write(line + "\n")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
