"""Jobs that tests/test_mpi.py starts under ``mpiexec -n N`` (or alone, for one process).

  python mpi_jobs.py fit OUT.npz       fit every case of CASES; rank 0 writes the parameters
                                       and loss curves, every rank the digest of its own
  python mpi_jobs.py cli ARGS...       ``xpnn ARGS...`` after writing this rank's pid to
                                       $XPNN_TEST_PIDS/rank-R.pid; with $XPNN_TEST_FAULT_RANK
                                       set, that rank raises in its 2nd epoch (a fault test);
                                       the ranks in $XPNN_TEST_START_FAULT_RANKS (0,1) fail
                                       their device check at start-up;
                                       with $XPNN_TEST_PAUSE (a key of PAUSES) every rank
                                       writes $XPNN_TEST_PIDS/paused at that point of the run
                                       and goes on slowly there (a Ctrl-C test)
  python mpi_jobs.py verbose           a 3-epoch fit with verbose=True and early stopping
                                       (rank 0 alone prints scikit-learn's lines)
  python mpi_jobs.py callbacks OUT     a callback's stop, a Ctrl-C on rank 0 and a callback's
                                       error in library fits (OUT.rankR.json per rank)
  python mpi_jobs.py val-differs       each rank passes fit another X_val: prints the error
                                       every rank raises (one line per rank)
  python mpi_jobs.py nccl-choice       make_reducer for CuPy on a fake cupy (no GPU needed):
                                       rank 0 prints every rank's choices (a JSON list)
"""
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np

# (estimator, rows used, keyword arguments): sgd, momentum and adam, both dtypes, batch
# sizes that 2 or 3 ranks do not divide (64 / 3, 100 / 3, and the last partial batches),
# fewer rows per batch than ranks (2 rows, 3 ranks: one rank has none), row weights and
# L2, a validation split (early stopping), the regressor's head, and dropout.
CASES = {
    "sgd-float64": ("classifier", None, dict(solver="sgd", momentum=0.0, batch_size=64,
                                             learning_rate_init=0.05, dtype="float64")),
    "sgd-float32": ("classifier", None, dict(solver="sgd", momentum=0.0, batch_size=64,
                                             learning_rate_init=0.05, dtype="float32")),
    "momentum-float64": ("classifier", None, dict(solver="sgd", nesterovs_momentum=False,
                                                  batch_size=100, learning_rate_init=0.02,
                                                  dtype="float64")),
    "momentum-float32": ("classifier", None, dict(solver="sgd", nesterovs_momentum=False,
                                                  batch_size=100, learning_rate_init=0.02,
                                                  dtype="float32")),
    "adam-float64": ("classifier", None, dict(solver="adam", batch_size=64, dtype="float64")),
    "adam-float32": ("classifier", None, dict(solver="adam", batch_size=100, dtype="float32")),
    "adam-batch2-float64": ("classifier", 60, dict(solver="adam", batch_size=2,
                                                   dtype="float64")),
    "adam-weighted-l2-float64": ("classifier", None, dict(solver="adam", batch_size=50,
                                                          alpha=1e-2, dtype="float64")),
    "adam-early-stopping-float64": ("classifier", None, dict(
        solver="adam", batch_size=64, early_stopping=True, n_iter_no_change=100,
        dtype="float64")),
    # the caller's validation set (X_val, y_val): every rank scores its share of the same
    # rows (validation_fraction, 0.5 here, is not used)
    "adam-given-validation-float64": ("classifier", None, dict(
        solver="adam", batch_size=64, early_stopping=True, n_iter_no_change=100,
        validation_fraction=0.5, dtype="float64")),
    "regressor-adam-float64": ("regressor", None, dict(solver="adam", batch_size=64,
                                                       dtype="float64")),
    # R^2's per-output residual sums are vectors in the epoch's host sum over the ranks
    "regressor-early-stopping-float64": ("regressor", None, dict(
        solver="adam", batch_size=64, early_stopping=True, n_iter_no_change=100,
        dtype="float64")),
    "binary-adam-float64": ("binary", None, dict(solver="adam", batch_size=64,
                                                 dtype="float64")),
    "multilabel-adam-early-stopping-float64": ("multilabel", None, dict(
        solver="adam", batch_size=64, early_stopping=True, n_iter_no_change=100,
        dtype="float64")),
    "poisson-adam-float64": ("poisson", None, dict(loss="poisson", solver="adam",
                                                   batch_size=64, dtype="float64")),
    # scipy CSR rows: each rank gathers its share of a batch on the host, kept sparse
    "sparse-adam-weighted-float64": ("classifier", None, dict(solver="adam", batch_size=64,
                                                              alpha=1e-2, dtype="float64")),
    # dropout: every rank draws the global batch's masks and keeps its own rows
    "adam-dropout-float64": ("classifier", None, dict(solver="adam", batch_size=100,
                                                      dropout=0.3, dtype="float64")),
    # other namespaces in (INPUTS): the gradient goes through a host copy for the Allreduce,
    # a writable one where the namespace's host view is read-only (JAX)
    "torch-adam-float64": ("classifier", None, dict(solver="adam", batch_size=64,
                                                    dtype="float64")),
    "jax-adam-float64": ("classifier", 640, dict(solver="adam", batch_size=64,
                                                 dtype="float64")),
    "strict-adam-float64": ("classifier", None, dict(solver="adam", batch_size=64,
                                                     dtype="float64")),
}

# the most ranks a case runs on (3 otherwise): eager JAX compiles every op for every shape,
# seconds a process, so its case runs on 2 ranks only, on 640 rows (10 batches of 64 that
# 2 ranks share evenly: one shape)
MOST_RANKS = {"jax-adam-float64": 2}


def cases_for(ranks: int) -> list:
    """The names of the cases a group of ``ranks`` fits."""
    return [name for name in CASES if ranks <= MOST_RANKS.get(name, 3)]


def torch_inputs(X, target):
    import torch

    return torch.asarray(X), torch.asarray(target)


def jax_inputs(X, target):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before the first import of jax
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, as the one-process fit
    return jax.numpy.asarray(X), jax.numpy.asarray(target)


def strict_inputs(X, target):
    import array_api_strict

    return array_api_strict.asarray(X), array_api_strict.asarray(target)


def sparse_inputs(X, target):
    import scipy.sparse

    return scipy.sparse.csr_matrix(X), target


# a case's name prefix -> the caller's arrays it fits on (NumPy for the others)
INPUTS = {"torch": torch_inputs, "jax": jax_inputs, "strict": strict_inputs,
          "sparse": sparse_inputs}


# kind -> targets from the digits: classes, two classes (one logistic output), three 0/1
# labels (multi-label), real values, counts (Poisson)
TARGETS = {
    "classifier": lambda X, y: y,
    "binary": lambda X, y: np.where(y > 4, "high", "low"),
    "multilabel": lambda X, y: np.stack([y > 4, y % 2 == 0, X[:, 20] > 0.5], axis=1) * 1,
    "regressor": lambda X, y: y / 9.0,
    "poisson": lambda X, y: y,
}


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def fit_case(name, comm):
    import xpnn

    kind, rows, kwargs = CASES[name]
    X, y = digits()
    if rows is not None:
        X, y = X[:rows], y[:rows]
    weights = None
    if "weighted" in name:
        weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    estimator = xpnn.MLPRegressor if kind in ("regressor", "poisson") else xpnn.MLPClassifier
    target = TARGETS[kind](X, y)
    to_inputs = INPUTS.get(name.split("-")[0])
    if to_inputs is not None:
        X, target = to_inputs(X, target)
    validation = {}
    if "given-validation" in name:  # the last 297 rows: a share no rank count divides
        X, X_val, target, y_val = X[:1500], X[1500:], target[:1500], target[1500:]
        validation = dict(X_val=X_val, y_val=y_val)
    model = estimator(hidden_layer_sizes=(24,), max_iter=3, random_state=0, comm=comm,
                      **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 3 epochs on purpose
        model.fit(X, target, sample_weight=weights, **validation)
    return model


def run_fits(out):
    from xpnn.backend.devices import as_host_array

    comm = None
    if "PMI_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    arrays, digest, curves = {}, hashlib.sha256(), {}
    for name in cases_for(1 if comm is None else comm.Get_size()):
        model = fit_case(name, comm)
        for key, value in model.params_.items():
            value = as_host_array(value)  # from every namespace of INPUTS
            arrays[f"{name}/{key}"] = value
            digest.update(np.ascontiguousarray(value).tobytes())
        curves[name] = {"loss": model.loss_curve_, "n_iter": model.n_iter_,
                        "validation": model.validation_scores_}
    with open(f"{out}.rank{rank}.digest", "w") as file:
        file.write(digest.hexdigest())
    if rank == 0:
        np.savez(out, **arrays)
        with open(f"{out}.curves.json", "w") as file:
            json.dump(curves, file)


def run_cli(args):
    pid_dir = os.environ.get("XPNN_TEST_PIDS")
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", 0)))
    if pid_dir:
        with open(os.path.join(pid_dir, f"rank-{rank}.pid"), "w") as file:
            file.write(str(os.getpid()))
    if os.environ.get("XPNN_TEST_FAULT_RANK") == str(rank):
        from xpnn.training.train import FitRun

        step = FitRun.step

        def failing_step(self, *args, **kwargs):
            if self.state.epoch >= 1:
                raise RuntimeError(f"injected fault on rank {rank}")
            return step(self, *args, **kwargs)

        FitRun.step = failing_step
    if str(rank) in os.environ.get("XPNN_TEST_START_FAULT_RANKS", "").split(","):
        # these ranks' device check fails (the same message on each)
        import xpnn.cli.commands.train
        from xpnn.errors import XpnnDeviceError

        def no_device(spec):
            raise XpnnDeviceError(f"--device {spec}: injected fault")

        xpnn.cli.commands.train.resolve_device = no_device
    if os.environ.get("XPNN_TEST_PAUSE"):
        # rank 0's marker is the one the test waits for (rank 1 reaches some points first)
        PAUSES[os.environ["XPNN_TEST_PAUSE"]](
            os.path.join(pid_dir, "paused" if rank == 0 else f"paused-rank-{rank}"))
    from xpnn.cli.parser import main

    return main(args)


def slow_steps_from(marker, step_of_epoch_2):
    """From step ``step_of_epoch_2(run)`` of the 2nd epoch on, every step takes 0.1 s more."""
    from xpnn.training.train import FitRun

    step, counts = FitRun.step, {}

    def slow_step(self, *args, **kwargs):
        if "checks" not in kwargs and self.state.epoch == 1:  # not the divergence replay's
            counts[1] = counts.get(1, 0) + 1
            if counts[1] == step_of_epoch_2(self):
                open(marker, "w").close()
            if counts[1] >= step_of_epoch_2(self):
                time.sleep(0.1)
        return step(self, *args, **kwargs)

    FitRun.step = slow_step


def hang_in(owner, name, marker):
    """``owner.name`` first writes ``marker``, then waits 60 s (in Python: Ctrl-C lands)."""
    original = getattr(owner, name)

    def waiting(*args, **kwargs):
        open(marker, "w").close()
        for _ in range(600):
            time.sleep(0.1)
        return original(*args, **kwargs)

    setattr(owner, name, waiting)


def pause_in_evaluation(marker):
    from xpnn.estimators.estimator import MLPClassifier

    hang_in(MLPClassifier, "evaluate", marker)


def pause_in_saving(marker):  # the temp file written, not yet renamed onto the model's path
    import xpnn.files.fileio

    hang_in(xpnn.files.fileio, "move_into_place", marker)


def pause_after_the_last_epoch(marker):  # its sums agreed, the loop about to end
    from xpnn.training.train import FitRun

    after_epoch = FitRun.after_epoch

    def slow_after_epoch(self, record):
        if record["epoch"] == self.config.max_iter:
            open(marker, "w").close()
            time.sleep(0.5)  # the test's SIGINT lands here (it polls every 0.05 s)
        return after_epoch(self, record)

    FitRun.after_epoch = slow_after_epoch


def pause_before_mpi(marker):
    """Start-up's Ctrl-C handler in place (as the console script's first act), MPI not yet
    started: wait here until the handler has noted a Ctrl-C, then start as usual."""
    from xpnn.parallel import launcher

    launcher.end_start_up_on_interrupt()
    open(marker, "w").close()
    for _ in range(600):
        if launcher._StartUp.noted:
            return
        time.sleep(0.1)


def pause_once_mpi_started(marker):
    """Start-up's handler in place; once MPI_Init has returned (``mpi_started``), wait for
    the Ctrl-C there (start-up's handler then ends the job)."""
    from xpnn.parallel import distributed, launcher

    launcher.end_start_up_on_interrupt()
    started = distributed.mpi_started

    def started_then_wait():
        started()
        open(marker, "w").close()
        for _ in range(600):
            time.sleep(0.1)

    distributed.mpi_started = started_then_wait


PAUSES = {
    "before MPI": pause_before_mpi,
    "MPI started": pause_once_mpi_started,
    "after the last epoch": pause_after_the_last_epoch,
    "early": lambda marker: slow_steps_from(marker, lambda run: 2),
    "late": lambda marker: slow_steps_from(marker, lambda run: len(run.batches) - 2),
    "evaluation": pause_in_evaluation,
    "saving": pause_in_saving,
}


def run_validation_differs():
    from mpi4py import MPI

    import xpnn

    comm = MPI.COMM_WORLD
    X, y = digits()
    rank = comm.Get_rank()
    X_val, y_val = X[1500 + rank:], y[1500 + rank:]  # rank 1's set lacks rank 0's first row
    try:
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, comm=comm).fit(
            X[:1500], y[:1500], X_val=X_val, y_val=y_val)
    except ValueError as error:  # one write: the ranks share the pipe (a line is atomic)
        sys.stdout.write(f"rank {rank}: {error}\n")
        sys.stdout.flush()


def run_verbose():
    from mpi4py import MPI

    import xpnn

    X, y = digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 3 epochs on purpose
        xpnn.MLPClassifier((16,), max_iter=3, early_stopping=True, verbose=True,
                           random_state=0, comm=MPI.COMM_WORLD).fit(X[:400], y[:400])


def digest(model) -> str:
    """sha256 of a fitted model's parameters (the same on every rank of a group)."""
    hashed = hashlib.sha256()
    for value in model.params_.values():
        hashed.update(np.ascontiguousarray(value).tobytes())
    return hashed.hexdigest()


class StopAtEpoch2:
    """A scikit-learn callback that records its hooks and asks to stop after epoch 2."""

    def __init__(self):
        self.events = []

    def setup(self, estimator, context):
        self.events.append("setup")

    def on_fit_task_begin(self, estimator, context):
        self.events.append(f"begin {context.task_name}")

    def on_fit_task_end(self, estimator, context):
        self.events.append(f"end {context.task_name}")
        return context.task_name == "epoch" and context.task_id == 1

    def teardown(self, estimator, context):
        self.events.append("teardown")


class RaiseAtEpoch2(StopAtEpoch2):
    """A callback that raises at the end of epoch 2 (a scorer's error, a tracker's)."""

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "epoch" and context.task_id == 1:
            raise RuntimeError("the callback failed")
        return False


def run_callbacks(out):
    """Three library fits on every rank; each rank writes what it saw to OUT.rankR.json:
    a callback (set on every rank, run on rank 0 only) stops at epoch 2; rank 0 alone gets
    a Ctrl-C in epoch 2 and every rank warns and returns the model of epoch 1; a callback
    raises at epoch 2 on rank 0, and every rank raises (none left waiting)."""
    import signal

    from mpi4py import MPI

    import xpnn

    comm = MPI.COMM_WORLD
    X, y = digits()
    callback = StopAtEpoch2()
    stopped = xpnn.MLPClassifier((16,), max_iter=6, batch_size=50, random_state=0,
                                 comm=comm).set_callbacks(callback).fit(X[:400], y[:400])

    def interrupt_rank_0(step, steps_in_epoch):
        interrupt_rank_0.steps += 1
        if comm.Get_rank() == 0 and interrupt_rank_0.steps == steps_in_epoch + 2:
            os.kill(os.getpid(), signal.SIGINT)
    interrupt_rank_0.steps = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interrupted = xpnn.MLPClassifier((16,), max_iter=6, batch_size=50, random_state=0,
                                         comm=comm).fit(X[:400], y[:400],
                                                        on_step=interrupt_rank_0)
    try:
        xpnn.MLPClassifier((16,), max_iter=6, batch_size=50, random_state=0, comm=comm
                           ).set_callbacks(RaiseAtEpoch2()).fit(X[:400], y[:400])
        raised = None
    except Exception as exc:  # noqa: BLE001 - what each rank raised is the result
        raised = f"{type(exc).__name__}: {exc}"
    with open(f"{out}.rank{comm.Get_rank()}.json", "w") as file:
        json.dump({"rank": comm.Get_rank(), "events": callback.events,
                   "stopped_n_iter": stopped.n_iter_, "stopped": digest(stopped),
                   "interrupted_n_iter": interrupted.n_iter_,
                   "interrupted": digest(interrupted),
                   "warnings": [str(w.message) for w in caught], "raised": raised}, file)


class FakeGpus:
    """A fake ``cupy`` (no GPU here): ``cupy.cuda.Device`` makes its index current,
    ``cupy.cuda.nccl`` has ``available`` and a communicator that counts how many were made
    and notes the current GPU at each sum. Enough for ``make_reducer`` and ``NcclReducer``,
    nothing more."""

    def __init__(self, nccl_available: bool, bus_ids: dict):
        import types

        self.current, self.made, self.devices_at_sum = 0, 0, []
        gpus = self
        Device = self.device_class(bus_ids)

        class NcclCommunicator:
            def __init__(self, size, unique_id, rank):
                gpus.made += 1

            def allReduce(self, send, receive, count, dtype, op, stream):  # noqa: N802
                gpus.devices_at_sum.append(gpus.current)

        nccl = types.ModuleType("cupy.cuda.nccl")
        nccl.__dict__.update(available=nccl_available, NcclCommunicator=NcclCommunicator,
                             get_unique_id=lambda: b"id", NCCL_FLOAT64="f64", NCCL_SUM="sum",
                             NCCL_FLOAT32="f32")
        cuda = types.ModuleType("cupy.cuda")
        cuda.__dict__.update(nccl=nccl, Device=Device,
                             get_current_stream=lambda: types.SimpleNamespace(ptr=0))
        self.cupy = types.ModuleType("cupy")
        self.cupy.__dict__.update(cuda=cuda, ascontiguousarray=lambda flat: flat)
        self.modules = {"cupy": self.cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": nccl}

    def device_class(self, bus_ids):
        gpus = self

        class Device:
            def __init__(self, index=None):
                self.id = gpus.current if index is None else index
                self.pci_bus_id = bus_ids[self.id]

            def __enter__(self):
                self.saved, gpus.current = gpus.current, self.id
                return self

            def __exit__(self, *exc):
                gpus.current = self.saved

        return Device

    def backend(self, index: int):
        from xpnn.backend.devices import Backend

        return Backend(xp=None, device=self.cupy.cuda.Device(index), name="cupy",
                       label=f"cuda:{index}")


def flat_gpu_array(size):
    """What NcclAllreduce.sum reads of a CuPy array (the fake's ``ascontiguousarray``
    returns it as it is)."""
    import types

    return types.SimpleNamespace(data=types.SimpleNamespace(ptr=0), size=size,
                                 dtype=np.dtype(np.float64), nbytes=8 * size)


def run_nccl_choice():
    """make_reducer's choice for CuPy on every rank, with a fake cupy (no GPU here); rank 0
    prints every rank's report as one JSON list: each case's reducer class, how many NCCL
    communicators two fits made, and which GPU was current at each NCCL sum."""
    from mpi4py import MPI

    from xpnn.parallel import distributed

    comm = MPI.COMM_WORLD
    rank, report = comm.Get_rank(), {"rank": comm.Get_rank()}
    cases = {  # name -> (this rank's NCCL, its GPU index, bus id per GPU index)
        "nccl missing on rank 1": (rank != 1, rank, {0: "0:1", 1: "0:2"}),
        "two ranks on one gpu": (True, 0, {0: "0:1"}),
        "one gpu each": (True, rank, {0: "0:1", 1: "0:2"}),
    }
    for name, (available, index, bus_ids) in cases.items():
        gpus = FakeGpus(available, bus_ids)
        sys.modules.update(gpus.modules)
        backend = gpus.backend(index)
        reducers = [distributed.make_reducer(comm, backend) for fit in range(2)]
        report[name] = [type(reducer).__name__ for reducer in reducers]
        if name == "one gpu each":
            report["communicators made"] = gpus.made
            with gpus.cupy.cuda.Device(1 - index):  # another GPU current at the call
                reducers[1].allreduce_sum(flat_gpu_array(4))
            report["gpu at the sum"] = gpus.devices_at_sum
    reports = comm.gather(report, root=0)  # one print: mpiexec may join two ranks' lines
    if rank == 0:
        print(json.dumps(reports))


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        run_fits(sys.argv[2])
    elif sys.argv[1] == "val-differs":
        run_validation_differs()
    elif sys.argv[1] == "verbose":
        run_verbose()
    elif sys.argv[1] == "callbacks":
        run_callbacks(sys.argv[2])
    elif sys.argv[1] == "nccl-choice":
        run_nccl_choice()
    else:
        sys.exit(run_cli(sys.argv[2:]))
