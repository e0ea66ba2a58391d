"""``xpnn serve [MODEL] [--metrics-log FILE] [--port N] [--host H] [--open]``: the drawing
pad for a saved model, and/or a finished run's curves, until Ctrl-C (one line, status 0)."""
from __future__ import annotations

import sys

from ...errors import XpnnError
from ...serve.events import RunEvents
from ...serve.reader import DrawingReader
from ...serve.server import PadServer, serve_until_interrupted


def run(args) -> int:
    if args.model is None and args.metrics_log is None:
        raise XpnnError("give a MODEL to draw for, or --metrics-log FILE to show a run's "
                        "curves (or both)")
    reader = None if args.model is None else DrawingReader.load(args.model)
    events = None if args.metrics_log is None else RunEvents.from_metrics_log(args.metrics_log)
    server = start_server(args.host, args.port, reader=reader, events=events, command="serve")
    announce("serve", server, args.open)
    return serve_until_interrupted(server, "serve")


def start_server(host, port, reader=None, events=None, command="serve"):
    """The server, listening (not yet serving); a port in use is one line."""
    try:
        return PadServer((host, port), reader=reader, events=events, command=command)
    except OSError as exc:
        raise XpnnError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def announce(command, server, open_browser=False, home=None):
    """Where to look, on stderr (always: even --quiet needs it); the browser if asked."""
    print(f"xpnn {command}: {home or server.home().strip('/')} at {server.url} "
          f"(Ctrl-C stops it)", file=sys.stderr, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
