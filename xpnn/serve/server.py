"""The pad's and the dashboard's HTTP server: Python's ThreadingHTTPServer, a table of
routes, every asset from the package, JSON errors (a 4xx and one line, never a traceback).

Each answer carries ``Content-Security-Policy: default-src 'self'`` (the page can load
nothing from elsewhere) and ``Cache-Control: no-store``. Bodies over ``MAX_BODY_BYTES`` are
refused unread. One thread per connection (daemon threads: Ctrl-C never waits on a
stream), at most ``access.MAX_CONNECTIONS`` of them; the listen queue is deep enough for
bursts of clients. Only requests named for this server, from its own pages, are answered
(``access.py``): others get a 403 and one line on stderr.
"""
from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from .access import IDLE_SECONDS, MAX_CONNECTIONS, ConnectionSlots, own_hosts, refusal
from .bodies import MAX_BODY_BYTES, BadBody, read_ink

DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # a larger body is refused without reading it
HEARTBEAT_SECONDS = 15.0  # an SSE comment this often keeps idle streams (and proxies) open
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# the page's files: URL path -> (file in xpnn/serve/static, its Content-Type)
ASSETS = {
    "/pad": ("pad.html", "text/html; charset=utf-8"),
    "/dashboard": ("dashboard.html", "text/html; charset=utf-8"),
    "/pad.js": ("pad.js", "text/javascript; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


def load_assets() -> dict:
    """URL path -> (bytes, Content-Type), read once from the package."""
    static = resources.files("xpnn.serve") / "static"
    return {path: (static.joinpath(name).read_bytes(), kind)
            for path, (name, kind) in ASSETS.items()}


class PadServer(ThreadingHTTPServer):
    """What the handlers share: the model's reader (None: dashboard only), the run's events
    (None: pad only), the assets, the names it answers to, its connections, and the command
    its log lines name."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, reader=None, events=None, command="serve",
                 max_connections=MAX_CONNECTIONS, idle_seconds=IDLE_SECONDS):
        super().__init__(address, Handler)
        self.reader, self.events, self.command = reader, events, command
        self.assets = load_assets()
        self.hosts = own_hosts(address[0], self.server_address[1])
        self.slots, self.idle_seconds = ConnectionSlots(max_connections), idle_seconds

    def process_request(self, request, client_address):
        """A thread for the connection, when there is a slot for it (else a 503)."""
        if self.slots.admit(request):
            super().process_request(request, client_address)
            return
        try:  # every connection is busy with a request: say so at once, from this thread
            request.settimeout(1.0)
            body = json.dumps({"error": "the server is busy; try again"}).encode()
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                            b"application/json\r\nConnection: close\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def shutdown_request(self, request):
        self.slots.release(request)
        super().shutdown_request(request)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}/"

    def home(self) -> str:
        """The pad when there is a model and no run, else the dashboard."""
        return "/pad" if self.reader is not None and self.events is None else "/dashboard"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="xpnn-serve", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.events is not None:
            self.events.close()  # streams end, so their threads do
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: PadServer
    protocol_version = "HTTP/1.1"  # keep-alive: a drawing's calls share one connection
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK wait
    server_version = "xpnn-serve"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def setup(self):
        self.timeout = self.server.idle_seconds  # no read or write waits longer
        super().setup()

    def handle_one_request(self):
        self.server.slots.mark(self.connection, busy=False)  # waiting for a request line
        super().handle_one_request()

    def parse_request(self):
        parsed = super().parse_request()
        if parsed:  # the request's head has arrived: this connection is not idle
            self.server.slots.mark(self.connection, busy=True)
        return parsed

    def do_GET(self):
        self._route(GET_ROUTES)

    def do_POST(self):
        self._route(POST_ROUTES)

    def do_HEAD(self):
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)

    def _route(self, routes):
        path = self.path.split("?", 1)[0]
        action = routes.get(path)
        why = refusal(self.server.hosts, self.headers.get("Host"), self.headers.get("Origin"))
        if why is not None:
            print(f"xpnn {self.server.command}: refused {self.command} {path}: {why}",
                  file=sys.stderr, flush=True)
            self.close_connection = True  # its body, if any, unread
            self.send_json(403, {"error": why})
            return
        try:
            if action is not None:
                action(self)
            elif path in self.server.assets and routes is GET_ROUTES:
                self.send_asset(path)
            else:
                self.drain_body()
                self.send_json(404, {"error": f"{self.command} {path}: no such page or call"})
        except BadBody as bad:
            self.send_json(bad.status, {"error": str(bad)})
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client left or stalled; nothing to answer
        except Exception as exc:  # a bug, not the request: one line here and in the answer
            line = f"{self.command} {path}: {type(exc).__name__}: {exc}"
            print(f"xpnn {self.server.command}: internal error: {line}", file=sys.stderr)
            self.close_connection = True
            self.send_json(500, {"error": f"internal error: {line}"})

    # -- answers ---------------------------------------------------------------------

    def send_bytes(self, status, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj):
        self.send_bytes(status, json.dumps(obj).encode("utf-8"), "application/json")

    def send_asset(self, path):
        body, kind = self.server.assets[path]
        self.send_bytes(200, body, kind)

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (a malformed request line, too-long headers) as JSON."""
        self.close_connection = True
        try:
            self.send_json(int(code), {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def log_message(self, format, *args):  # one line per request would drown the terminal
        pass

    # -- bodies ----------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The request's body, at most MAX_BODY_BYTES (a larger one: 413, unread, and the
        connection closed)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise BadBody(411, "send the body with a Content-Length, not chunked")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise BadBody(400, "Content-Length is not a byte count")
        if length > MAX_BODY_BYTES:
            # read and drop it (bounded), so the client gets the answer rather than a reset
            self.close_connection = True
            remaining = length if length <= DRAIN_LIMIT_BYTES else 0
            while remaining > 0:
                chunk = self.rfile.read(min(1 << 16, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise BadBody(413, f"the body is {self.headers['Content-Length']} bytes; at most "
                               f"{MAX_BODY_BYTES}")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise BadBody(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def drain_body(self):
        """Read (and drop) a small unexpected body, so keep-alive stays in step."""
        if self.headers.get("Content-Length", "0") != "0":
            try:
                self.read_body()
            except BadBody:
                pass


# -- routes ------------------------------------------------------------------------------


def home(handler: Handler):
    handler.send_asset(handler.server.home())


def about(handler: Handler):
    """What the page needs to know: the model (classes, grid, recipe), whether a run shows."""
    reader = handler.server.reader
    handler.send_json(200, {"model": None if reader is None else reader.describe(),
                            "run": handler.server.events is not None})


def predict(handler: Handler):
    body = handler.read_body()
    reader = handler.server.reader
    if reader is None:
        raise BadBody(404, "no model is served here: start xpnn serve MODEL")
    ink = read_ink(handler.headers.get("Content-Type", ""), body)
    handler.send_json(200, reader.read(ink))


def events(handler: Handler):
    """Server-sent events: every event of the run so far, then each new one as it comes."""
    run = handler.server.events
    if run is None:
        raise BadBody(404, "no training run is shown here (xpnn train --dashboard, or "
                           "xpnn serve --metrics-log FILE)")
    handler.close_connection = True  # the stream ends with the connection
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Connection", "close")
    for name, value in SECURITY_HEADERS.items():
        handler.send_header(name, value)
    handler.end_headers()
    sent = 0
    while not run.closed:
        batch = run.after(sent, HEARTBEAT_SECONDS)
        chunk = "".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in batch)
        handler.wfile.write((chunk or ": still here\n\n").encode("utf-8"))
        handler.wfile.flush()
        sent += len(batch)


GET_ROUTES = {"/": home, "/api/model": about, "/api/events": events}
POST_ROUTES = {"/api/predict": predict}


def serve_until_interrupted(server: PadServer, command: str) -> int:
    """Serve on this thread until Ctrl-C, then one line and status 0 (the way to stop)."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print(f"xpnn {command}: stopped serving {server.url}", file=sys.stderr)
    finally:
        if server.events is not None:
            server.events.close()
        server.server_close()
    return 0
