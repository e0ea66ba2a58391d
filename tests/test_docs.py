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
                    ignore=shutil.ignore_patterns("_build", "auto_examples", "generated",
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
        assert (out / "_images" / f"sphx_glr_{name}_001.png").exists(), f"{name} drew nothing"
    figures = list((out / "_images").glob("sphx_glr_plot_digits_quickstart_*.png"))
    assert figures  # the example ran and drew
    quickstart = html.unescape(re.sub(r"<[^>]+>", "", (
        out / "auto_examples" / "plot_digits_quickstart.html").read_text()))
    assert "test accuracy 0.9" in quickstart  # its printed output, executed at build time

    def text_of(page):
        return html.unescape(re.sub(r"<[^>]+>", "", (out / page).read_text()))

    story = text_of("auto_examples/plot_softmax_divergence.html")
    assert "training diverged at epoch" in story and "def log_softmax(logits, xp):" in story
    learner, fixed = (float(value) for value in re.findall(
        r"(?:learner's forward and backward|xpnn's cross_entropy_with_grad)\s+relative "
        r"error ([0-9.e+-]+)", story))
    assert learner > 0.1 and fixed < 1e-6  # the gradient check catches the axis-0 sum
    kaggle = text_of("auto_examples/plot_kaggle_csv_submission.html")
    assert "'ImageId': '1', 'Label':" in kaggle and "360 rows" in kaggle
    arrays = text_of("auto_examples/plot_torch_jax_arrays.html")
    assert "predict_proba -> torch.Tensor torch.float32" in arrays
    assert "predict_proba -> jaxlib" in arrays
    assert len(examples) >= 8

    # the user guide holds what the README no longer does; the API page every public name
    for page in ("cli", "data", "checkpoints", "library", "tracking", "onnx", "gpu", "mpi",
                 "performance", "benchmarks", "machines", "layout", "tests", "skops", "dask",
                 "publishing"):
        assert (out / "guide" / f"{page}.html").exists(), page
    assert "Latest results" in text_of("guide/benchmarks.html")  # bench/README.md, included
    import xpnn
    import xpnn.onnx
    public = [f"xpnn.{name}" for name in xpnn.__all__ if name != "__version__"]
    public += [f"xpnn.onnx.{name}" for name in xpnn.onnx.__all__]
    missing = [name for name in public if not (out / "generated" / f"{name}.html").exists()]
    assert not missing, missing
    estimator_page = (out / "generated" / "xpnn.MLPClassifier.html").read_text()
    for method in ("fit", "partial_fit", "predict_proba", "score"):  # each method in full
        assert f'id="xpnn.MLPClassifier.{method}"' in estimator_page, method


def test_the_code_map_names_every_module_and_only_modules_that_exist():
    """docs/guide/layout.md (the full map: every module of every package) and the README's
    short one (the packages and the top's modules) stay true."""
    package = ROOT / "xpnn"
    top = {path.name for path in package.glob("*.py") if path.name != "__main__.py"
           and path.name != "__init__.py"}
    packages = {f"{path.name}/" for path in package.iterdir()
                if path.is_dir() and (path / "__init__.py").exists()}
    every_module = {path.name for path in package.rglob("*.py")
                    if path.name not in {"__init__.py", "__main__.py"}}
    full_map = (ROOT / "docs" / "guide" / "layout.md").read_text()
    short_map = (ROOT / "README.md").read_text().split("## How the code is laid out")[1]
    for text, where, names in ((full_map, "docs/guide/layout.md", every_module | packages),
                               (short_map, "README.md", top | packages)):
        missing = sorted(name for name in names if name not in text)
        assert not missing, f"{where} does not name {missing}"
        named = set(re.findall(r"\b([a-z_]+\.py)\b", text))
        named = {name for name in named if name not in {"conf.py", "setup.py", "__init__.py"}}
        stale = sorted(name for name in named - every_module if not any(
            list((ROOT / folder).rglob(name)) for folder in ("bench", "docs", "tests")))
        assert not stale, f"{where} names modules that do not exist: {stale}"
