"""Every CuPy and torch.cuda name the code uses, resolved against the installed packages
(issue 37): the CUDA paths do not run where xpnn is built (no GPU), so a misspelled
attribute or keyword there would first fail on a user's GPU.

The walk reads each .py file of xpnn/, tests/ and bench/ with ``ast``: names bound by
``import cupy``, ``import cupy as cp``, ``import cupyx.scipy.sparse``, ``from cupy import x``,
``from cupy.cuda import nccl`` (at module level or in a function, a lambda seeing its
function's), ``name = pytest.importorskip("cupy")`` or ``name = <such a chain>``, the
attribute chains on them, and the same for ``torch.cuda``. Each name must import (its
longest module prefix) and getattr along the rest; ``X().attr`` looks ``attr`` up on X's
class (or on RESULTS' object for a function); a call's keywords and positional count must
bind to the callable's signature where Python can read one (CuPy's Cython functions have
none). Not seen: names reached through a value held elsewhere (``backend.xp``,
``self.communicator``, a CuPy array's methods) or a module passed as an argument.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'xpnn[cuda12]'): "
                                   "its names cannot be resolved here")

ROOT = Path(__file__).resolve().parent.parent
WALKED = ("xpnn", "tests", "bench")  # folders whose .py files are walked
LIBRARIES = ("cupy", "cupyx", "torch.cuda")  # a name counts when it is one or under one

# Names that exist only with a CUDA library CuPy loads when first asked (not installed
# where xpnn is built: pip's CuPy without its [ctk] extra, no NCCL): name -> why it may
# not resolve here. The test fails when one is no longer used, so the list stays true.
LIBRARY_ONLY = {
    "cupy.cuda.cublas": "loads libcublas (CUDA Toolkit or cupy-cuda12x[ctk])",
    "cupy.cuda.curand": "loads libcurand (CUDA Toolkit or cupy-cuda12x[ctk])",
    "cupy.cuda.cusparse": "loads libcusparse and libnvJitLink (CUDA Toolkit or "
                          "cupy-cuda12x[ctk])",
    "cupy.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10": "in cupy.cuda.curand (libcurand)",
    "cupy.cuda.nccl.get_unique_id": "cupy.cuda.nccl holds only `available` without libnccl "
                                    "(nvidia-nccl-cu12)",
    "cupy.cuda.nccl.NcclCommunicator": "cupy.cuda.nccl without libnccl: no communicator",
    "cupy.cuda.nccl.NCCL_FLOAT32": "cupy.cuda.nccl without libnccl: no constants",
    "cupy.cuda.nccl.NCCL_FLOAT64": "cupy.cuda.nccl without libnccl: no constants",
    "cupy.cuda.nccl.NCCL_SUM": "cupy.cuda.nccl without libnccl: no constants",
}

# what a function's result is, for ``f().attr``: the dotted name of its class, or of an
# object of that class that exists without a GPU
RESULTS = {
    "cupy.get_default_memory_pool": "cupy.cuda.MemoryPool",
    "cupy.cuda.get_current_stream": "cupy.cuda.Stream.null",
    "cupy.ascontiguousarray": "cupy.ndarray",
}

# uses the walk must find in xpnn/ (an ast walk that finds nothing fails here)
KNOWN_USES = {
    "cupy.cuda.runtime.getDeviceCount", "cupy.cuda.runtime.memGetInfo",
    "cupy.cuda.runtime.getDeviceProperties", "cupy.cuda.Device().pci_bus_id",
    "cupy.cuda.nccl.available", "cupy.get_default_memory_pool().free_bytes",
    "cupy.random.RandomState", "cupyx.scipy.sparse.csr_matrix",
    "cupy.cuda.get_current_stream().ptr", "cupy.cuda.nccl.NCCL_SUM",
}


@dataclass(frozen=True)
class Use:
    name: str  # "cupy.cuda.runtime.getDeviceCount"; "cupy.cuda.Device().pci_bus_id"
    where: str  # "xpnn/backend/devices.py:187"
    keywords: tuple = ()  # the keyword names of a call
    positional: int | None = None  # a call's positional arguments (None: not a call, *args)


def in_libraries(name: str) -> bool:
    return any(name == lib or name.startswith((f"{lib}.", f"{lib}(")) for lib in LIBRARIES)


class Walker(ast.NodeVisitor):
    """Collects ``Use``s of LIBRARIES in one module: a scope (module, class, function,
    lambda) maps a local name to the dotted name it is bound to."""

    def __init__(self, where: str):
        self.where, self.scopes, self.uses, self.inner = where, [{}], [], set()

    def use(self, node, name, call=None):
        if name and in_libraries(name):
            keywords = tuple(k.arg for k in call.keywords if k.arg) if call else ()
            positional = None
            if call and not any(isinstance(arg, ast.Starred) for arg in call.args):
                positional = len(call.args)
            self.uses.append(Use(name, f"{self.where}:{node.lineno}", keywords, positional))

    def dotted(self, node) -> str | None:
        """The dotted name an expression is, or None: ``cp.cuda.Device(0).id`` with
        ``import cupy as cp`` is "cupy.cuda.Device().id"."""
        if isinstance(node, ast.Name):
            return self.scopes[-1].get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return base and f"{base}.{node.attr}"
        if isinstance(node, ast.Call):
            base = self.dotted(node.func)
            return base and f"{base}()"
        return None

    def visit_Import(self, node):
        for alias in node.names:
            self.use(node, alias.name)
            top = alias.name.split(".")[0]
            self.scopes[-1][alias.asname or top] = alias.name if alias.asname else top

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return  # a relative import: xpnn's own modules
        for alias in node.names:
            self.use(node, f"{node.module}.{alias.name}")
            self.scopes[-1][alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def visit_Assign(self, node):
        self.visit(node.value)
        bound = imported_by_importorskip(node.value) or self.dotted(node.value)
        for target in node.targets:
            self.visit(target)
            for name in bound_names(target):  # a new value shadows an import
                self.scopes[-1].pop(name, None)
            if isinstance(target, ast.Name) and bound and in_libraries(bound):
                self.scopes[-1][target.id] = bound  # ``cp = cupy``, ``stream = f()``

    def visit_Attribute(self, node):
        self.inner.add(id(node.value))
        if id(node) not in self.inner:
            self.use(node, self.dotted(node))
        self.generic_visit(node)

    def visit_Call(self, node):
        self.inner.add(id(node.func))
        self.use(node, self.dotted(node.func), call=node)
        self.generic_visit(node)

    def scoped(self, node, arguments=None):
        scope = dict(self.scopes[-1])  # a nested scope sees its parent's names ...
        if arguments is not None:  # ... but its parameters
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                        arguments.vararg, arguments.kwarg):
                scope.pop(getattr(arg, "arg", None), None)
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node):
        self.scoped(node, node.args)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self.scoped(node, node.args)

    def visit_ClassDef(self, node):
        self.scoped(node)


def imported_by_importorskip(value) -> str | None:
    """The module ``pytest.importorskip("cupy", ...)`` imports (the tests' idiom), or None."""
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and value.func.attr == "importorskip" and value.args
            and isinstance(value.args[0], ast.Constant)):
        return value.args[0].value
    return None


def bound_names(target) -> list[str]:
    """The names an assignment target binds: ``a``, ``a, (b, *c)``; not ``a.b`` or ``a[0]``."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in bound_names(element)]
    if isinstance(target, ast.Starred):
        return bound_names(target.value)
    return []


def walk_source(source: str, where: str) -> list[Use]:
    walker = Walker(where)
    walker.visit(ast.parse(source))
    return walker.uses


def walk_tree() -> list[Use]:
    uses = []
    for folder in WALKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            uses += walk_source(path.read_text(), str(path.relative_to(ROOT)))
    return uses


def resolve(name: str):
    """(the object ``name`` names, whether it was looked up on a class for an instance)."""
    parts = name.split(".")
    modules = len(parts) if "()" not in name else next(
        i for i, part in enumerate(parts) if part.endswith("()"))
    for count in range(modules, 0, -1):  # the longest prefix that is a module
        prefix = ".".join(parts[:count])
        try:
            with warnings.catch_warnings():  # cupy.cuda.nccl warns without libnccl
                warnings.simplefilter("ignore")
                obj = importlib.import_module(prefix)
            break
        except ModuleNotFoundError as exc:  # not a module (or not one until getattr)
            if not (prefix == exc.name or prefix.startswith(f"{exc.name}.")):
                raise
    else:
        raise ModuleNotFoundError(f"no module {parts[0]!r}")
    on_instance, walked = False, parts[:count]
    for part in parts[count:]:
        obj = getattr(obj, part.removesuffix("()"))
        walked.append(part.removesuffix("()"))
        if on_instance and is_property(obj):
            return obj, on_instance  # an instance's property: its value's type is unknown
        if part.endswith("()"):
            obj, on_instance = result_of(obj, ".".join(walked)), True
    return obj, on_instance


def is_property(obj) -> bool:
    return isinstance(obj, property) or inspect.isgetsetdescriptor(obj) \
        or inspect.ismemberdescriptor(obj)


def result_of(callable_, name):
    """What ``name()`` returns, for looking up its attributes: its class, or RESULTS'."""
    if inspect.isclass(callable_):
        return callable_
    if name not in RESULTS:
        raise LookupError(f"{name}() returns an unknown object: add what it returns to "
                          f"RESULTS")
    return resolve(RESULTS[name])[0]


def problem(use: Use) -> str | None:
    """Why ``use`` does not fit the installed package (None: it does)."""
    try:
        obj, on_instance = resolve(use.name)
    except (ImportError, AttributeError, LookupError) as exc:
        return f"{use.where}: {use.name}: {type(exc).__name__}: {exc}"
    if use.positional is None and not use.keywords:
        return None
    try:
        signature = inspect.signature(obj)
    except (ValueError, TypeError):  # a builtin or Cython callable: nothing to read
        return None
    self_ = [None] if on_instance and inspect.isfunction(obj) else []
    try:
        signature.bind_partial(*self_, *[None] * (use.positional or 0),
                               **dict.fromkeys(use.keywords))
    except TypeError as exc:
        return f"{use.where}: {use.name}{signature}: {exc}"
    return None


def problems(uses) -> list[str]:
    return [found for use in uses if use.name not in LIBRARY_ONLY
            for found in [problem(use)] if found]


@pytest.fixture(scope="module")
def uses() -> list[Use]:
    return walk_tree()


def test_every_cupy_name_resolves_in_the_installed_cupy(uses):
    cupy_uses = [use for use in uses if not use.name.startswith("torch")]
    names = sorted({use.name for use in cupy_uses})
    print(f"{len(names)} CuPy names: {names}")
    assert not problems(cupy_uses)


def test_every_torch_cuda_name_resolves_in_the_installed_torch(uses):
    pytest.importorskip("torch", reason="torch is not installed: torch.cuda's names cannot "
                                        "be resolved here")
    torch_uses = [use for use in uses if use.name.startswith("torch")]
    print(f"torch.cuda names: {sorted({use.name for use in torch_uses})}")
    assert torch_uses, "conftest's torch.cuda.is_available at least"
    assert not problems(torch_uses)


def test_the_walk_finds_the_known_uses_in_xpnn(uses):
    found = {use.name for use in uses if use.where.startswith("xpnn/")}
    assert not KNOWN_USES - found, f"not found in xpnn/: {sorted(KNOWN_USES - found)}"


def test_every_name_listed_as_library_only_is_still_used(uses):
    unused = set(LIBRARY_ONLY) - {use.name for use in uses}
    assert not unused, f"LIBRARY_ONLY names no longer used (drop them): {sorted(unused)}"


SAMPLE = '''
import cupy
from cupy.cuda import runtime as rt
import torch


def count():
    from cupyx.scipy import sparse
    cp = cupy
    rt.memGetInfo()
    sparse.csr_matrix((3, 3), dtype=float)
    cupy.random.RandomState(0, methd=1)
    stream = cp.cuda.get_current_stream()
    cupy.cuda.Device(0).pci_bus_idd
    return stream.ptr + cp.cuda.runtime.getDeviceCuont() + torch.cuda.is_avaliable()


def skipped():
    import pytest
    cupy = pytest.importorskip("cupy")
    return cupy.cuda.runtime.runtimeGetVersoin()


def shadowed(cupy):
    cupy.anything  # a parameter, not the module
    rt, _ = None, None
    rt.anything  # rebound
'''

# what the checks say of SAMPLE: name -> a fragment of its problem (None: none)
SAMPLE_VERDICTS = {
    "cupy": None, "cupy.cuda.runtime": None, "cupyx.scipy.sparse": None,
    "cupy.cuda.runtime.memGetInfo": None, "cupyx.scipy.sparse.csr_matrix": None,
    "cupy.cuda.get_current_stream": None, "cupy.cuda.get_current_stream().ptr": None,
    "cupy.cuda.Device": None,
    "cupy.random.RandomState": "unexpected keyword argument 'methd'",
    "cupy.cuda.Device().pci_bus_idd": "has no attribute 'pci_bus_idd'",
    "cupy.cuda.runtime.getDeviceCuont": "has no attribute 'getDeviceCuont'",
    "torch.cuda.is_avaliable": "has no attribute 'is_avaliable'",
    "cupy.cuda.runtime.runtimeGetVersoin": "has no attribute 'runtimeGetVersoin'",
}


def test_the_walk_reports_misspelled_names_and_a_wrong_keyword():
    """The test can fail: in a sample, a misspelled function, instance attribute and keyword
    (through a function-level import and a local alias) are exactly what is reported."""
    uses = walk_source(SAMPLE, "sample.py")
    assert {use.name for use in uses} == set(SAMPLE_VERDICTS)
    if importlib.util.find_spec("torch") is None:
        uses = [use for use in uses if not use.name.startswith("torch")]
    for use in uses:
        verdict, expected = problem(use), SAMPLE_VERDICTS[use.name]
        assert (verdict is None) == (expected is None), (use, verdict)
        assert expected is None or expected in verdict, (use, verdict)
