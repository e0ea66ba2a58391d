"""Run the ``xpnn`` command as a user would, in this process or in a new one.

In this process (the default) the command runs through ``xpnn.cli.parser.main`` with its stdout
and stderr captured and its warnings printed to that stderr as Python prints them: the same
code, flags, messages and exit status as the console script, without paying Python's and
scikit-learn's start-up again for every call (about 1.5 s each on a 2-core machine). A new
process (``process=True``, or when ``cwd`` or ``env`` is given) for what only a process
shows: the console script's Ctrl-C handling, start-up imports, launchers, the environment
(and always under an MPI launcher, where an interrupted command leaves with os._exit).
An in-process run that outlives ``timeout`` ends the test run with every thread's traceback.
"""
import contextlib
import faulthandler
import io
import json
import subprocess
import sys
import traceback
import warnings

from xpnn.parallel.launcher import launched_by_mpi

# Python's own warning filters in a fresh process (python -W / PYTHONWARNINGS unset), latest
# first as filterwarnings inserts: what a user of the console script sees
DEFAULT_FILTERS = [("ignore", ResourceWarning, ""), ("ignore", ImportWarning, ""),
                   ("ignore", PendingDeprecationWarning, ""), ("ignore", DeprecationWarning, ""),
                   ("default", DeprecationWarning, "__main__")]


def xpnn(*args, cwd=None, env=None, timeout=300, process=False):
    argv = [str(arg) for arg in args]
    if process or cwd is not None or env is not None or launched_by_mpi():
        return subprocess.run([sys.executable, "-m", "xpnn", *argv], capture_output=True,
                              text=True, cwd=cwd, env=env, timeout=timeout)
    return _in_process(argv, timeout)


def xpnn_json(*args, **kwargs):
    result = xpnn(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _in_process(argv, timeout):
    from xpnn.cli import parser as cli

    out, err = io.StringIO(), io.StringIO()
    faulthandler.dump_traceback_later(timeout, exit=True)  # a hang fails, never waits
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.resetwarnings()  # not pytest's filters: a fresh process's
        for action, category, module in DEFAULT_FILTERS:
            warnings.filterwarnings(action, category=category, module=module)
        warnings.showwarning = _print_warning
        try:
            status = cli.main(argv)
        except SystemExit as exc:  # argparse's errors and --help
            status = exc.code if isinstance(exc.code, int) or exc.code is None else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except Exception:  # what the interpreter would print before exiting with 1
            traceback.print_exc()
            status = 1
        finally:
            faulthandler.cancel_dump_traceback_later()
    return subprocess.CompletedProcess(["xpnn", *argv], status or 0, out.getvalue(),
                                       err.getvalue())


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
