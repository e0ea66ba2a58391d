"""The ``xpnn`` console script (and ``python -m xpnn``): Ctrl-C is taken in hand before anything
else is imported (``launcher.py`` says why), then the CLI runs."""
from __future__ import annotations

from .parallel.launcher import end_start_up_on_interrupt


def main() -> int:
    end_start_up_on_interrupt()
    from .cli.parser import main as cli_main

    return cli_main()
