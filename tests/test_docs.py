"""The documentation builds as CI builds it: ``python -m sphinx -W --keep-going -b html``
(every warning an error), its gallery's examples executed. Built from a copy of docs/
beside a link to the package, so the build's generated pages stay out of the checkout."""
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs need pip install 'xpnn[docs]'")
pytest.importorskip("sphinx_gallery", reason="the docs need pip install 'xpnn[docs]'")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_docs_build_without_a_warning_and_run_the_gallery(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs",
                    ignore=shutil.ignore_patterns("_build", "auto_examples",
                                                  "sg_execution_times.rst"))
    (tmp_path / "xpnn").symlink_to(ROOT / "xpnn")  # the reading path's literalincludes
    (tmp_path / "bench").symlink_to(ROOT / "bench")  # the benchmark results page includes it
    out = tmp_path / "html"
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b",
                             "html", "-q", str(tmp_path / "docs"), str(out)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "reading.html").exists()
    reading = html.unescape(re.sub(r"<[^>]+>", "", (out / "reading.html").read_text()))
    assert "def log_softmax(logits, xp):" in reading  # the code itself, included
    assert "xp.max(logits, axis=1, keepdims=True)" in reading and "def step(self" in reading
    examples = sorted(path.stem for path in (tmp_path / "docs" / "examples").glob("*.py"))
    for name in examples:
        page = out / "auto_examples" / f"{name}.html"
        assert page.exists(), name
    figures = list((out / "_images").glob("sphx_glr_plot_digits_quickstart_*.png"))
    assert figures  # the example ran and drew
    quickstart = html.unescape(re.sub(r"<[^>]+>", "", (
        out / "auto_examples" / "plot_digits_quickstart.html").read_text()))
    assert "test accuracy 0.9" in quickstart  # its printed output, executed at build time
