"""The architecture contract (pyproject.toml, [tool.importlinter]) holds, and it bites.

import-linter checks the README's layers (data and files at the bottom, then backend, math,
model, training, estimators, model files, CLI on top), no import cycles among siblings,
and CuPy, JAX, mpi4py, numba, tensorboardX and mlflow imported only in their modules.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(),
                                reason="import-linter is not installed (the test extra has it)")


def _lint(cwd: Path):
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(cwd), "PATH": ""})


def test_the_code_keeps_the_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_a_cycle_and_a_stray_cupy_import_break_it(tmp_path):
    shutil.copytree(ROOT / "xpnn", tmp_path / "xpnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "xpnn" / "core" / "ops.py", "a") as file:  # math importing the loop
        file.write("\nfrom ..training import train  # noqa\n")
    with open(tmp_path / "xpnn" / "training" / "evaluation.py", "a") as file:
        file.write("\nimport cupy  # noqa\nimport jax  # noqa\nimport mlflow  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "xpnn.core.ops -> xpnn.training.train" in result.stdout
    assert "No import cycles among the modules of a package BROKEN" in result.stdout
    assert "CuPy only in the backend, its random source and the kernels BROKEN" in result.stdout
    assert "xpnn.training.evaluation -> cupy" in result.stdout
    assert "JAX only in the backend, its random source and the kernels BROKEN" in result.stdout
    assert "tensorboardX and mlflow only in xpnn.callbacks BROKEN" in result.stdout
