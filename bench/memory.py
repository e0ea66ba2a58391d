"""Peak memory of a block of code, measured by the kernel: what a fit adds to a process.

``PeakMemory`` resets the process's high-water mark (``/proc/self/clear_refs``, Linux) and
samples anonymous memory (``RssAnon``: heap and NumPy buffers, not files mapped from disk
such as a memmap's pages) every millisecond in a thread; on exit it holds the peaks above
the level at entry, in bytes. Sampling can miss a peak shorter than a millisecond; the
high-water mark (``VmHWM``, resident memory of every kind) cannot.
"""
from __future__ import annotations

import threading
from pathlib import Path

STATUS = Path("/proc/self/status")


def status_bytes(field: str) -> int:
    """One ``/proc/self/status`` field (kB there) in bytes."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """with PeakMemory() as peak: ...; then peak.anon_bytes, peak.rss_bytes (above entry)."""

    def __init__(self, interval_s: float = 0.001):
        self.interval_s = interval_s
        self.anon_bytes = self.rss_bytes = 0

    def __enter__(self):
        self.anon_start, self.rss_start = status_bytes("RssAnon"), status_bytes("VmRSS")
        self.hwm_reset = reset_high_water_mark()
        self.anon_peak = self.anon_start
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(self.interval_s):
            self.anon_peak = max(self.anon_peak, status_bytes("RssAnon"))

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.anon_peak = max(self.anon_peak, status_bytes("RssAnon"))
        self.anon_bytes = self.anon_peak - self.anon_start
        hwm = status_bytes("VmHWM") if self.hwm_reset else status_bytes("VmRSS")
        self.rss_bytes = max(0, hwm - self.rss_start)
        return False
