"""Who a local server answers: requests named for it, from its own pages, over a bounded number
of connections.

A page of another site can re-point its own name at 127.0.0.1 (DNS rebinding); its requests
then reach this server as ``Host: evil.example:PORT``. So, as Jupyter's server does, a request
whose ``Host`` is not one of the server's own names (127.0.0.1, localhost, [::1] or the
``--host`` given, with the port) is refused. A cross-site page's fetch, event stream or form
carries its ``Origin``: one that is not the server's own is refused too. Listening on every
interface (``--host 0.0.0.0``) gives the server names it cannot know: then any ``Host`` is
answered, and the ``Origin`` must still be the one the request names.

A client that opens connections and sends nothing holds one thread each. At most
``MAX_CONNECTIONS`` are open: past that, the one idle longest (no request under way) is
closed, so a new client is always answered; an idle connection is closed after
``IDLE_SECONDS``.
"""
from __future__ import annotations

import socket
import threading
import time

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
EVERY_INTERFACE = ("", "0.0.0.0", "::")
MAX_CONNECTIONS = 64  # a browser opens 6 per server; the load test's 4 clients, 1 each
IDLE_SECONDS = 20.0  # a connection with no request under way for this long is closed


def own_hosts(host: str, port: int) -> frozenset | None:
    """The ``Host`` headers a server listening on ``host:port`` answers (lower case); None:
    any (it listens on every interface)."""
    if host in EVERY_INTERFACE:
        return None
    named = f"[{host}]" if ":" in host else host
    return frozenset(f"{name}:{port}".lower() for name in (*LOCAL_NAMES, named))


def refusal(hosts: frozenset | None, host: str | None, origin: str | None) -> str | None:
    """Why a request with these ``Host`` and ``Origin`` headers is refused, or None."""
    if host is None:
        return "the request names no Host"
    if hosts is not None and host.lower() not in hosts:
        return (f"Host {host!r} is not this server's ({', '.join(sorted(hosts))}); "
                f"to serve under another name, start it with --host NAME")
    if origin is not None and origin.lower() != f"http://{host}".lower():
        return f"a page of {origin!r} may not use this server (its pages are http://{host})"
    return None


class ConnectionSlots:
    """The open connections, each idle (waiting for a request, since when) or busy; at most
    ``limit``: one past it closes the longest idle (``admit``)."""

    def __init__(self, limit: int = MAX_CONNECTIONS):
        self.limit = limit
        self.lock = threading.Lock()
        self.idle_since: dict[socket.socket, float | None] = {}  # None: a request under way

    def admit(self, connection: socket.socket) -> bool:
        """Take a new connection, closing the longest-idle one if all slots are taken;
        False when every one is busy (the caller answers 503)."""
        with self.lock:
            if len(self.idle_since) >= self.limit:
                idle = [(since, held) for held, since in self.idle_since.items()
                        if since is not None]
                if not idle:
                    return False
                _, oldest = min(idle, key=lambda pair: pair[0])
                del self.idle_since[oldest]
                _hang_up(oldest)  # its thread reads the end and returns
            self.idle_since[connection] = time.monotonic()
            return True

    def mark(self, connection: socket.socket, busy: bool) -> None:
        with self.lock:
            if connection in self.idle_since:
                self.idle_since[connection] = None if busy else time.monotonic()

    def release(self, connection: socket.socket) -> None:
        with self.lock:
            self.idle_since.pop(connection, None)


def _hang_up(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client had left
