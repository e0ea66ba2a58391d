"""Where the public API ends (docs/api.rst): every name it lists imports, every name of
``xpnn.__all__`` is listed, nothing internal is (the loop, the math), and the names the guide
sends users to are public and are the ones the library itself uses."""
import re
from pathlib import Path

import pytest

import xpnn

ROOT = Path(__file__).resolve().parents[1]
API = (ROOT / "docs" / "api.rst").read_text()


def listed_names():
    """The names api.rst's autosummary directives list, as importable dotted paths."""
    names = []
    for block in re.findall(r"\.\. autosummary::\n((?:   .*\n|\n)+)", API):
        names += [line.strip() for line in block.splitlines()
                  if line.strip() and not line.strip().startswith(":")]
    return [f"xpnn.{name}" for name in names]


def resolve(dotted):
    import importlib
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ImportError(dotted)


def test_every_listed_name_imports_and_every_exported_name_is_listed():
    listed = listed_names()
    for dotted in listed:
        resolve(dotted)  # raises if api.rst lists a name that does not exist
    exported = {f"xpnn.{name}" for name in xpnn.__all__ if name != "__version__"}
    assert not exported - set(listed), f"exported but not in api.rst: {exported - set(listed)}"


def test_the_internals_have_no_reference_page():
    """The loop and the math are read from the reading path, not listed as API."""
    internal = [name for name in listed_names()
                if name.startswith(("xpnn.training.", "xpnn.core.", "xpnn.kernels."))]
    assert not internal, internal
    assert "Internals" in API and ":doc:`reading`" in API


def test_training_interrupted_is_public_and_is_what_fit_raises(digits_data):
    X, y = digits_data

    calls = []

    def ctrl_c_in_epoch_2(step, steps_in_epoch):
        calls.append(step)
        if len(calls) == steps_in_epoch + 3:  # 3 steps into the second epoch
            raise KeyboardInterrupt

    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), batch_size=64, max_iter=5,
                             random_state=0)
    with pytest.raises(xpnn.TrainingInterrupted) as info:
        clf.fit(X, y, on_step=ctrl_c_in_epoch_2, on_interrupt="raise")
    assert isinstance(info.value, KeyboardInterrupt)
    assert clf.n_iter_ == info.value.state.epoch == 1  # the last completed epoch is kept


def test_changeable_on_resume_is_the_rule_resume_fit_enforces(digits_data):
    X, y = digits_data
    assert xpnn.CHANGEABLE_ON_RESUME == {"max_iter", "early_stopping", "n_iter_no_change",
                                         "tol", "verbose", "check_every", "device", "comm"}
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
    clf.set_params(max_iter=3, tol=1e-3).resume_fit(X, y)  # in the set: allowed
    assert clf.n_iter_ == 3
    assert "alpha" not in xpnn.CHANGEABLE_ON_RESUME
    with pytest.raises(ValueError, match="alpha"):
        clf.set_params(alpha=0.1, max_iter=4).resume_fit(X, y)


@pytest.mark.parametrize("page", ["library.md", "mpi.md", "gpu.md", "checkpoints.md",
                                  "data.md", "onnx.md", "tracking.md", "dask.md", "skops.md"])
def test_a_long_guide_page_has_sections(page):
    """A page with one heading has an empty page sidebar; no paragraph runs on for ever."""
    text = (ROOT / "docs" / "guide" / page).read_text()
    assert len(re.findall(r"^## ", text, flags=re.MULTILINE)) >= 3, page
    longest = max(len(paragraph.split()) for paragraph in re.split(r"\n\s*\n", text)
                  if not paragraph.lstrip().startswith(("|", "```")))
    assert longest <= 300, f"{page}: a paragraph of {longest} words"


def test_gpu_page_leads_with_xpnn_devices_and_says_what_has_run():
    text = (ROOT / "docs" / "guide" / "gpu.md").read_text()
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("Is there a GPU xpnn can use? `xpnn devices`")
    assert "nothing in xpnn has run on one" in text
