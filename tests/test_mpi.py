"""Data-parallel training over MPI (issue 11): real ``mpiexec -n 2`` and ``-n 3`` jobs on
digits, oversubscribed on a small machine.

N ranks must train the model one process trains with the same global batch (float64 within
rtol 1e-8, float32 within 1e-4), and every rank must hold the very same parameters; a
checkpoint moves between N ranks and one process; a fault on one rank, a killed rank and
Ctrl-C on mpiexec end the job within 30 s. The mpiexec is the virtual environment's
(``pip install 'xpnn[mpi]'`` brings MPICH's); these tests skip only when it is missing.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mpi_jobs
from assertions import assert_curve_close, assert_params_close
from clirun import xpnn

HERE = Path(__file__).parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"
# whole 3-epoch fits, the sums reordered on every step: float64 looser than a few steps'
FIT_RTOL = {"float64": 1e-8, "float32": 1e-4}
DEADLINE = 30.0  # seconds for a faulty job to end

pytestmark = pytest.mark.skipif(
    not MPIEXEC.exists(), reason=f"no {MPIEXEC}: install the MPI extra, pip install "
                                 f"-e '.[test,mpi]'")


def clean_env(**extra):
    """The environment without any MPI launcher's variables (as a user's shell)."""
    from xpnn.parallel.launcher import LAUNCHER_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(extra)
    return env


def mpiexec(n, *args, timeout=120, env=None):
    return subprocess.run([str(MPIEXEC), "-n", str(n), sys.executable, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), cwd=HERE)


def start_mpiexec(n, *args, env):
    """mpiexec in its own session (so a failed test can end the whole job)."""
    return subprocess.Popen([str(MPIEXEC), "-n", str(n), sys.executable, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=HERE, start_new_session=True)


def end_job(job):
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- the same model on 1, 2 and 3 ranks ---------------------------------------------------

@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    """{ranks: (parameters, loss curves)} for every case of mpi_jobs.CASES."""
    tmp = tmp_path_factory.mktemp("mpi-fits")
    runs = {}
    for ranks in (1, 2, 3):
        out = tmp / f"n{ranks}.npz"
        if ranks == 1:
            result = subprocess.run([sys.executable, "mpi_jobs.py", "fit", str(out)], cwd=HERE,
                                    capture_output=True, text=True, timeout=120,
                                    env=clean_env())
        else:
            result = mpiexec(ranks, "mpi_jobs.py", "fit", out)
        assert result.returncode == 0, result.stderr
        digests = {(tmp / f"{out.name}.rank{rank}.digest").read_text()
                   for rank in range(ranks)}
        assert len(digests) == 1, f"the {ranks} ranks ended with different parameters"
        runs[ranks] = (dict(np.load(out)), json.loads(Path(f"{out}.curves.json").read_text()))
    return runs


@pytest.mark.parametrize("case,ranks", [(case, ranks) for ranks in (2, 3)
                                        for case in mpi_jobs.cases_for(ranks)])
def test_ranks_train_the_model_of_one_process(fits, case, ranks):
    rtol = FIT_RTOL["float32" if case.endswith("float32") else "float64"]
    one, one_curves = fits[1]
    many, many_curves = fits[ranks]
    names = [key for key in one if key.startswith(f"{case}/")]
    assert names
    assert_params_close({key: many[key] for key in names}, {key: one[key] for key in names},
                        rtol=rtol)
    # the epoch's loss (reduced once per epoch, L2 counted once) and validation scores
    assert many_curves[case]["n_iter"] == one_curves[case]["n_iter"] == 3
    assert_curve_close(many_curves[case]["loss"], one_curves[case]["loss"], rtol=rtol,
                       what="loss")
    if one_curves[case]["validation"] is not None:
        assert_curve_close(many_curves[case]["validation"], one_curves[case]["validation"],
                           rtol=rtol, what="validation")


# -- the command line ---------------------------------------------------------------------

# a constant rate: a schedule over the planned epochs (the digits' recipe decays by cosine)
# makes 2 epochs, then 2 more on resume, a different run from 4 planned at once
TRAIN = ("train", "--hidden", "32", "--dtype", "float64", "--batch-size", "50",
         "--lr-schedule", "constant")


def load_params(path):
    from xpnn.saving.checkpoint import load_model

    model, _, _ = load_model(path)
    return model, {name: np.asarray(value) for name, value in model.params_.items()}


def test_checkpoints_move_between_two_ranks_and_one_process(tmp_path):
    # uninterrupted: 4 epochs in one process
    whole = tmp_path / "whole.safetensors"
    result = xpnn(*TRAIN, "--epochs", "4", "--save", whole, "--quiet", env=clean_env())
    assert result.returncode == 0, result.stderr
    # 2 epochs on 2 ranks, then 2 more in one process
    first = tmp_path / "two-ranks.safetensors"
    result = mpiexec(2, "-m", "xpnn", *TRAIN, "--epochs", "2", "--save", first, "--json")
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(summaries) == 1 and summaries[0]["ranks"] == 2  # rank 0 alone prints
    result = xpnn("train", "--resume", first, "--epochs", "4", "--save", first, "--quiet",
                  env=clean_env())
    assert result.returncode == 0, result.stderr
    # and the reverse: 2 epochs in one process, 2 more on 2 ranks
    second = tmp_path / "one-process.safetensors"
    result = xpnn(*TRAIN, "--epochs", "2", "--save", second, "--quiet", env=clean_env())
    assert result.returncode == 0, result.stderr
    result = mpiexec(2, "-m", "xpnn", "train", "--resume", second, "--epochs", "4", "--save",
                     second, "--quiet")
    assert result.returncode == 0, result.stderr

    whole_model, reference = load_params(whole)
    for path in (first, second):
        model, params = load_params(path)
        assert model.n_iter_ == 4 and len(model.history_) == 4
        assert_params_close(params, reference, rtol=FIT_RTOL["float64"])
        assert_curve_close([row["loss"] for row in model.history_],
                           [row["loss"] for row in whole_model.history_],
                           rtol=FIT_RTOL["float64"], what="loss")


def test_a_plain_train_never_imports_mpi4py():
    code = ("import sys; from xpnn.cli.parser import main; "
            "status = main(['train', '--epochs', '1', '--hidden', '8', '--quiet']); "
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'; sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", ["PMI_RANK", "PMI_SIZE", "PMIX_RANK",
                                      "OMPI_COMM_WORLD_SIZE", "MPI_LOCALRANKID"])
def test_launchers_are_recognised_by_their_variables(variable):
    from xpnn.parallel.launcher import launched_by_mpi

    assert launched_by_mpi({variable: "0"})
    assert not launched_by_mpi({"HOME": "/root", "SLURM_PROCID": "0"})


@pytest.mark.parametrize("rows,ranks", [(64, 3), (2, 3), (100, 2), (7, 4)])
def test_shards_cover_a_batch_once_and_differ_by_at_most_one_row(rows, ranks):
    from xpnn.training.batches import shard_bounds

    bounds = [shard_bounds(10, 10 + rows, rank, ranks) for rank in range(ranks)]
    assert bounds[0][0] == 10 and bounds[-1][1] == 10 + rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


class FakeComm:
    """Stands for an mpi4py communicator where none is used; refuses copies as mpi4py's do."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Allreduce(self, send, receive, op=None):
        raise AssertionError("not used here")

    def __deepcopy__(self, memo):
        raise ValueError("cannot serialize a communicator")

    def __reduce__(self):
        raise ValueError("cannot serialize a communicator")


def test_comm_is_a_parameter_kept_by_reference_and_left_out_of_pickles_and_checkpoints(
        tmp_path):
    import pickle

    from sklearn.base import clone

    import xpnn
    from xpnn.saving.checkpoint import load_model, save_model

    X, y = mpi_jobs.digits()
    comm = FakeComm()
    for estimator in (xpnn.MLPClassifier, xpnn.MLPRegressor):
        model = estimator(hidden_layer_sizes=(8,), comm=comm)
        assert model.get_params()["comm"] is comm
        assert clone(model).comm is comm and model.comm is comm
    model = xpnn.MLPClassifier((8,), max_iter=2, random_state=0).fit(X[:200], y[:200])
    model.comm = comm  # as after a data-parallel fit
    assert pickle.loads(pickle.dumps(model)).comm is None
    save_model(tmp_path / "m.safetensors", model)
    loaded, _, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.comm is None
    np.testing.assert_array_equal(loaded.predict(X[:50]), model.predict(X[:50]))
    with pytest.raises(ValueError, match="needs a stochastic solver"):
        xpnn.MLPClassifier((8,), solver="lbfgs", comm=comm).fit(X[:200], y[:200])


def test_ranks_with_different_validation_sets_all_refuse_the_fit_with_one_line():
    result = mpiexec(2, "mpi_jobs.py", "val-differs", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = sorted(line for line in result.stdout.splitlines() if line.startswith("rank "))
    assert lines == [f"rank {rank}: the validation set (X_val, y_val, sample_weight_val) "
                     f"differs between the ranks of the fit (rank 1's is not rank 0's): "
                     f"every rank must pass the same one" for rank in (0, 1)]


def test_verbose_prints_once_for_the_whole_group():
    result = mpiexec(2, "mpi_jobs.py", "verbose", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(",")[0].split(":")[0] for line in lines] == [
        "Iteration 1", "Validation score", "Iteration 2", "Validation score",
        "Iteration 3", "Validation score"]


def test_callbacks_run_on_rank_0_and_their_stop_and_a_ctrl_c_end_every_rank_together(
        tmp_path):
    """scikit-learn's callbacks in a data-parallel library fit: rank 0 runs them, its stop
    after epoch 2 ends every rank there; Ctrl-C on rank 0 alone (in epoch 2) makes every
    rank warn as scikit-learn's MLP and return the same model of epoch 1; a callback's
    error on rank 0 is raised on every rank (rank 0: its own; the others: CallbackError)."""
    out = tmp_path / "callbacks"
    result = mpiexec(2, "mpi_jobs.py", "callbacks", out, timeout=90)
    assert result.returncode == 0, result.stderr
    ranks = [json.loads((tmp_path / f"callbacks.rank{rank}.json").read_text())
             for rank in range(2)]
    assert [row["rank"] for row in ranks] == [0, 1]
    assert ranks[0]["events"] == ["setup", "begin fit", "begin epoch", "end epoch",
                                  "begin epoch", "end epoch", "end fit", "teardown"]
    assert ranks[1]["events"] == []  # set there too, run on rank 0 only
    for row in ranks:
        assert row["stopped_n_iter"] == 2 and row["interrupted_n_iter"] == 1
        assert row["warnings"] == ["Training interrupted by user."]
    assert ranks[0]["stopped"] == ranks[1]["stopped"]
    assert ranks[0]["interrupted"] == ranks[1]["interrupted"]
    assert ranks[0]["raised"] == "RuntimeError: the callback failed"
    assert ranks[1]["raised"].startswith("CallbackError: a callback raised on another rank "
                                         "after epoch 2")


# -- faults: never a hang -----------------------------------------------------------------

def test_divergence_stops_every_rank_together_with_one_message():
    result = mpiexec(2, "-m", "xpnn", "train", "--lr", "1e10", "--optimizer", "sgd",
                     "--epochs", "3", "--hidden", "32", timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("training diverged at epoch 1, step") == 1  # rank 0 alone
    assert "MPI_Abort" not in result.stderr  # an agreed stop, not an abort


def test_an_exception_on_one_rank_ends_the_job_with_its_message(tmp_path):
    started = time.monotonic()
    result = mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "50", "--quiet",
                     env=clean_env(XPNN_TEST_FAULT_RANK="1"), timeout=60)
    elapsed = time.monotonic() - started
    print(f"fault on one rank: job ended in {elapsed:.2f} s, status {result.returncode}")
    assert result.returncode != 0
    assert "xpnn train (rank 1 of 2): error: RuntimeError: injected fault on rank 1" in (
        result.stderr)
    assert elapsed < DEADLINE


@pytest.mark.parametrize("failing, line", [
    ("1", "rank 1 of 2: --device cpu: injected fault"),  # one rank: it is named
    ("0,1", "--device cpu: injected fault")])  # every rank alike: the line alone
def test_a_start_up_check_failing_on_some_ranks_is_one_line_for_the_job(failing, line):
    """The ranks agree on start-up's checks (device, outputs, flags): rank 0 prints the one
    line, naming the failing rank unless every rank failed alike; no MPI_Abort."""
    result = mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--device", "cpu", "--quiet",
                     env=clean_env(XPNN_TEST_START_FAULT_RANKS=failing), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"xpnn train: error: {line}"], result.stderr


def test_a_killed_rank_ends_the_job(tmp_path):
    job = start_mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "1000", "--quiet",
                        "--metrics-log", tmp_path / "log.jsonl",
                        env=clean_env(XPNN_TEST_PIDS=str(tmp_path)))
    try:
        wait_for(lambda: (tmp_path / "log.jsonl").exists()
                 and (tmp_path / "log.jsonl").read_text().count("\n") >= 1, 60,
                 "the first epoch")
        os.kill(int((tmp_path / "rank-1.pid").read_text()), signal.SIGKILL)
        started = time.monotonic()
        job.wait(timeout=DEADLINE + 5)
        elapsed = time.monotonic() - started
    finally:
        end_job(job)
    print(f"SIGKILL of rank 1: job ended in {elapsed:.2f} s, status {job.returncode}")
    assert job.returncode != 0
    assert elapsed < DEADLINE


CTRL_C_DEADLINE = 2.0  # seconds from SIGINT on mpiexec to the end of every rank (issue 18)


def interrupt_job(job, marker=None, delay=0.0):
    """SIGINT to mpiexec (what Ctrl-C on its terminal sends) once ``marker`` exists, or
    ``delay`` seconds after the start; returns (seconds until the job ended, its stderr)."""
    try:
        if marker is not None:
            wait_for(marker.exists, 60, marker.name)
        time.sleep(delay)
        os.kill(job.pid, signal.SIGINT)
        started = time.monotonic()
        _, stderr = job.communicate(timeout=DEADLINE)
        return time.monotonic() - started, stderr
    finally:
        end_job(job)


def assert_one_clean_line(status, stderr, elapsed, where):
    print(f"Ctrl-C {where}: job ended in {elapsed:.2f} s, status {status}")
    ours = [line for line in stderr.splitlines() if not line.startswith("[mpiexec@")]
    assert status == 130, stderr
    assert ours[-1] == "xpnn train: interrupted", stderr
    assert sum("interrupted" in line for line in ours) <= 2, stderr  # + the checkpoint's
    for noise in ("Traceback", "KeyboardInterrupt", "BAD TERMINATION", "MPI_Abort"):
        assert noise not in stderr
    assert elapsed < CTRL_C_DEADLINE, f"{where}: {elapsed:.2f} s"


@pytest.fixture(scope="module")
def three_epochs_on_two_ranks(tmp_path_factory):
    """The parameters of an uninterrupted 3-epoch run on 2 ranks."""
    path = tmp_path_factory.mktemp("ctrl-c") / "whole.safetensors"
    result = mpiexec(2, "-m", "xpnn", *TRAIN, "--epochs", "3", "--save", path, "--quiet")
    assert result.returncode == 0, result.stderr
    return load_params(path)[1]


@pytest.mark.parametrize("where", ["before MPI", "MPI started"])
def test_ctrl_c_at_start_up_ends_every_rank_with_one_line(tmp_path, where):
    """Ctrl-C once both ranks are at ``where`` of start-up (each wrote its marker): the job
    ends with status 130 and the one line, whichever rank the launcher sees end first."""
    job = start_mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "3", "--save",
                        tmp_path / "model.safetensors",
                        env=clean_env(XPNN_TEST_PIDS=str(tmp_path), XPNN_TEST_PAUSE=where))
    wait_for((tmp_path / "paused-rank-1").exists, 60, "rank 1 at start-up")
    elapsed, stderr = interrupt_job(job, tmp_path / "paused")
    assert_one_clean_line(job.returncode, stderr, elapsed, f"at start-up ({where})")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "paused", "paused-rank-1", "rank-0.pid", "rank-1.pid"]  # no model, no temp file


@pytest.mark.parametrize("where", ["early", "late"])
def test_ctrl_c_in_an_epoch_stops_every_rank_at_one_step_and_resumes_exactly(
        tmp_path, where, three_epochs_on_two_ranks):
    model_path = tmp_path / "model.safetensors"
    job = start_mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "3", "--save",
                        model_path, env=clean_env(XPNN_TEST_PIDS=str(tmp_path),
                                                  XPNN_TEST_PAUSE=where))
    elapsed, stderr = interrupt_job(job, tmp_path / "paused")  # in the 2nd epoch
    assert_one_clean_line(job.returncode, stderr, elapsed, f"{where} in an epoch")
    assert "interrupted; saved a resumable checkpoint after epoch 1" in stderr
    model, _ = load_params(model_path)
    assert model.n_iter_ == len(model.history_) == 1
    result = mpiexec(2, "-m", "xpnn", "train", "--resume", model_path, "--epochs", "3",
                     "--save", model_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert_params_close(load_params(model_path)[1], three_epochs_on_two_ranks, rtol=1e-12)


def test_ctrl_c_after_the_last_epochs_sums_is_still_agreed(tmp_path):
    model_path = tmp_path / "model.safetensors"
    job = start_mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "2", "--save",
                        model_path, env=clean_env(XPNN_TEST_PIDS=str(tmp_path),
                                                  XPNN_TEST_PAUSE="after the last epoch"))
    elapsed, stderr = interrupt_job(job, tmp_path / "paused")
    assert_one_clean_line(job.returncode, stderr, elapsed, "after the last epoch's sums")
    assert "interrupted; saved a resumable checkpoint after epoch 2" in stderr
    assert load_params(model_path)[0].n_iter_ == 2


@pytest.mark.parametrize("where", ["evaluation", "saving"])
def test_ctrl_c_after_training_ends_every_rank_and_leaves_no_partial_file(tmp_path, where):
    model_path = tmp_path / "model.safetensors"
    job = start_mpiexec(2, "mpi_jobs.py", "cli", *TRAIN, "--epochs", "2", "--save",
                        model_path, env=clean_env(XPNN_TEST_PIDS=str(tmp_path),
                                                  XPNN_TEST_PAUSE=where))
    elapsed, stderr = interrupt_job(job, tmp_path / "paused")
    assert_one_clean_line(job.returncode, stderr, elapsed, f"during {where}")
    written = sorted(path.name for path in tmp_path.iterdir()
                     if path.suffix != ".pid" and not path.name.startswith("paused-rank"))
    if where == "evaluation":  # saved before the evaluation: the training is kept
        assert written == ["model.safetensors", "paused"]
        assert load_params(model_path)[0].n_iter_ == 2
    else:  # the temp file is removed, no model file
        assert written == ["paused"]


# -- GPUs (not run yet: the machines that built this had none) -----------------------------

def test_every_rank_takes_the_same_nccl_choice_and_keeps_its_communicator():
    """A mock (no GPU here): mpi_jobs' fake cupy on 2 real ranks. Where one rank's CuPy has
    no NCCL, or two ranks share a GPU, every rank sums over MPI (none waits in NCCL's set-up
    alone); with a GPU each, every rank uses NCCL, two fits share one NCCL communicator,
    and each sum runs with the rank's own GPU current."""
    result = mpiexec(2, "mpi_jobs.py", "nccl-choice", timeout=60)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [report["rank"] for report in reports] == [0, 1]
    for rank, report in enumerate(reports):
        assert report["nccl missing on rank 1"] == ["Reducer", "Reducer"]
        assert report["two ranks on one gpu"] == ["Reducer", "Reducer"]
        assert report["one gpu each"] == ["NcclReducer", "NcclReducer"]
        assert report["communicators made"] == 1
        assert report["gpu at the sum"] == [rank]


@pytest.mark.gpu
def test_two_ranks_on_cuda_train_the_model_of_one_gpu_process(tmp_path):
    args = (*TRAIN, "--epochs", "3", "--device", "cuda", "--json")
    one = xpnn(*args, env=clean_env())
    assert one.returncode == 0, one.stderr
    two = mpiexec(2, "-m", "xpnn", *args)  # one GPU: both ranks share it (host-buffer sums)
    assert two.returncode == 0, two.stderr
    assert_curve_close(json.loads(two.stdout)["train_loss"],
                       json.loads(one.stdout)["train_loss"], rtol=FIT_RTOL["float64"],
                       what="train_loss")


NCCL_SUM = """
from mpi4py import MPI
from xpnn.backend.devices import resolve_device
from xpnn.parallel.distributed import NcclReducer

comm = MPI.COMM_WORLD
backend = resolve_device(f"cuda:{comm.rank}")  # one GPU per rank
xp = backend.xp  # array_api_compat's cupy namespace: concat on CuPy 13 too
reducer = NcclReducer(comm, backend)
with backend.device:  # CuPy creates arrays on the current GPU, whatever device= says
    grads = {"w1": xp.full((3, 2), comm.rank + 1.0, dtype=xp.float64),
             "b1": xp.ones(2, dtype=xp.float64)}
assert all(value.device.id == comm.rank for value in grads.values())
summed = reducer.sum_grads(grads, xp)
n = comm.size
assert float(summed["w1"][0, 0]) == n * (n + 1) / 2 and float(summed["b1"][0]) == n
assert summed["w1"].device.id == comm.rank and reducer.calls == 1
"""


@pytest.mark.gpu
def test_nccl_sums_cupy_gradients_on_the_gpus():
    import cupy

    from xpnn.backend.devices import resolve_device

    if not resolve_device("cuda:0").has_nccl():
        pytest.skip("CuPy has no NCCL here (cupy.cuda.nccl.available is False)")
    ranks = min(cupy.cuda.runtime.getDeviceCount(), 2)
    # one rank per GPU (NCCL refuses two ranks on one GPU); a 1-rank communicator otherwise
    result = mpiexec(ranks, "-c", NCCL_SUM)
    assert result.returncode == 0, result.stderr
