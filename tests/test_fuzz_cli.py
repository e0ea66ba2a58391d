"""A seeded corpus of mutated inputs through the real CLI: exit 0 or 2, one line, nothing lost.

Every mutant (CSV, IDX raw and gzip, npz, checkpoint) runs through ``xpnn.cli.parser.main``
in-process (one process per mutant would take minutes): numeric RuntimeWarnings are
errors, and a failure must be exit status 2 with exactly one line on stderr and the
outputs that existed before (``predict --out``, ``train --save``) byte-identical. A
handful of the same mutants then run as real subprocesses, as a user runs them.
"""
import contextlib
import gzip
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from clirun import xpnn
from datagen import csv_bytes, fuzz_seed_arrays, idx_bytes, mutate, npz_bytes, random_operations

from xpnn.cli.parser import main

N_MUTANTS = 500
SENTINEL = b"previous output, must survive a failed run\n"


def run_main(argv, outputs=()):
    """(exit status, stdout, stderr) of main(argv), checking the bad-input contract."""
    before = {path: path.read_bytes() for path in outputs}
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("error", RuntimeWarning)  # a numeric warning must never escape
        status = main([str(arg) for arg in argv])
    stderr = err.getvalue()
    assert status in (0, 2), (status, stderr)
    assert "Traceback" not in stderr, stderr
    if status == 2:
        assert stderr.count("\n") == 1 and stderr.startswith("xpnn "), stderr
        for path, content in before.items():
            assert path.read_bytes() == content, f"{path} changed by a failed run"
    return status, out.getvalue(), stderr


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Seed files (all 12 features, labels 0..2) and a model trained on the CSV."""
    root = tmp_path_factory.mktemp("cli_fuzz")
    images, labels = fuzz_seed_arrays()
    seeds = {
        "train.csv": csv_bytes(images, labels),
        "test.csv": csv_bytes(images, None),
        "train-images-idx3-ubyte": idx_bytes(images),
        "train-labels-idx1-ubyte": idx_bytes(labels),
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images), mtime=0),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels), mtime=0),
        "data.npz": npz_bytes(root, X=images, y=labels.astype(np.int64)),
    }
    for name, content in seeds.items():
        (root / name).write_bytes(content)
    model = root / "model.safetensors"
    status, _, stderr = run_main(["train", "--data", root / "train.csv", "--epochs", 2,
                                  "--hidden", 8, "--quiet", "--save", model])
    assert status == 0, stderr
    seeds["model.safetensors"] = model.read_bytes()
    return root, seeds


# kind -> (seed file mutated, the command run on it; {m}: the mutant, {root}: the seeds)
COMMANDS = {
    "csv-evaluate": ("train.csv", ["evaluate", "{root}/model.safetensors", "--data", "{m}"]),
    "csv-predict": ("test.csv", ["predict", "{root}/model.safetensors", "--data", "{m}",
                                 "--out", "{out}"]),
    "idx-evaluate": ("train-images-idx3-ubyte",
                     ["evaluate", "{root}/model.safetensors", "--data", "{m}"]),
    "idx-labels-evaluate": ("train-labels-idx1-ubyte",
                            ["evaluate", "{root}/model.safetensors", "--data",
                             "{dir}/train-images-idx3-ubyte"]),
    "idx-gz-predict": ("train-images-idx3-ubyte.gz",
                       ["predict", "{root}/model.safetensors", "--data", "{m}", "--out",
                        "{out}"]),
    "npz-evaluate": ("data.npz", ["evaluate", "{root}/model.safetensors", "--data", "{m}"]),
    "npz-predict": ("data.npz", ["predict", "{root}/model.safetensors", "--data", "{m}",
                                 "--out", "{out}"]),
    "checkpoint-predict": ("model.safetensors", ["predict", "{m}", "--data", "{root}/test.csv",
                                                 "--out", "{out}"]),
    "checkpoint-evaluate": ("model.safetensors", ["evaluate", "{m}", "--data",
                                                  "{root}/train.csv"]),
    "csv-train": ("train.csv", ["train", "--data", "{m}", "--epochs", "1", "--hidden", "4",
                                "--quiet", "--save", "{save}"]),
}
KINDS = list(COMMANDS)


def corpus(n=N_MUTANTS, seed=2024):
    """[(index, kind, rng)]: one seeded generator per mutant, so every run tests the same."""
    return [(index, KINDS[index % len(KINDS)], np.random.default_rng([seed, index]))
            for index in range(n)]


def prepare(workspace, kind, rng, directory: Path):
    """Write the mutant (beside intact partner files) and return (argv, outputs)."""
    root, seeds = workspace
    name, template = COMMANDS[kind]
    directory.mkdir(exist_ok=True)
    for partner in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (directory / partner).write_bytes(seeds[partner])
    (directory / "train-labels-idx1-ubyte.gz").write_bytes(seeds["train-labels-idx1-ubyte.gz"])
    operations = random_operations(rng, len(seeds[name]), text=name.endswith(".csv"))
    mutant = directory / name
    mutant.write_bytes(mutate(seeds[name], operations))
    out, save = directory / "out.csv", directory / "previous.safetensors"
    out.write_bytes(SENTINEL)
    save.write_bytes(seeds["model.safetensors"])
    fields = {"m": mutant, "root": root, "dir": directory, "out": out, "save": save}
    argv = [part.format(**fields) for part in template]
    return argv, [out, save], operations


def test_mutant_corpus_through_main(workspace, tmp_path):
    counts = {0: 0, 2: 0}
    for index, kind, rng in corpus():
        argv, outputs, operations = prepare(workspace, kind, rng, tmp_path / "m")
        try:
            status, _, _ = run_main(argv, outputs)
        except BaseException as exc:  # name the mutant that broke the contract
            raise AssertionError(f"mutant {index} ({kind}, {operations}): "
                                 f"{type(exc).__name__}: {exc}") from exc
        counts[status] += 1
    # the corpus exercises both paths: mutants that still load, mutants refused cleanly
    assert counts[0] > 25 and counts[2] > 300, counts


@pytest.mark.parametrize("index", [0, 1, 2, 4, 6, 7, 9])
def test_mutants_as_real_subprocesses(workspace, tmp_path, index):
    """The same mutants, as a user runs them: same exit status, one line, no traceback."""
    _, kind, rng = corpus(n=index + 1)[index]
    argv, outputs, _ = prepare(workspace, kind, rng, tmp_path / "in_process")
    expected, _, _ = run_main(argv, outputs)
    _, kind, rng = corpus(n=index + 1)[index]  # the same mutant again, fresh files
    argv, outputs, _ = prepare(workspace, kind, rng, tmp_path / "subprocess")
    before = {path: path.read_bytes() for path in outputs}
    result = xpnn(*argv, process=True)
    assert result.returncode == expected, result.stderr
    assert "Traceback" not in result.stderr
    if expected == 2:
        assert result.stderr.count("\n") == 1, result.stderr
        assert all(path.read_bytes() == before[path] for path in outputs)
