"""Sphinx configuration of xpnn's documentation (``pip install -e '.[docs]'``; build:
``python -m sphinx -W --keep-going -b html docs docs/_build/html``). The gallery's examples
(docs/examples/) run at build time, as scikit-learn's do."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))  # the docs' own extensions
os.environ.setdefault("MPLBACKEND", "Agg")

import xpnn  # noqa: E402

project = "xpnn"
author = "the xpnn developers"
copyright = "2026, the xpnn developers"
release = version = xpnn.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.intersphinx",
              "numpydoc", "myst_parser", "sphinx_gallery.gen_gallery",
              "xpnn_cli_docs"]  # cli.md's flag reference, exit codes and defaults, from the code
exclude_patterns = ["_build", "guide/_*.md"]
templates_path = ["_templates"]  # autosummary/class.rst: each method in full, once
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# the API reference (api.rst): one page per public name, its docstring in numpydoc form,
# validated at build time (a missing parameter or return is a warning, so an error under -W)
autosummary_generate = True
numpydoc_show_class_members = False  # autosummary's class pages list the methods
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"GL08", "SS01", "PR01", "PR02", "PR07", "RT01"}
# scikit-learn's own methods, inherited by the estimators, are documented by scikit-learn;
# the learner's core (xpnn.core) says the math in its docstrings, not numpydoc sections
numpydoc_validation_exclude = {r"\.get_metadata_routing$", r"\.set_\w+_request$",
                               r"\.__init__$", r"\.__\w+__$", r"^xpnn\.core\."}
intersphinx_mapping = {}  # no network here: no cross-project links fetched at build time

# user-guide pages are Markdown (MyST): sections moved from the README as they were
myst_heading_anchors = 3
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
