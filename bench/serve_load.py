"""Load on ``xpnn serve``'s POST /api/predict, against 127.0.0.1 only, bounded.

CLIENTS threads each send REQUESTS predictions over one keep-alive connection (reopened
after an answer that closes it); one request in every BAD_EVERY is malformed or oversized
(in turn: not JSON, a wrong-sized ink, an undecodable PNG, a body over the size limit). It
reports the median and p99 latency of the good requests, the count of each status, the
connections that failed (a reset, a refused connection, a timeout), and the server's RSS
after each round: the server runs in a child process (``xpnn serve``) so that its memory is
its own.

    .venv/bin/python bench/serve_load.py [--clients 8] [--requests 500] [--rounds 3]

Exit status 1 if any answer was a 5xx or any connection failed.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HOST = "127.0.0.1"  # never anything else
CANVAS = 280


def good_body(index: int) -> bytes:
    """The page's own call: a 280x280 canvas's alpha bytes holding one of ten digits (the
    first of each class of scikit-learn's digits, drawn large)."""
    return GOOD_BODIES[index % len(GOOD_BODIES)]


def _make_good_bodies():
    import numpy as np
    from sklearn.datasets import load_digits

    from xpnn.serve.drawing import image_to_ink

    digits = load_digits()
    bodies = []
    for label in range(10):
        image = digits.images[int(np.flatnonzero(digits.target == label)[0])]
        alpha = np.round(image_to_ink(image, 16.0, CANVAS) * 255).astype(np.uint8)
        bodies.append(json.dumps({"width": CANVAS, "height": CANVAS,
                                  "ink": base64.b64encode(alpha.tobytes()).decode()}).encode())
    return bodies


GOOD_BODIES = []
# the bad bodies, in turn: (Content-Type, body)
BAD_BODIES = [
    ("application/json", b'{"width": 280, "height": 280, "ink": "not base64!"'),
    ("application/json", json.dumps({"width": 280, "height": 280,
                                     "ink": base64.b64encode(bytes(100)).decode()}).encode()),
    ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(200)),
    ("application/json", b" " * (3 * 1024 * 1024)),  # over the 2 MiB limit
]


def client(port: int, requests: int, bad_every: int, offset: int, results: list):
    """One client's requests, each as (status or the failure's name, seconds, good)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    for number in range(requests):
        bad = (number + offset) % bad_every == bad_every - 1
        kind, body = (BAD_BODIES[(number // bad_every + offset) % len(BAD_BODIES)] if bad
                      else ("application/json", good_body(number + offset)))
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/predict", body, {"Content-Type": kind})
            response = connection.getresponse()
            answer = response.read()
            status = response.status
            if status == 200:
                json.loads(answer)
            if response.will_close:
                connection.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            status = type(exc).__name__
            connection.close()
        results.append((status, time.perf_counter() - started, not bad))
    connection.close()


def run_round(port: int, clients: int, requests: int, bad_every: int) -> dict:
    """One round: ``clients`` threads x ``requests``; statuses, failures, latencies."""
    if not GOOD_BODIES:
        GOOD_BODIES.extend(_make_good_bodies())
    results = []
    threads = [threading.Thread(target=client, args=(port, requests, bad_every, i, results))
               for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    wall = time.perf_counter() - started
    statuses = Counter(status for status, _, _ in results)
    good = sorted(seconds for status, seconds, ok in results if ok and status == 200)
    return {
        "requests": len(results), "statuses": dict(statuses), "wall_seconds": wall,
        "server_errors": sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500),
        "failed_connections": sum(n for s, n in statuses.items() if not isinstance(s, int)),
        "median_ms": 1000 * statistics.median(good) if good else None,
        "p99_ms": 1000 * good[min(len(good) - 1, int(0.99 * len(good)))] if good else None,
    }


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kib = int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))
    return kib / 1024


def start_server(model: Path):
    """``xpnn serve MODEL --port 0`` in a child process; (process, port)."""
    process = subprocess.Popen([sys.executable, "-m", "xpnn", "serve", str(model),
                                "--port", "0", "--host", HOST],
                               stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        process.kill()
        raise SystemExit(f"xpnn serve did not start: {line}{process.stderr.read()}")
    return process, int(match.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="per client, per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bad-every", type=int, default=50)
    parser.add_argument("--model", help="a saved 8x8 digits model (default: train one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(args.model) if args.model else Path(scratch) / "digits.safetensors"
        if not args.model:
            subprocess.run([sys.executable, "-m", "xpnn", "train", "--save", str(model),
                            "--quiet"], check=True)
        process, port = start_server(model)
        failed = False
        try:
            print(f"server pid {process.pid}, RSS {rss_mib(process.pid):.1f} MiB at start")
            for number in range(1, args.rounds + 1):
                result = run_round(port, args.clients, args.requests, args.bad_every)
                result["server_rss_mib"] = round(rss_mib(process.pid), 1)
                print(f"round {number}: {json.dumps(result)}", flush=True)
                failed |= bool(result["server_errors"] or result["failed_connections"])
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"machine: {os.cpu_count()} CPUs; clients {args.clients} x {args.requests} "
          f"requests x {args.rounds} rounds, 1 in {args.bad_every} bad")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
