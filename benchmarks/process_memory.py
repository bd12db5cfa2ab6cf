"""Memory of a process tree sampled from ``/proc`` while a benchmark runs it (Linux only).

Shared by the benchmarks that run a reduction in a child process: the
resident set of the process and all its descendants (worker processes
included), of the main process alone, and optionally the proportional set
size of the tree (pages shared between processes counted once).
"""

from __future__ import annotations

import datetime
import os
import threading

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` of every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _tree(root: int) -> list[int]:
    children = _children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants (shared pages counted in each)."""
    return sum(_rss_bytes(pid) for pid in _tree(root))


def tree_pss(root: int) -> int:
    """Proportional set size of a process tree: its physical memory, shared pages once.

    Worker processes forked from one server share the pages of the modules
    it imported; the sum of their RSS counts those pages once per process.
    """
    return sum(_pss_bytes(pid) for pid in _tree(root))


class MemorySampler(threading.Thread):
    """Samples the RSS of a process tree (and of its root, and its PSS) until stopped."""

    def __init__(self, pid: int, interval: float = 0.05, pss: bool = True) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.pss = pss
        self.peak = 0
        self.pss_peak = 0
        self.parent_peak = 0
        self.series: list[tuple[datetime.datetime, int]] = []
        self.parent_series: list[tuple[datetime.datetime, int]] = []
        self._stop_event = threading.Event()

    @property
    def samples(self) -> int:
        return len(self.series)

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = datetime.datetime.now()
            rss = tree_rss(self.pid)
            if self.pss:
                self.pss_peak = max(self.pss_peak, tree_pss(self.pid))
            parent = _rss_bytes(self.pid)
            self.peak = max(self.peak, rss)
            self.parent_peak = max(self.parent_peak, parent)
            self.series.append((now, rss))
            self.parent_series.append((now, parent))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
