"""The house's size rules, counted as issue 36 counts them, so the code cannot drift back.

A line is blank, inside a docstring (a module's, class's or function's first statement when
it is a string), comment-only, or code (the rest); blank lines count as none of the others,
even inside a docstring. A file's length is what ``wc -l`` says; a function's is its full
span, def line to last line, decorators left out.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xpnn"
CORE = PACKAGE / "core"  # the learner's math: a docstring says the formula, not the convention

CORE_LINES_MAX = 1_100  # the core's files together
CORE_PROSE_PER_CODE_MAX = 1.5  # docstring and comment lines per line of code, each core file
MODULE_LINES_MAX = 700
LOOP_MODULE = PACKAGE / "training" / "train.py"
LOOP_LINES_BELOW = 300
FUNCTION_LINES_MAX = 60
TOP_FILES_MAX = 10  # .py files at the top of xpnn/: the public entry points and what all use


@dataclass(frozen=True)
class LineCounts:
    total: int  # as wc -l counts: newline characters
    code: int
    docstring: int  # non-blank lines of docstrings
    comment: int  # comment-only lines

    @property
    def prose_per_code(self) -> float:
        return (self.docstring + self.comment) / self.code


def count_lines(source: str) -> LineCounts:
    lines = source.splitlines()
    blank = {number for number, line in enumerate(lines, start=1) if not line.strip()}
    docstring = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstring.update(range(first.lineno, first.end_lineno + 1))
    comment = {token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
               if token.type == tokenize.COMMENT and token.line.lstrip().startswith("#")}
    docstring -= blank
    code = len(lines) - len(blank) - len(docstring) - len(comment)
    return LineCounts(total=source.count("\n"), code=code, docstring=len(docstring),
                      comment=len(comment))


def function_lengths(source: str) -> dict[str, int]:
    """Each function's and method's full span, by qualified name (``Class.method``)."""
    lengths = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    lengths[name] = child.end_lineno - child.lineno + 1  # from def, not @
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def modules(folder: Path = PACKAGE) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------- the counter itself

COUNTED = '''"""A module docstring,

over three lines."""
import math  # an inline comment: the line is code

# a comment-only line
    # another, indented


@property
def area(radius):
    """One line."""
    text = """a string that is no docstring:
    both its lines are code"""
    return math.pi * radius ** 2  # code


class Circle:
    """Two lines
    of class docstring."""

    def grow(self):
        def twice(x):
            return 2 * x
        return twice(self)
'''


def test_the_counter_tells_docstring_comment_code_and_blank_lines_apart():
    counts = count_lines(COUNTED)
    assert counts.total == 25
    assert counts.docstring == 2 + 1 + 2  # the blank line inside the first one not counted
    assert counts.comment == 2
    # import, @property, def, text = (2 lines), return; class, def, def, return, return
    assert counts.code == 11
    assert counts.prose_per_code == 7 / 11  # and 25 - 7 blank = 11 + 5 + 2: every line placed


def test_the_counter_measures_functions_from_def_to_last_line():
    assert function_lengths(COUNTED) == {"area": 5, "Circle.grow": 4, "Circle.grow.twice": 2}


# ---------------------------------------------------------------- the house

def test_the_core_is_as_short_as_its_math():
    lengths = {shown(path): count_lines(path.read_text()).total for path in modules(CORE)}
    assert lengths, "no core files found"
    total = sum(lengths.values())
    assert total <= CORE_LINES_MAX, (
        f"xpnn/core/ is {total} lines (at most {CORE_LINES_MAX}): {lengths}")


def test_each_core_file_says_more_in_code_than_in_prose():
    heavy = []
    for path in modules(CORE):
        counts = count_lines(path.read_text())
        if counts.code == 0:  # a package's __init__: its docstring is all it has
            continue
        if counts.prose_per_code > CORE_PROSE_PER_CODE_MAX:
            heavy.append(f"{shown(path)}: {counts.docstring} docstring + {counts.comment} "
                         f"comment lines for {counts.code} lines of code "
                         f"({counts.prose_per_code:.2f})")
    assert not heavy, (f"more than {CORE_PROSE_PER_CODE_MAX} docstring and comment lines per "
                       f"line of code: {heavy}")


def test_no_module_is_over_700_lines():
    long = [f"{shown(path)}: {count_lines(path.read_text()).total} lines"
            for path in modules() if count_lines(path.read_text()).total > MODULE_LINES_MAX]
    assert not long, f"modules over {MODULE_LINES_MAX} lines: {long}"


def test_the_training_loop_module_is_under_300_lines():
    total = count_lines(LOOP_MODULE.read_text()).total
    assert total < LOOP_LINES_BELOW, (
        f"{shown(LOOP_MODULE)}: {total} lines (under {LOOP_LINES_BELOW} wanted)")


def test_no_function_is_over_60_lines():
    long = [f"{shown(path)}: {name} {length} lines" for path in modules()
            for name, length in function_lengths(path.read_text()).items()
            if length > FUNCTION_LINES_MAX]
    assert not long, f"functions over {FUNCTION_LINES_MAX} lines: {long}"


def test_the_top_of_the_package_holds_a_handful_of_modules():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_FILES_MAX, f"{len(top)} .py files at the top of xpnn/: {top}"


def test_every_package_says_in_its_first_line_what_it_is():
    folders = sorted({path.parent for path in modules()})
    unsaid = []
    for folder in folders:
        init = folder / "__init__.py"
        if not init.exists():
            unsaid.append(f"{shown(folder)}/: no __init__.py")
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        first_line = docstring.splitlines()[0].strip() if docstring else ""
        if not first_line.endswith("."):  # a sentence of its own, not the start of one
            unsaid.append(f"{shown(init)}: first docstring line {first_line!r}")
    assert not unsaid, f"packages whose __init__ does not say in one line what they are: {unsaid}"
