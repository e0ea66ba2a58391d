"""Sphinx configuration of xpnn's documentation (``pip install 'xpnn[docs]'``; build:
``python -m sphinx -W --keep-going -b html docs docs/_build/html``). The gallery's examples
(docs/examples/) run at build time, as scikit-learn's do."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import xpnn  # noqa: E402

project = "xpnn"
author = "the xpnn developers"
copyright = "2026, the xpnn developers"
release = version = xpnn.__version__

extensions = ["sphinx_gallery.gen_gallery"]
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = "xpnn"
html_theme_options = {"navigation_with_keys": False, "show_prev_next": True}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": "examples",  # the scripts, each run when the docs are built
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # every example runs (not only plot_*.py)
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
