"""``xpnn train``: load and validate data, train (or resume), evaluate, save, report."""
from __future__ import annotations

import time

import numpy as np

from ..backend import as_host_array, resolve_device
from ..data.split import stratified_split
from ..errors import XpnnDataError, XpnnError
from ..train import TrainingInterrupted, batch_slices
from .common import check_output_path, print_json, say
from .progress import Progress

# What a resumed run takes from its checkpoint; giving one of these with --resume is an error.
FIXED_ON_RESUME = ("--hidden", "--batch-size", "--lr", "--lr-schedule", "--optimizer",
                   "--momentum", "--weight-decay", "--dtype", "--seed", "--val-split",
                   "--standardize", "--classes", "--test-split")

# Defaults per data source when a flag is not given: what reaches good accuracy there.
RECIPES = {
    "digits": {"hidden": (256, 128), "epochs": 40, "batch_size": 32, "lr": 1e-3},
    "fashion-mnist": {"hidden": (512, 256), "epochs": 30, "batch_size": 128, "lr": 1e-3,
                      "lr_schedule": "cosine"},
    "default": {"hidden": (256, 128), "epochs": 10, "batch_size": 128, "lr": 1e-3},
}


def recipe_for(dataset):
    return RECIPES.get(dataset or "", RECIPES["default"])


def run(args) -> int:
    from ..checkpoint import load_model, save_model
    from ..data.sources import load_source
    from ..estimator import MLPClassifier
    from ..preprocess import fit_preprocessing

    started = time.perf_counter()
    backend = resolve_device(args.device)  # a missing GPU fails before any data is read
    save_path = check_output_path(args.save, "--save")
    log_path = check_output_path(args.metrics_log, "--metrics-log")
    if args.plots:
        from ..plots import require_matplotlib

        require_matplotlib()
    if args.resume:
        changed = [flag for flag in FIXED_ON_RESUME if flag in getattr(args, "given", ())]
        if changed:
            raise XpnnError(f"{', '.join(changed)} cannot change on --resume: the run continues "
                            f"with the settings saved in {args.resume} (only --epochs, "
                            f"--early-stopping and --patience may change)")

    clf = preprocessing = None
    info = {}
    if args.resume:
        clf, preprocessing, info = load_model(args.resume, device=args.device)
        if args.data is None and args.dataset is None:
            args.data, args.dataset = info.get("data"), info.get("dataset")
        args.seed, args.test_split = clf.seed, info.get("test_split", args.test_split)
    if args.data is None and args.dataset is None:
        args.dataset = "digits"

    n_classes = int(clf.classes_.shape[0]) if clf else args.classes
    splits = load_source(args.data, args.dataset, label_column=args.label_column,
                         need_labels=True, offline=args.offline, progress=not args.quiet,
                         n_features=clf.n_features_in_ if clf else None, n_classes=n_classes)
    train_set, test_set = splits.train, splits.test
    if test_set is None:
        train_idx, test_idx = stratified_split(train_set.y, args.test_split,
                                               np.random.default_rng(args.seed))
        train_set, test_set = train_set.subset(train_idx), train_set.subset(test_idx)
    if len(test_set) == 0 or len(np.unique(train_set.y)) < 2:
        raise XpnnDataError(f"{train_set.source}: {len(train_set) + len(test_set)} rows are too "
                            f"few to train and hold out a test split; give more rows (two or "
                            f"more per class) or a separate test set")
    if clf is None:
        preprocessing = fit_preprocessing(train_set, args.standardize)
        clf = _new_model(args)
    else:
        clf.epochs = args.epochs or clf.epochs
        clf.early_stopping = clf.early_stopping or args.early_stopping
        if "--patience" in getattr(args, "given", ()):
            clf.patience = args.patience
    dtype = clf.dtype
    X_train = backend.asarray(preprocessing.apply(train_set.X, dtype))
    y_train = backend.asarray(train_set.y)

    info = {"data": args.data, "dataset": args.dataset, "test_split": args.test_split,
            "seed": args.seed,
            "source": train_set.source, "image_shape": train_set.image_shape}
    say(args, f"xpnn: training on {train_set.source}: {len(train_set)} train / {len(test_set)} "
              f"test rows, {train_set.n_features} features, MLP {clf.hidden}, {clf.optimizer} "
              f"lr {clf.lr:g}, batch {clf.batch_size or 'full'}, {dtype} on {backend.label}"
              + (f", resuming after epoch {clf.state_.epoch}" if args.resume else ""))
    n_fit_rows = len(train_set) - int(round(len(train_set) * clf.val_fraction))
    progress = Progress(clf.epochs, len(batch_slices(n_fit_rows, clf.batch_size)),
                        quiet=args.quiet or args.json, metrics_log=log_path,
                        append_log=bool(args.resume),
                        epochs_done=clf.state_.epoch if args.resume else 0)
    try:
        clf.fit(X_train, y_train, resume=bool(args.resume), on_epoch=progress.on_epoch,
                on_step=progress.on_step)
    except TrainingInterrupted as interrupt:
        progress.close()
        done = interrupt.state.epoch
        if save_path is not None:
            save_model(save_path, clf, preprocessing=preprocessing, info=info)
            say(args, f"xpnn train: interrupted; saved a resumable checkpoint after epoch {done} "
                      f"to {save_path} (continue with: xpnn train --resume {save_path} "
                      f"--save {save_path})")
        raise
    finally:
        progress.close()

    X_test = backend.asarray(preprocessing.apply(test_set.X, dtype))
    test_loss, test_accuracy = clf.evaluate(X_test, backend.asarray(test_set.y))
    if save_path is not None:
        save_model(save_path, clf, preprocessing=preprocessing, info=info)
    summary = {
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "epochs": len(clf.history_), "stopped_early": clf.state_.stopped_early,
        "train_loss": clf.history_[-1]["loss"], "train_accuracy": clf.history_[-1]["accuracy"],
        "device": backend.label, "backend": backend.name, "dtype": dtype,
        "hidden": list(clf.hidden), "optimizer": clf.optimizer, "lr": clf.lr,
        "batch_size": clf.batch_size, "data": train_set.source, "train_rows": len(train_set),
        "test_rows": len(test_set), "train_seconds": sum(r["seconds"] for r in clf.history_),
        "saved": str(save_path) if save_path else None,
    }
    if args.plots:
        from .report import write_plots

        predicted = as_host_array(clf.predict(X_test))
        summary["plots"] = write_plots(args.plots, clf, test_set, predicted)
    summary["seconds"] = time.perf_counter() - started
    if args.json:
        print_json(summary)
    else:
        print(f"test accuracy {test_accuracy:.4f}  test loss {test_loss:.4f}  "
              f"({summary['epochs']} epochs, {summary['seconds']:.1f} s on {backend.label})")
    return 0


def _new_model(args):
    from ..estimator import MLPClassifier

    recipe = recipe_for(args.dataset if args.data is None else None)
    return MLPClassifier(
        hidden=args.hidden or recipe["hidden"], epochs=args.epochs or recipe["epochs"],
        batch_size=recipe["batch_size"] if args.batch_size is None else args.batch_size,
        lr=args.lr or recipe["lr"], optimizer=args.optimizer, seed=args.seed, dtype=args.dtype,
        momentum=args.momentum, weight_decay=args.weight_decay,
        val_fraction=args.val_split or 0.0, early_stopping=args.early_stopping,
        patience=args.patience, check_every=args.check_every,
        lr_schedule=args.lr_schedule or recipe.get("lr_schedule", "constant"))
