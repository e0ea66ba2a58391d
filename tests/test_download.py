"""Downloads against a local HTTP server on 127.0.0.1: cache, verify, fail cleanly, offline."""
import functools
import io
import http.server
import socket
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from datagen import sha256_of, write_idx_dir

from xpnn.data import download, load_source
from xpnn.data.download import FILE_NAMES, default_cache_dir, locate_dataset, mirror_list
from xpnn.errors import XpnnDataError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list  # set per server: paths asked for, in order

    def do_GET(self):
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served(tmp_path):
    """(base URL, files' directory, requested paths) for a server over small MNIST-like files."""
    files_dir = tmp_path / "served"
    arrays = write_idx_dir(files_dir, gz=True, n_train=9, n_test=4, seed=7)
    requested = []
    handler = functools.partial(
        type("Handler", (_QuietHandler,), {"requested": requested}), directory=str(files_dir)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", files_dir, requested, arrays
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No default mirrors, no system copies, no env mirrors, cache in tmp: nothing leaks out."""
    monkeypatch.setattr(download, "DEFAULT_MIRRORS", {})
    monkeypatch.setattr(download, "SYSTEM_DIRS", ())
    monkeypatch.delenv("XPNN_MIRRORS", raising=False)
    monkeypatch.setenv("XPNN_DATA", str(tmp_path / "default-cache"))


def _trust(monkeypatch, files_dir, dataset="mnist"):
    """Point the digest table at the generated files."""
    table = {name: (sha256_of(files_dir / name),) for name in FILE_NAMES}
    monkeypatch.setitem(download.SHA256, dataset, table)


def _all_files(directory: Path):
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _forbid_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("offline mode must not open a connection")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_download_lands_in_cache_and_loads(tmp_path, monkeypatch, served):
    base_url, files_dir, requested, arrays = served
    _trust(monkeypatch, files_dir)
    cache = tmp_path / "cache"
    splits = load_source(dataset="mnist", cache_dir=cache, mirrors=[base_url])
    assert _all_files(cache) == sorted(f"mnist/{name}" for name in FILE_NAMES)
    for name in FILE_NAMES:
        assert (cache / "mnist" / name).read_bytes() == (files_dir / name).read_bytes()
    np.testing.assert_array_equal(splits.train.X, arrays["train_images"].reshape(9, -1))
    np.testing.assert_array_equal(splits.test.y, arrays["test_labels"])
    assert splits.train.image_shape == (4, 3)
    assert len(requested) == 4

    again = load_source(dataset="mnist", cache_dir=cache, mirrors=[base_url])  # from the cache
    assert len(requested) == 4
    np.testing.assert_array_equal(again.train.X, splits.train.X)


def test_download_falls_through_to_the_next_mirror(tmp_path, monkeypatch, served):
    base_url, files_dir, _, _ = served
    _trust(monkeypatch, files_dir)
    monkeypatch.setenv("XPNN_MIRRORS", f" {base_url} ")
    directory = locate_dataset("mnist", cache_dir=tmp_path / "c", mirrors=[_closed_port_url()])
    assert directory == tmp_path / "c" / "mnist"
    assert len(_all_files(directory)) == 4


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch, served):
    base_url, files_dir, _, _ = served
    _trust(monkeypatch, files_dir)
    wrong = "0" * 64
    monkeypatch.setitem(download.SHA256["mnist"], "t10k-images-idx3-ubyte.gz", (wrong,))
    cache = tmp_path / "cache"
    url = base_url + "t10k-images-idx3-ubyte.gz"
    with pytest.raises(XpnnDataError) as info:
        locate_dataset("mnist", cache_dir=cache, mirrors=[base_url])
    message = str(info.value)
    assert url in message and "checksum mismatch" in message
    assert wrong in message and sha256_of(files_dir / "t10k-images-idx3-ubyte.gz") in message
    assert "nothing was saved" in message
    assert _all_files(cache) == []  # the verified train files are not kept either, nor temp files
    assert not (cache / "mnist").exists()


def test_unreachable_server_says_what_was_tried_and_how_to_fix(tmp_path):
    dead = _closed_port_url()
    cache = tmp_path / "cache"
    with pytest.raises(XpnnDataError) as info:
        locate_dataset("fashion-mnist", cache_dir=cache, mirrors=[dead, dead + "other/"])
    message = str(info.value)
    assert dead + "train-images-idx3-ubyte.gz" in message
    assert dead + "other/train-images-idx3-ubyte.gz" in message
    for fix in ("offline=True", "XPNN_MIRRORS", 'data="DIR"'):
        assert fix in message
    assert _all_files(cache) == []


def test_http_error_is_reported(tmp_path, monkeypatch, served):
    base_url, files_dir, _, _ = served
    _trust(monkeypatch, files_dir)
    with pytest.raises(XpnnDataError, match="HTTP 404"):
        locate_dataset("mnist", cache_dir=tmp_path / "c", mirrors=[base_url + "missing/"])


def test_no_mirror_at_all(tmp_path):
    with pytest.raises(XpnnDataError, match="no mirror.*XPNN_MIRRORS"):
        locate_dataset("mnist", cache_dir=tmp_path / "c")


def test_offline_with_empty_cache_errors_without_network(tmp_path, monkeypatch, served):
    base_url, _, requested, _ = served
    _forbid_network(monkeypatch)
    with pytest.raises(XpnnDataError) as info:
        load_source(dataset="mnist", offline=True, cache_dir=tmp_path / "c", mirrors=[base_url])
    message = str(info.value)
    assert "mnist is not on this machine" in message and str(tmp_path / "c" / "mnist") in message
    assert "offline=True" in message
    assert requested == []


def test_offline_with_cache_works(tmp_path, monkeypatch):
    arrays = write_idx_dir(tmp_path / "c" / "mnist", gz=False)  # raw files placed by hand
    _forbid_network(monkeypatch)
    splits = load_source(dataset="mnist", offline=True, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(splits.train.y, arrays["train_labels"])


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "env-cache" / "fashion-mnist")
    monkeypatch.setenv("XPNN_DATA", str(tmp_path / "env-cache"))
    _forbid_network(monkeypatch)
    assert locate_dataset("fashion-mnist", offline=True) == tmp_path / "env-cache" / "fashion-mnist"


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XPNN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "xpnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "xpnn"


def test_system_copy_is_used_after_the_cache(tmp_path, monkeypatch):
    arrays = write_idx_dir(tmp_path / "system" / "fashion-mnist", seed=3)
    system_dirs = (str(tmp_path / "nowhere"), str(tmp_path / "system"))
    monkeypatch.setattr(download, "SYSTEM_DIRS", system_dirs)
    _forbid_network(monkeypatch)
    splits = load_source(dataset="fashion-mnist", offline=True, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(splits.test.y, arrays["test_labels"])

    cached = write_idx_dir(tmp_path / "c" / "fashion-mnist", seed=4)  # the cache wins
    splits = load_source(dataset="fashion-mnist", offline=True, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(splits.test.y, cached["test_labels"])


def test_mirror_order_argument_env_defaults(monkeypatch):
    monkeypatch.setattr(download, "DEFAULT_MIRRORS", {"mnist": ("https://d/", "https://a/")})
    monkeypatch.setenv("XPNN_MIRRORS", "https://e1/, https://e2/,,")
    expected = ["https://a/", "https://e1/", "https://e2/", "https://d/"]
    assert mirror_list("mnist", ["https://a/"]) == expected


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, served, capsys):
    base_url, files_dir, _, _ = served
    _trust(monkeypatch, files_dir)
    locate_dataset("mnist", cache_dir=tmp_path / "quiet", mirrors=[base_url], progress=True)
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: no bar

    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    locate_dataset("mnist", cache_dir=tmp_path / "tty", mirrors=[base_url], progress=True)
    assert "train-images-idx3-ubyte.gz" in terminal.getvalue()
    assert _all_files(tmp_path / "tty") == _all_files(tmp_path / "quiet")
