"""Every code block a reader may copy runs as written: the ```python blocks of README.md and
docs/guide/*.md, the ``.. code-block:: python`` blocks of docs/index.rst and docs/guide/*.rst,
each page's blocks in order in one namespace (a later block uses an earlier one's names), in a
fresh working directory. A block with an undefined name fails, naming the page and its line.

A block that cannot run here says so just before its fence: ``<!-- not run: needs a GPU -->``
in Markdown, ``.. not run: needs a GPU`` in reStructuredText; the reason is listed as a skip.
Shell blocks (bash, console, shell, sh) are illustrations unless marked ``<!-- run -->`` /
``.. run``: a marked one runs with ``bash -e`` in the page's working directory, after its
earlier blocks (so a Python block may write the CSV a command reads), this environment's
``xpnn`` and ``python`` first on PATH."""
import os
import re
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "console", "shell", "sh"}
MD_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(?:\{code-block\}\s*)?([\w+-]*)")
MD_MARK = re.compile(r"^\s*<!--\s*(not run|run)\s*(?::\s*(.*?))?\s*-->\s*$")
RST_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\w*)")
RST_MARK = re.compile(r"^\s*\.\. (not run|run)\s*(?::\s*(.*?))?\s*$")


@dataclass(frozen=True)
class Block:
    page: str    # path from the repository root
    line: int    # 1-based line of the block's first line of code
    kind: str    # "python", "shell" or "other"
    source: str
    mark: str    # "", "run" or "not run"
    reason: str  # why a "not run" block is not run

    @property
    def runs(self):
        return (self.kind == "python" and self.mark != "not run") or (
            self.kind == "shell" and self.mark == "run")


def kind_of(language):
    return "python" if language in PYTHON else "shell" if language in SHELL else "other"


def mark_before(lines, index, pattern):
    """The run / not-run marker on the last non-blank line before lines[index], if any."""
    for previous in reversed(lines[:index]):
        if previous.strip():
            found = pattern.match(previous)
            return (found[1], found[2] or "") if found else ("", "")
    return "", ""


def markdown_blocks(page, text):
    lines, blocks, index = text.splitlines(), [], 0
    while index < len(lines):
        opening = MD_FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, language = opening.groups()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                for line in lines[index + 1:end]]
        mark, reason = mark_before(lines, index, MD_MARK)
        blocks.append(Block(page, index + 2, kind_of(language.lower()), "\n".join(body) + "\n",
                            mark, reason))
        index = end + 1
    return blocks


def rst_blocks(page, text):
    lines, blocks = text.splitlines(), []
    for index, line in enumerate(lines):
        directive = RST_DIRECTIVE.match(line)
        if not directive:
            continue
        start = index + 1
        while start < len(lines) and lines[start].strip().startswith(":"):  # its options
            start += 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        end, depth = start, len(directive[1])
        while end < len(lines) and (not lines[end].strip()
                                    or len(lines[end]) - len(lines[end].lstrip()) > depth):
            end += 1
        body = lines[start:end]
        margin = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        mark, reason = mark_before(lines, index, RST_MARK)
        blocks.append(Block(page, start + 1, kind_of(directive[2].lower()),
                            "\n".join(b[margin:] for b in body).rstrip() + "\n", mark, reason))
    return blocks


def blocks_of(path):
    page, text = path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")
    return (rst_blocks if path.suffix == ".rst" else markdown_blocks)(page, text)


def stray_marks(path):
    """Markers whose next non-blank line opens no block: a marker that marks nothing."""
    lines = path.read_text(encoding="utf-8").splitlines()
    mark, opening = (RST_MARK, RST_DIRECTIVE) if path.suffix == ".rst" else (MD_MARK, MD_FENCE)
    stray = []
    for index, line in enumerate(lines):
        if mark.match(line):
            following = next((after for after in lines[index + 1:] if after.strip()), "")
            if not opening.match(following):
                stray.append(f"{path.relative_to(ROOT)}:{index + 1}")
    return stray


PAGES = [ROOT / "README.md", ROOT / "docs" / "index.rst",
         *sorted((ROOT / "docs" / "guide").glob("*.md")),
         *sorted((ROOT / "docs" / "guide").glob("*.rst"))]
BLOCKS = [block for page in PAGES for block in blocks_of(page)]
RUN_PAGES = [page for page in PAGES if any(block.runs for block in blocks_of(page))]
NOT_RUN = [block for block in BLOCKS if block.mark == "not run"]


def run_python(block, namespace):
    padded = "\n" * (block.line - 1) + block.source  # tracebacks give the page's own lines
    try:
        exec(compile(padded, block.page, "exec"), namespace)  # noqa: S102 - the docs' code
    except Exception as error:  # noqa: BLE001 - any error of a reader's block is the failure
        frames = [frame for frame in traceback.extract_tb(error.__traceback__)
                  if frame.filename == block.page]
        line = frames[-1].lineno if frames else block.line
        pytest.fail(f"{block.page}:{line} (the block at line {block.line}): "
                    f"{type(error).__name__}: {error}", pytrace=False)


def run_shell(block, directory):
    environment = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    lines = block.source.splitlines()
    if any(line.startswith("$ ") for line in lines):  # a console block: only its commands
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    result = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=directory, text=True,
                            capture_output=True, env=environment, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"{block.page}:{block.line}: the shell block ended with status "
                    f"{result.returncode}: {(result.stderr or result.stdout)[-1500:]}",
                    pytrace=False)


def run_page(blocks, directory):
    namespace = {"__name__": "__main__"}
    for block in blocks:
        if block.runs and block.kind == "python":
            run_python(block, namespace)
        elif block.runs:
            run_shell(block, directory)


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_the_code_blocks_of_a_page_run_in_order(page, tmp_path, monkeypatch):
    import sklearn
    import xpnn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from threadpoolctl import threadpool_limits

    # what a page sets for the rest of its process stays with the page, not the next test;
    # one BLAS thread: the suite runs a worker per core, and the blocks' small fits took 20x
    # longer with BLAS threads spinning against the other worker (4.3 s against 0.19 s)
    with warnings.catch_warnings(), sklearn.config_context(), threadpool_limits(1), \
            xpnn.config_context(kernels=xpnn.get_config()["kernels"]):
        run_page(blocks_of(page), tmp_path)


@pytest.mark.parametrize("block", NOT_RUN, ids=lambda block: f"{block.page}:{block.line}")
def test_a_block_that_is_not_run_says_why(block):
    assert block.reason.strip(), f"{block.page}:{block.line}: 'not run' needs a reason"
    pytest.skip(f"{block.page}:{block.line} not run: {block.reason}")


def test_every_marker_marks_a_block():
    stray = [where for page in PAGES for where in stray_marks(page)]
    assert not stray, f"run / not-run markers with no code block after them: {stray}"


def test_the_quick_start_fits_searches_and_runs_the_command_line():
    blocks = blocks_of(ROOT / "docs" / "index.rst")
    python = "".join(block.source for block in blocks if block.kind == "python" and block.runs)
    shell = [block.source for block in blocks if block.kind == "shell" and block.runs]
    assert "load_digits" in python and "GridSearchCV" in python and "make_pipeline" in python
    assert any("xpnn train --data" in source for source in shell), "no CLI block is run"


def test_an_undefined_name_fails_naming_the_page_and_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = "\n".join(["# A page", "", "```python", "a = 1", "```", "",
                      "<!-- not run: needs a GPU -->", "```python", "gpu_only()", "```", "",
                      "```python", "b = a + 1", "print(b + X)", "```", ""])
    blocks = markdown_blocks("docs/guide/example.md", page)
    assert [(block.line, block.mark, block.reason, block.runs) for block in blocks] == [
        (4, "", "", True), (9, "not run", "needs a GPU", False), (13, "", "", True)]
    with pytest.raises(pytest.fail.Exception, match=r"docs/guide/example\.md:14 \(the block "
                       r"at line 13\): NameError: name 'X' is not defined"):
        run_page(blocks, tmp_path)


def test_rst_blocks_and_marked_shell_blocks(tmp_path, monkeypatch):
    page = "\n".join(["Title", "=====", "", ".. code-block:: python", "   :caption: x", "",
                      "   with open('n.txt', 'w') as out:", "       out.write('41')", "",
                      ".. run", "", ".. code-block:: bash", "", "   test \"$(cat n.txt)\" = 41",
                      "", ".. code-block:: bash", "", "   exit 3", ""])
    blocks = rst_blocks("docs/example.rst", page)
    assert [(block.line, block.kind, block.runs) for block in blocks] == [
        (7, "python", True), (14, "shell", True), (18, "shell", False)]
    assert blocks[0].source == "with open('n.txt', 'w') as out:\n    out.write('41')\n"
    monkeypatch.chdir(tmp_path)
    run_page(blocks, tmp_path)  # the unmarked `exit 3` is an illustration, not run
    with pytest.raises(pytest.fail.Exception, match=r"docs/example\.rst:18: the shell "
                       r"block ended with status 3"):
        run_shell(blocks[2], tmp_path)
