"""``xpnn train``: load and validate data, train (or resume), evaluate, save, report.

Started by an MPI launcher (``mpiexec -n N xpnn train ...``), it trains data-parallel on the
N ranks (``distributed.py``): every rank loads the data (rank 0 first, so a download happens
once), trains its share of each batch and evaluates its share of the test rows; rank 0 alone
prints, saves and plots. A failure on one rank prints its one line and aborts the job
(MPI_Abort); a divergence or a Ctrl-C the ranks agreed on ends every rank normally.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass

from sklearn.exceptions import ConvergenceWarning

# everything a run needs, imported with the module, so at start-up (launcher.py: Ctrl-C
# ends the process there) and not where a KeyboardInterrupt would cut an import short
from ...backend.devices import as_host_array, resolve_device
from ...config import config_context, get_config
from ...data.preprocess import fit_preprocessing
from ...data.sources import load_source
from ...data.split import holdout_split
from ...errors import XpnnDataError, XpnnError
from ...estimators.estimator import MLPClassifier
from ...estimators.params import CHANGEABLE_ON_RESUME, same_param
from ...parallel.distributed import agree_on_failure, barrier, launched_comm, local_device
from ...reports.history import training_seconds
from ...saving.checkpoint import load_model, save_model
from ...serve.reader import PAD_TARGET, pad_target
from ...training.train_state import TrainingInterrupted
from ..recipes import with_recipe
from .common import (check_known_labels, check_output_path, check_test_labels, print_json,
                     say)
from .dashboard import Dashboard, dashboard_for
from .progress import Progress
from .tracking import Trackers, trackers_for

# --optimizer NAME -> the estimator's solver, momentum and Nesterov switch
OPTIMIZER_FLAG = {
    "sgd": {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False},
    "momentum": {"solver": "sgd", "nesterovs_momentum": False},
    "nesterov": {"solver": "sgd", "nesterovs_momentum": True},
    "adam": {"solver": "adam"},
    "adamw": {"solver": "adamw"},
}

# each training flag and the estimator parameters it sets (the resume rule compares these)
FLAG_PARAMS = {
    "--hidden": ("hidden_layer_sizes",), "--activation": ("activation",),
    "--epochs": ("max_iter",), "--batch-size": ("batch_size",),
    "--lr": ("learning_rate_init",), "--lr-schedule": ("learning_rate",),
    "--optimizer": ("solver", "momentum", "nesterovs_momentum"),
    "--momentum": ("momentum",), "--alpha": ("alpha",), "--weight-decay": ("weight_decay",),
    "--dtype": ("dtype",), "--seed": ("random_state",), "--val-split": ("validation_fraction",),
    "--early-stopping": ("early_stopping",), "--patience": ("n_iter_no_change",),
    "--check-every": ("check_every",), "--class-weight": ("class_weight",),
    "--dropout": ("dropout",),
}
# flags about the data split and scaling, compared with what the checkpoint recorded
FLAG_INFO = {"--test-split": "test_split", "--standardize": "standardize",
             "--classes": "classes"}


def model_params(args) -> dict:
    """The estimator's parameters from the flags (filled by a recipe: ``with_recipe``)."""
    params = {
        "hidden_layer_sizes": tuple(args.hidden),
        "activation": args.activation,
        "max_iter": args.epochs,
        "batch_size": _batch_size(args.batch_size),
        "learning_rate_init": args.lr,
        "learning_rate": args.lr_schedule or "constant",
        "momentum": args.momentum, "nesterovs_momentum": True,
        "alpha": args.alpha, "weight_decay": args.weight_decay,
        "dtype": args.dtype, "random_state": args.seed,
        "early_stopping": args.early_stopping,
        "validation_fraction": args.val_split or 0.1,
        # without --early-stopping (or the adaptive schedule's plateaus) the run trains
        # exactly --epochs epochs
        "n_iter_no_change": (args.patience if args.early_stopping
                             or args.lr_schedule == "adaptive" else math.inf),
        "check_every": args.check_every, "class_weight": args.class_weight,
        "dropout": args.dropout,
    }
    params.update(OPTIMIZER_FLAG[args.optimizer])
    return params


def _batch_size(value):
    return "full" if value == 0 else int(value)


def check_flags(args):
    """Flag combinations the estimator would refuse, as one line naming the flags."""
    if args.kernels is None:
        get_config()  # a bad $XPNN_KERNELS: its one line before any data is read
    given = getattr(args, "given", set())
    if "--recipe" in given and args.resume:
        raise XpnnError("--recipe applies to a new run: --resume continues with the settings "
                        f"saved in {args.resume}")
    if args.val_data is not None and "--val-split" in given:
        raise XpnnError(f"--val-data {args.val_data} and --val-split both name the validation "
                        f"rows: give one (--val-split holds out a share of the training data)")
    if "--val-split" in given and not args.early_stopping:
        raise XpnnError("--val-split needs --early-stopping: validation rows are held out to "
                        "decide when to stop (as scikit-learn's validation_fraction)")
    if args.lr_schedule in ("invscaling", "adaptive") and args.optimizer not in (
            "sgd", "momentum", "nesterov"):
        raise XpnnError(f"--lr-schedule {args.lr_schedule} applies to sgd, momentum and "
                        f"nesterov (as scikit-learn's); with {args.optimizer} use constant or "
                        f"cosine")
    if "--weight-decay" in given and args.optimizer != "adamw":
        raise XpnnError("--weight-decay is AdamW's decoupled decay: use it with --optimizer "
                        "adamw, or --alpha for an L2 penalty with any optimizer")
    if args.resume:
        return
    hidden = with_recipe(args, args.recipe).hidden  # (a recipe the data source has)
    if isinstance(args.dropout, tuple) and len(args.dropout) != len(hidden):
        raise XpnnError(f"--dropout {','.join(f'{rate:g}' for rate in args.dropout)}: one rate "
                        f"per hidden layer, and --hidden {','.join(map(str, hidden))} has "
                        f"{len(hidden)}; or give one rate for every layer")


def check_resume_flags(args, model, info):
    """On --resume, a flag may repeat the saved value; a different value is an error unless
    the estimator's resume rule allows that change (``resume_conflicts``)."""
    given = getattr(args, "given", set())
    wanted = model_params(with_recipe(args))  # (only the flags given are compared)
    changed = []
    for flag, names in FLAG_PARAMS.items():
        if flag not in given:
            continue
        compared = {name: wanted[name] for name in names
                    if not (name == "momentum" and model.solver != "sgd")  # unused there
                    and not (name == "random_state" and wanted[name] == model.seed_)}
        if model.resume_conflicts(compared):
            changed.append(flag)
    current = {"test_split": args.test_split, "standardize": args.standardize,
               "classes": args.classes}
    changed += [flag for flag, key in FLAG_INFO.items()
                if flag in given and not same_param(current[key], info.get(key))]
    if changed:
        changeable = [flag for flag, names in FLAG_PARAMS.items()
                      if set(names) <= CHANGEABLE_ON_RESUME]
        raise XpnnError(f"{', '.join(changed)} cannot change on --resume: the run continues "
                        f"with the settings saved in {args.resume} (only {', '.join(changeable)} "
                        f"may change; repeating a saved value is fine)")


def run(args) -> int:
    comm = launched_comm()  # None (and mpi4py not imported) without an MPI launcher
    if comm is None:
        return _train(args, None)
    return _train_on_ranks(args, comm)


def _train_on_ranks(args, comm) -> int:
    """``_train`` on one rank of an MPI job. Failures the ranks agreed on (divergence, an
    agreed Ctrl-C) end every rank with the same status, rank 0 printing; another Ctrl-C
    goes to ``cli.main`` (``distributed.end_interrupted``); any other failure is one line
    from the failing rank, then MPI_Abort: the others may be waiting in a collective and
    would otherwise hang."""
    from ..parser import exit_status, report_error

    rank, size = comm.Get_rank(), comm.Get_size()
    try:
        return _train(args, comm)
    except BaseException as exc:
        if getattr(exc, "agreed", False):
            if rank == 0:
                raise
            return exit_status(exc)
        if isinstance(exc, KeyboardInterrupt):  # one line for the job: cli.main ends it
            raise
        status = report_error(f"{args.command} (rank {rank} of {size})", exc)
        if status is None:
            sys.stderr.write(f"xpnn {args.command} (rank {rank} of {size}): error: "
                             f"{type(exc).__name__}: {exc}\n")
            status = 1
        sys.stderr.flush()
        sys.stdout.flush()
        comm.Abort(status)
        os._exit(status)  # MPICH's MPI_Abort may return until the launcher ends the rank


@dataclass
class _Run:
    """What every step of one ``xpnn train`` process needs: the flags, its place among the
    ranks, its device, and where it writes (nothing, off rank 0)."""
    args: object
    comm: object  # the MPI communicator, or None without a launcher
    lead: bool  # the one process that prints and writes
    ranks: int
    device: str  # this rank's device string (cuda: its own GPU)
    backend: object
    save_path: object  # None without --save, and on every rank but 0
    log_path: object  # --metrics-log, likewise
    trackers: Trackers  # --tensorboard, --mlflow: none on every rank but 0
    started: float  # time.perf_counter() at the start
    dashboard: Dashboard  # --dashboard: rank 0's live curves; else one that does nothing


def _train(args, comm) -> int:
    """Train (or resume) on one process, save (rank 0), evaluate, report (rank 0)."""
    run = _start_on_every_rank(args, comm)
    model, preprocessing = _load_resumed(run) if args.resume else (None, None)
    if args.data is None and args.dataset is None:
        args.dataset = "digits"
    if model is None:  # a new run: its recipe fills the flags left out
        run.args = args = with_recipe(args, args.recipe)
    train_set, test_set, val_set = _load_splits(run, model)
    if model is None:
        model, preprocessing = _new_model(run, train_set)
    else:
        _apply_resume_flags(args, model)
    # the rows stay in their own dtype (uint8 pixels: a quarter of float32's bytes); fit
    # casts and scales each batch as it is gathered, with the bits of scaling them all first
    scaling = preprocessing.batch_scaling(train_set.X, model.dtype)
    X_train, X_val = (None if data is None else run.backend.asarray(
        data.X if scaling is not None else preprocessing.apply(data.X, model.dtype))
        for data in (train_set, val_set))
    info = {"data": args.data, "dataset": args.dataset, "test_split": args.test_split,
            "seed": args.seed, "standardize": bool(args.standardize), "classes": args.classes,
            "source": train_set.source, "image_shape": train_set.image_shape}
    info[PAD_TARGET] = pad_target(train_set.X, info)  # how thick the pad makes drawings
    _announce(run, model, train_set, test_set)
    run.dashboard.start(model, train_set.source)
    # the trackers' runs end with the block: finished, or failed/interrupted by its exception
    with run.trackers.running({**model.get_params(), "data": train_set.source}):
        validation = {} if val_set is None else {"X_val": X_val, "y_val": val_set.y}
        _fit(run, model, X_train, train_set.y, preprocessing, info, scaling, validation)

        if run.save_path is not None:  # first: Ctrl-C during the evaluation loses no training
            save_model(run.save_path, model, preprocessing=preprocessing, info=info)
        X_test = run.backend.asarray(preprocessing.apply(test_set.X, model.dtype))
        test_loss, test_accuracy = model.evaluate(X_test, test_set.y)  # sharded over the ranks
        run.trackers.log_metrics({"test_loss": test_loss, "test_accuracy": test_accuracy})
        if run.save_path is not None:
            run.trackers.log_artifact(run.save_path)
    if not run.lead:  # its part is done: a Ctrl-C now is rank 0's to answer (it may be
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # serving the dashboard), no failure
    if run.comm is not None:  # ... and rank 0 knows it before its end event, after which
        barrier(run.comm)  # Ctrl-C means "stop serving": no window where it is a failure
    if not run.lead:
        return 0
    run.dashboard.end(model, preprocessing, info, test_accuracy, run.started)
    _report(run, model, train_set, test_set, X_test, (test_loss, test_accuracy))
    return run.dashboard.stay_up(run.comm)


def _start_on_every_rank(args, comm) -> _Run:
    """``_start``; under MPI, a failure of its checks on any rank is every rank's (one line
    for the job, status 2), before a collective could wait on the failed rank."""
    try:
        run, failure = _start(args, comm), None
    except XpnnError as exc:
        if comm is None:
            raise
        run, failure = None, exc
    agree_on_failure(comm, failure)
    return run


def _start(args, comm) -> _Run:
    """Check everything that needs no data: the device, output paths, flags, matplotlib,
    the trackers' packages."""
    started = time.perf_counter()
    lead = comm is None or comm.Get_rank() == 0
    if not lead:
        args.quiet, args.json = True, False
    device = local_device(comm, args.device)  # with a launcher, cuda: this rank's GPU
    backend = resolve_device(device)  # a missing GPU fails before any data is read
    save_path = check_output_path(args.save, "--save", [("--data", args.data)])
    log_path = check_output_path(args.metrics_log, "--metrics-log",
                                 [("--data", args.data), ("--resume", args.resume)])
    if not lead:
        save_path = log_path = None
    check_flags(args)
    if args.plots:
        from ...reports.plots import require_matplotlib

        require_matplotlib()
    trackers = trackers_for(args) if lead else Trackers()
    dashboard = dashboard_for(args, lead)  # listening now: a port in use fails before data
    return _Run(args, comm, lead, 1 if comm is None else comm.Get_size(), device, backend,
                save_path, log_path, trackers, started, dashboard)


def _load_resumed(run):
    """(model, preprocessing) from --resume; its data source, seed and test split become the
    run's unless the flags name a source."""
    args = run.args
    model, preprocessing, info = load_model(args.resume, device=run.device)
    model.comm = run.comm
    if "data" not in info and "dataset" not in info:
        raise XpnnError(f"--resume {args.resume}: the checkpoint does not record its data "
                        f"source (it was saved from the library); train it with "
                        f"resume_fit in Python, or start a new run")
    check_resume_flags(args, model, info)
    if args.data is None and args.dataset is None:
        args.data, args.dataset = info.get("data"), info.get("dataset")
    args.seed, args.test_split = info.get("seed", model.seed_), info.get("test_split",
                                                                          args.test_split)
    return model, preprocessing


def _load_splits(run, model):
    """(train, test, validation or None) Datasets, rank 0 loading first; checked against a
    resumed ``model``."""
    args, comm = run.args, run.comm
    if comm is not None and not run.lead:
        barrier(comm)  # rank 0 loads first: a download (or a bad file) happens once
    splits = load_source(args.data, args.dataset, label_column=args.label_column,
                         need_labels=True, offline=args.offline, progress=not args.quiet,
                         n_features=model.n_features_in_ if model else None,
                         n_classes=None if model else args.classes)
    val_set = None
    if args.val_data is not None:  # its rows, or a directory's test files
        val_splits = load_source(args.val_data, label_column=args.label_column,
                                 need_labels=True, offline=True,
                                 n_features=splits.train.n_features)
        val_set = val_splits.train if val_splits.test is None else val_splits.test
    if comm is not None and run.lead:
        barrier(comm)
    train_set, test_set = splits.train, splits.test
    if test_set is None:
        train_set, test_set = holdout_split(train_set, args.test_split, args.seed)
    else:  # the source's own test split: its labels must be training classes
        check_test_labels(train_set, test_set)
    if len(test_set) == 0 or len(set(train_set.y.tolist())) < 2:
        raise XpnnDataError(f"{train_set.source}: {len(train_set) + len(test_set)} rows are too "
                            f"few to train and hold out a test split; give more rows (two or "
                            f"more per class) or a separate test set")
    if model is not None:
        check_known_labels(model, train_set)
    if val_set is not None:  # scored as the model learns: only classes it learns
        check_test_labels(train_set, val_set, "validation")
    return train_set, test_set, val_set


def _new_model(run, train_set):
    """(model, preprocessing) for a fresh run: scaling fitted on the training split."""
    args = run.args
    preprocessing = fit_preprocessing(train_set, args.standardize)
    model = MLPClassifier(**model_params(args), device=run.device, comm=run.comm)
    return model, preprocessing


def _apply_resume_flags(args, model):
    """The settings a resumed run may change: --epochs, --patience, --early-stopping,
    --check-every."""
    if args.epochs:
        model.max_iter = args.epochs
    given = getattr(args, "given", ())
    if "--patience" in given:
        model.n_iter_no_change = args.patience
    if args.early_stopping and not model.early_stopping:
        model.early_stopping = True  # turned on now: --patience (or its default) counts
        model.n_iter_no_change = args.patience
    model.check_every = args.check_every


def _announce(run, model, train_set, test_set):
    """One line saying what is about to train, on what, where."""
    args = run.args
    say(args, f"xpnn: training on {train_set.source}: {len(train_set)} train / {len(test_set)} "
              f"test rows, {train_set.n_features} features, MLP "
              f"{tuple(model.hidden_layer_sizes)} {model.activation}, {args.optimizer} lr "
              f"{model.learning_rate_init:g}, batch {model.batch_size}, {model.dtype} on "
              f"{run.backend.label}"
              + (f", data-parallel on {run.ranks} MPI ranks" if run.ranks > 1 else "")
              + (f", resuming after epoch {model.state_.epoch}" if args.resume else ""))


def _fit(run, model, X_train, y_train, preprocessing, info, scaling, validation):
    """Fit (or resume) with progress; on an agreed Ctrl-C, save a resumable checkpoint first.
    ``validation``: fit's X_val and y_val (--val-data), or nothing."""
    args = run.args
    progress = Progress(model.max_iter, quiet=args.quiet or args.json, metrics_log=run.log_path,
                        append_log=bool(args.resume),
                        epochs_done=model.state_.epoch if args.resume else 0,
                        keeps_best=bool(model.early_stopping))
    fit = model.resume_fit if args.resume else model.fit

    def on_epoch(record):  # resumed: the epochs go on from the saved ones
        progress.on_epoch(record)
        run.trackers.log_epoch(record)
        run.dashboard.epoch(record)

    try:
        with _quiet_convergence():
            with config_context(kernels=args.kernels):  # None: $XPNN_KERNELS, else auto
                fit(X_train, y_train, **validation, on_epoch=on_epoch,
                    on_step=progress.on_step, scaling=scaling, on_interrupt="raise")  # exit 130 and a resumable file
    except TrainingInterrupted as interrupt:
        progress.close()
        if run.save_path is not None:
            save_model(run.save_path, model, preprocessing=preprocessing, info=info)
            say(args, f"xpnn train: interrupted; saved a resumable checkpoint after epoch "
                      f"{interrupt.state.epoch} to {run.save_path} (continue with: xpnn train "
                      f"--resume {run.save_path} --save {run.save_path})")
        raise
    finally:
        progress.close()


def _report(run, model, train_set, test_set, X_test, test_scores):
    """Rank 0's summary: plots when asked, then JSON or one line."""
    args, backend = run.args, run.backend
    test_loss, test_accuracy = test_scores
    history = model.history_
    summary = {
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "epochs": len(history), "stopped_early": bool(model.early_stopping
                                                      and model.state_.converged),
        "train_loss": history[-1]["loss"], "train_accuracy": history[-1]["accuracy"],
        "device": backend.label, "backend": backend.name, "dtype": model.dtype,
        "hidden": list(model.hidden_layer_sizes), "activation": model.activation,
        "optimizer": args.optimizer, "lr": model.learning_rate_init,
        "batch_size": model.batch_size, "data": train_set.source, "train_rows": len(train_set),
        "test_rows": len(test_set), "train_seconds": training_seconds(history),
        "saved": str(run.save_path) if run.save_path else None, "ranks": run.ranks,
    }
    if args.plots:
        from .report import write_plots

        predicted = as_host_array(model.predict(X_test))
        summary["plots"] = write_plots(args.plots, model, test_set, predicted)
    summary["seconds"] = time.perf_counter() - run.started
    if args.json:
        print_json(summary)
    else:
        print(f"test accuracy {test_accuracy:.4f}  test loss {test_loss:.4f}  "
              f"({summary['epochs']} epochs: {summary['train_seconds']:.1f} s of training, "
              f"{summary['seconds']:.1f} s in all on {backend.label})")


@contextlib.contextmanager
def _quiet_convergence():
    """The CLI trains the epochs it was asked for: scikit-learn's ConvergenceWarning (max_iter
    reached) is not news there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
