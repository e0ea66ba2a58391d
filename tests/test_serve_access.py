"""Who xpnn serve and xpnn train --dashboard answer: requests named for the server (a DNS
rebinding's ``Host`` refused), from its own pages (a cross-site ``Origin`` refused), each
refusal a JSON 403 and one line on stderr; and a bounded number of connections, so clients
that connect and send nothing cannot starve the pad. In Chromium: tests/test_browser.py."""
import http.client
import json
import select
import socket
import threading
import time

import pytest

from clirun import xpnn
from xpnn.serve.access import MAX_CONNECTIONS, own_hosts, refusal
from xpnn.serve.events import RunEvents
from xpnn.serve.reader import DrawingReader
from xpnn.serve.server import PadServer

INK = json.dumps({"pixels": [[255 * (col == 4) for col in range(8)]  # a 1, 8x8
                             for _ in range(8)]}).encode()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("access") / "digits.safetensors"
    assert xpnn("train", "--epochs", "2", "--hidden", "16", "--save", path,
                "--quiet").returncode == 0
    return path


def _serve(model, **options):
    server = PadServer(("127.0.0.1", 0), reader=DrawingReader.load(model), events=RunEvents(),
                       **options)
    server.start_in_thread()
    return server


@pytest.fixture
def server(model):
    server = _serve(model)
    yield server
    server.stop()


def _ask(server, method, path, headers, body=None):
    """(status, JSON answer) of one request with exactly these headers (Host included)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body or b""))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


CALLS = [("GET", "/"), ("GET", "/pad"), ("GET", "/api/model"), ("GET", "/api/events"),
         ("POST", "/api/predict")]


@pytest.mark.parametrize("method, path", CALLS)
def test_a_request_under_another_host_is_refused_with_a_json_403_and_one_line(
        server, capfd, method, path):
    """DNS rebinding: a page of evil.example, its name re-pointed at 127.0.0.1."""
    port = server.server_address[1]
    status, answer = _ask(server, method, path, {"Host": f"evil.example:{port}"}, INK)
    assert status == 403
    assert answer["error"].startswith(f"Host 'evil.example:{port}' is not this server's ")
    assert "--host NAME" in answer["error"]
    assert capfd.readouterr().err == f"xpnn serve: refused {method} {path}: {answer['error']}\n"


@pytest.mark.parametrize("method, path", CALLS)
def test_a_request_from_another_sites_page_is_refused(server, capfd, method, path):
    port = server.server_address[1]
    for origin in (f"http://127.0.0.1:{port + 1}", "http://evil.example", "null"):
        status, answer = _ask(server, method, path,
                              {"Host": f"127.0.0.1:{port}", "Origin": origin}, INK)
        assert status == 403 and answer["error"].startswith(f"a page of {origin!r} may not")
    assert len(capfd.readouterr().err.splitlines()) == 3


def test_its_own_names_and_pages_are_answered(server):
    port = server.server_address[1]
    for name in ("127.0.0.1", "localhost", "LocalHost", "[::1]"):
        host = f"{name}:{port}"
        assert _ask(server, "GET", "/api/model", {"Host": host})[0] == 200
        status, answer = _ask(server, "POST", "/api/predict",
                              {"Host": host, "Origin": f"http://{host}",
                               "Content-Type": "application/json"}, INK)
        assert status == 200 and answer["label"] in [str(k) for k in range(10)]


def test_a_request_without_a_host_is_refused(server):
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as raw:
        raw.sendall(b"GET /api/model HTTP/1.0\r\n\r\n")
        answer = raw.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 403 ") and b"names no Host" in answer


def test_the_names_a_server_answers_to():
    assert own_hosts("127.0.0.1", 80) == {"127.0.0.1:80", "localhost:80", "[::1]:80"}
    assert "pad.lan:80" in own_hosts("Pad.lan", 80) and "[::1]:80" in own_hosts("::1", 80)
    assert own_hosts("0.0.0.0", 80) is None  # every interface: names unknown, any Host
    assert refusal(None, "192.168.1.5:80", None) is None
    assert refusal(None, "192.168.1.5:80", "http://192.168.1.5:80") is None
    assert refusal(None, "192.168.1.5:80", "http://evil.example").startswith("a page of")


def test_the_dashboard_names_its_command_in_the_line(model, capfd):
    server = _serve(model, command="train")
    try:
        _ask(server, "GET", "/api/events", {"Host": "evil.example"})
    finally:
        server.stop()
    assert capfd.readouterr().err.startswith("xpnn train: refused GET /api/events: Host ")


# -- connections -----------------------------------------------------------------------


def _wait_for(predicate, what, timeout=30.0):
    """Poll ``predicate`` until it holds (the state asserted, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _hung_up(sockets):
    """Those of ``sockets`` the server has closed (a read sees the end)."""
    readable, _, _ = select.select(sockets, [], [], 0.05)
    return [held for held in readable if held.recv(1) == b""]


def test_200_idle_connections_do_not_keep_the_pad_from_answering_within_1_s(server):
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.server_address[1]))
            for _ in range(200)]
    try:
        closed = []  # past the limit, the longest idle is closed: the first ones opened

        def all_past_the_limit_closed():
            closed.extend(_hung_up([held for held in idle if held not in closed]))
            return len(closed) >= 200 - MAX_CONNECTIONS

        _wait_for(all_past_the_limit_closed, f"{200 - MAX_CONNECTIONS} closed by the server")
        assert set(closed) == set(idle[:200 - MAX_CONNECTIONS])
        _wait_for(lambda: threading.active_count() <= threads_before + MAX_CONNECTIONS,
                  f"at most {MAX_CONNECTIONS} connection threads")
        started = time.monotonic()
        status, answer = _ask(server, "POST", "/api/predict",
                              {"Host": f"127.0.0.1:{server.server_address[1]}",
                               "Content-Type": "application/json"}, INK)
        assert status == 200 and time.monotonic() - started < 1.0
    finally:
        for held in idle:
            held.close()


def test_an_idle_connection_is_closed_after_the_idle_time(model):
    server = _serve(model, idle_seconds=0.3)
    try:
        threads_before = threading.active_count()
        with socket.create_connection(("127.0.0.1", server.server_address[1])) as held:
            _wait_for(lambda: threading.active_count() == threads_before + 1, "its thread")
            held.settimeout(10)
            assert held.recv(1) == b""  # the server hung up
        _wait_for(lambda: threading.active_count() == threads_before, "its thread's end")
    finally:
        server.stop()


def test_when_every_connection_is_busy_a_new_one_gets_a_503(model):
    server = _serve(model, max_connections=2)
    port = server.server_address[1]
    streams = []
    try:
        for _ in range(2):  # event streams: busy for as long as they are open
            stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            stream.request("GET", "/api/events")
            assert stream.getresponse().status == 200
            streams.append(stream)
        status, answer = _ask(server, "GET", "/api/model", {"Host": f"127.0.0.1:{port}"})
        assert status == 503 and answer == {"error": "the server is busy; try again"}
    finally:
        server.stop()
        for stream in streams:
            stream.close()
