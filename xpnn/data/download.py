"""MNIST and Fashion-MNIST on disk: the cache, a system copy, or a verified download.

Lookup order for a dataset's four .gz files:
  1. the cache: ``$XPNN_DATA`` (else ``$XDG_CACHE_HOME/xpnn``, else ``~/.cache/xpnn``), one
     subfolder per dataset;
  2. a system copy: ``<dir>/<dataset>`` for each dir in ``SYSTEM_DIRS`` (Debian's
     ``apt-get install dataset-fashion-mnist`` puts Fashion-MNIST in /usr/share/datasets);
  3. a download into the cache, from the mirrors given, then ``$XPNN_MIRRORS``
     (comma-separated base URLs), then ``DEFAULT_MIRRORS``, each file checked
     against ``SHA256`` before it is moved into place (xpnn.files.fileio: temp file, fsync, rename).

Local copies are not re-hashed on every load; the IDX reader checks their structure.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import XpnnDataError, spelled
from ..files.fileio import flush_to_disk, fsync_directory, move_into_place, temp_path_beside
from .idx import find_idx_file, missing_idx_files

DATASET_NAMES = ("mnist", "fashion-mnist")

FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# dataset -> file -> accepted SHA-256 digests of the .gz file.
# MNIST: tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt (the same
# files every MNIST mirror serves; PyTorch's and others' tables agree).
# Fashion-MNIST: first the Debian package's re-compressed copy (dataset-fashion-mnist,
# /usr/share/datasets/fashion-mnist), then the upstream files as listed in
# tensorflow_datasets/url_checksums/fashion_mnist.txt; the pixels inside are the same,
# the gzip wrappers differ.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        "train-labels-idx1-ubyte.gz": (
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    },
}

# dataset -> base URLs that serve the four files, tried after the caller's and $XPNN_MIRRORS
DEFAULT_MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

SYSTEM_DIRS = ("/usr/share/datasets",)  # each holds <dataset>/ with the four files
MIRRORS_ENV = "XPNN_MIRRORS"
CACHE_ENV = "XPNN_DATA"
TIMEOUT_S = 30.0  # per connection attempt / read
CHUNK_BYTES = 1 << 16
# what one mirror can throw at us: refused, DNS, timeout, HTTP status, cut-off body, bad URL
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def default_cache_dir() -> Path:
    """$XPNN_DATA, else $XDG_CACHE_HOME/xpnn, else ~/.cache/xpnn."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg_cache).expanduser() if xdg_cache else Path.home() / ".cache"
    return base / "xpnn"


def mirror_list(dataset: str, mirrors=None) -> list[str]:
    """Base URLs in the order tried: ``mirrors``, then $XPNN_MIRRORS, then the defaults."""
    from_env = [url.strip() for url in os.environ.get(MIRRORS_ENV, "").split(",")]
    ordered = list(mirrors or []) + from_env + list(DEFAULT_MIRRORS.get(dataset, ()))
    unique = []
    for url in ordered:
        if url and url not in unique:
            unique.append(url)
    return unique


def locate_dataset(
    dataset: str,
    *,
    offline: bool = False,
    cache_dir: str | Path | None = None,
    mirrors=None,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
) -> Path:
    """The directory holding ``dataset``'s four IDX files, downloading them if needed.

    ``progress``: show a download bar, only ever when stderr is a terminal (quiet in logs).
    """
    if dataset not in DATASET_NAMES:
        choices = ", ".join(DATASET_NAMES)
        raise XpnnDataError(f"unknown dataset {dataset!r}; choose one of {choices}")
    cached = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cached = cached / dataset
    if not missing_idx_files(cached):
        return cached
    for system_dir in SYSTEM_DIRS:
        system_copy = Path(system_dir) / dataset
        if system_copy.is_dir() and not missing_idx_files(system_copy):
            return system_copy
    looked_in = ", ".join([str(cached)] + [str(Path(d) / dataset) for d in SYSTEM_DIRS])
    if offline:
        raise XpnnDataError(
            f"{dataset} is not on this machine (looked in {looked_in}) and offline mode "
            f"({spelled('offline', True)}) forbids downloading; turn it off, or put the four .gz "
            f"files in {cached}, or pass {spelled('data', 'DIR')} with a local copy"
        )
    show_progress = bool(progress) and sys.stderr is not None and sys.stderr.isatty()
    download_dataset(dataset, cached, mirror_list(dataset, mirrors), show_progress, timeout)
    return cached


def download_dataset(dataset, target_dir: Path, mirrors, show_progress=False, timeout=TIMEOUT_S):
    """Fetch every missing file into ``target_dir``; all-or-nothing, nothing partial left.

    Each file is checked against its known SHA-256 digest before it is moved into place.

    Parameters
    ----------
    dataset : str
        "mnist" or "fashion-mnist".
    target_dir : Path
        The dataset's directory (created if missing; removed again if left empty).
    mirrors : sequence of str
        Base URLs, tried in order.
    show_progress : bool, default=False
        Show a progress bar.
    timeout : float, default=TIMEOUT_S
        Seconds per connection attempt or read.

    Raises
    ------
    XpnnDataError
        When no mirror is given, or no mirror serves a file that matches its digest.
    """
    if not mirrors:
        raise XpnnDataError(
            f"no mirror to download {dataset} from; set {MIRRORS_ENV}=URL[,URL...] or pass "
            f"{spelled('data', 'DIR')} with a local copy"
        )
    created_dir = not target_dir.exists()
    target_dir.mkdir(parents=True, exist_ok=True)
    verified = {}  # final path -> verified temp file
    try:
        for file_name in FILE_NAMES:
            if find_idx_file(target_dir, file_name.removesuffix(".gz")) is not None:
                continue  # already there, raw or .gz (placed by hand, or an earlier run)
            final = target_dir / file_name
            verified[final] = _fetch_verified(
                dataset, file_name, target_dir, mirrors, show_progress, timeout
            )
        for final, temp in verified.items():
            move_into_place(temp, final)
        fsync_directory(target_dir)
    except BaseException:
        for temp in verified.values():
            temp.unlink(missing_ok=True)
        if created_dir:
            _remove_if_empty(target_dir)
        raise


def _fetch_verified(dataset, file_name, target_dir, mirrors, show_progress, timeout) -> Path:
    """Download ``file_name`` from the first mirror whose copy matches a known digest."""
    expected = SHA256[dataset][file_name]
    failures = []
    checksum_failed = False
    for base_url in mirrors:
        url = base_url.rstrip("/") + "/" + file_name
        temp = temp_path_beside(target_dir / file_name, suffix=".part")
        try:
            digest = _download_to(url, temp, show_progress, timeout)
        except NETWORK_ERRORS as exc:
            temp.unlink(missing_ok=True)
            failures.append(f"{url} ({_reason(exc)})")
            continue
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if digest in expected:
            return temp
        temp.unlink(missing_ok=True)
        checksum_failed = True
        failures.append(
            f"{url} (checksum mismatch: expected sha256 {' or '.join(expected)}, got {digest})"
        )
    tried = "; ".join(failures)
    if checksum_failed:
        raise XpnnDataError(
            f"could not get a verified copy of {dataset} {file_name}, nothing was saved. "
            f"Tried: {tried}. A mirror serving different bytes is not trusted; point "
            f"{MIRRORS_ENV} at a good mirror or pass {spelled('data', 'DIR')} with a local copy"
        )
    raise XpnnDataError(
        f"could not download {dataset} {file_name}. Tried: {tried}. To fix: put the four "
        f".gz files in {target_dir} and use {spelled('offline', True)}, or set "
        f"{MIRRORS_ENV}=URL[,URL...] to a reachable mirror, or pass {spelled('data', 'DIR')} "
        f"with a local copy"
    )


def _download_to(url, temp: Path, show_progress, timeout) -> str:
    """Stream ``url`` into ``temp`` (fsynced) and return its SHA-256 hex digest."""
    hasher = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(temp, "wb") as out:
        total = response.headers.get("Content-Length")
        bar = _progress_bar(url, int(total) if total and total.isdigit() else None, show_progress)
        try:
            while chunk := response.read(CHUNK_BYTES):
                hasher.update(chunk)
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        flush_to_disk(out)
    return hasher.hexdigest()


def _progress_bar(url, total_bytes, show_progress):
    if not show_progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety, not a dependency
        return None
    return tqdm(
        total=total_bytes, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
        file=sys.stderr, leave=False,
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
