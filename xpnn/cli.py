"""The ``xpnn`` command: parses flags and calls the library; no math here.

Exit status: 0 success, 1 failed check (gradcheck over tolerance), 2 bad input or flag
(one line on stderr), 3 training diverged, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__
from .errors import DivergenceError, XpnnError

# Defaults per data source when a flag is not given: what reaches good accuracy there.
RECIPES = {
    "digits": {"hidden": (256, 128), "epochs": 40, "batch_size": 32, "lr": 1e-3},
    "default": {"hidden": (256, 128), "epochs": 10, "batch_size": 128, "lr": 1e-3},
}


def _hidden(text: str):
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 256,128; got {text!r}")
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 256,128; got {text!r}")
    return widths


def _positive_int(text: str):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _batch_size(text: str):
    if text.lower() in ("full", "0"):
        return 0
    return _positive_int(text)


def _positive_float(text: str):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str):
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xpnn", description="Train, evaluate and use MLP classifiers on CPU or GPU.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"xpnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a model (default: scikit-learn's digits)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train an MLP. Flags left out take the data source's recipe "
                    "(digits: --hidden 256,128 --epochs 40 --batch-size 32 --lr 1e-3).")
    _add_data_flags(train)
    _add_device_flags(train)
    train.add_argument("--hidden", type=_hidden, default=None,
                       help="hidden layer widths, comma-separated (recipe if omitted)")
    train.add_argument("--epochs", type=_positive_int, default=None, help="epochs (recipe if omitted)")
    train.add_argument("--batch-size", type=_batch_size, default=None,
                       help="rows per step; 'full' for full-batch gradient descent")
    train.add_argument("--lr", type=_positive_float, default=None, help="learning rate")
    train.add_argument("--optimizer", default="adam",
                       choices=("sgd", "momentum", "nesterov", "adam", "adamw"))
    train.add_argument("--momentum", type=float, default=0.9, help="for momentum/nesterov")
    train.add_argument("--weight-decay", type=float, default=0.0,
                       help="L2 (sgd, adam) or decoupled (adamw) weight decay")
    train.add_argument("--seed", type=int, default=0, help="seed for split, init and batch order")
    train.add_argument("--test-split", type=_fraction, default=0.2,
                       help="held-out stratified test fraction when the source has no test set")
    train.add_argument("--check-every", type=int, default=0,
                       help="steps between divergence checks (0: once per epoch, no extra syncs)")
    train.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    train.set_defaults(run=run_train)
    return parser


def _add_data_flags(parser):
    parser.add_argument("--dataset", default=None, choices=("digits", "mnist", "fashion-mnist"),
                        help="a named data set (default digits when --data is not given)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="CSV, IDX file/directory or .npz to train on")
    parser.add_argument("--label-column", default=None, metavar="NAME",
                        help="CSV column holding the labels (default: the first)")
    parser.add_argument("--standardize", action="store_true",
                        help="standardize features with the training split's mean/std "
                             "(default: scale by the data's real range)")
    parser.add_argument("--offline", action="store_true", help="never download")


def _add_device_flags(parser):
    parser.add_argument("--device", default="cpu",
                        help="cpu (NumPy), cuda or cuda:N (CuPy on GPU N)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))


# -- train ----------------------------------------------------------------------------


def run_train(args) -> int:
    import numpy as np

    from .backend import resolve_device
    from .data.split import stratified_split
    from .data.sources import load_source
    from .estimator import MLPClassifier
    from .preprocess import fit_preprocessing

    started = time.perf_counter()
    backend = resolve_device(args.device)  # fail on a missing GPU before loading data
    if args.data is None and args.dataset is None:
        args.dataset = "digits"
    recipe = RECIPES.get(args.dataset if args.data is None else "", RECIPES["default"])
    hidden = args.hidden or recipe["hidden"]
    epochs = args.epochs or recipe["epochs"]
    batch_size = recipe["batch_size"] if args.batch_size is None else args.batch_size
    lr = args.lr or recipe["lr"]

    splits = load_source(args.data, args.dataset, label_column=args.label_column,
                         need_labels=True, offline=args.offline, progress=not args.quiet)
    train_set, test_set = splits.train, splits.test
    if test_set is None:
        train_idx, test_idx = stratified_split(train_set.y, args.test_split,
                                               np.random.default_rng(args.seed))
        train_set, test_set = train_set.subset(train_idx), train_set.subset(test_idx)
    preprocessing = fit_preprocessing(train_set, args.standardize)
    X_train = backend.asarray(preprocessing.apply(train_set.X, args.dtype))
    y_train = backend.asarray(train_set.y)
    X_test = backend.asarray(preprocessing.apply(test_set.X, args.dtype))
    y_test = backend.asarray(test_set.y)

    clf = MLPClassifier(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                        optimizer=args.optimizer, seed=args.seed, dtype=args.dtype,
                        momentum=args.momentum, weight_decay=args.weight_decay,
                        check_every=args.check_every)
    log = _progress_printer(args, epochs)
    if not args.quiet and not args.json:
        print(f"xpnn: training {train_set.source}: {len(train_set)} train / {len(test_set)} test "
              f"rows, {train_set.n_features} features, MLP {hidden}, {args.optimizer} lr {lr:g}, "
              f"batch {batch_size or 'full'}, {args.dtype} on {backend.label}", file=sys.stderr)
    clf.fit(X_train, y_train, on_epoch=log)
    test_loss, test_accuracy = clf.evaluate(X_test, y_test)
    summary = {
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "epochs": len(clf.history_), "train_loss": clf.history_[-1]["loss"],
        "train_accuracy": clf.history_[-1]["accuracy"], "device": backend.label,
        "backend": backend.name, "dtype": args.dtype, "hidden": list(hidden),
        "data": train_set.source, "train_rows": len(train_set), "test_rows": len(test_set),
        "seconds": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"test accuracy {test_accuracy:.4f}  test loss {test_loss:.4f}  "
              f"({summary['epochs']} epochs, {summary['seconds']:.1f} s on {backend.label})")
    return 0


def _progress_printer(args, epochs):
    if args.quiet or args.json:
        return None

    def on_epoch(record):
        val = ""
        if record["val_loss"] is not None:
            val = f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}"
        print(f"epoch {record['epoch']:>3}/{epochs}  loss {record['loss']:.4f}  "
              f"acc {record['accuracy']:.4f}{val}  {record['seconds']:.2f} s", file=sys.stderr)

    return on_epoch


# -- entry point ----------------------------------------------------------------------


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except XpnnError as exc:
        print(f"xpnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except DivergenceError as exc:
        print(f"xpnn {args.command}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"xpnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
