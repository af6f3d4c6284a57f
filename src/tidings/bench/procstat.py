"""CPU time of other processes, read from /proc (Linux only; no psutil).

The server under test runs in its own process, and PostgreSQL in its own
backends, so the CPU they spend per message can only be read from outside.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat_fields(pid: int) -> tuple[str, list[str]] | None:
    """(command name, fields after it) of /proc/<pid>/stat, or None if gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may itself contain spaces or ')'.
    head, _, tail = text.rpartition(")")
    return head.partition("(")[2], tail.split()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process (not its children), None if unreadable."""
    parsed = _stat_fields(pid)
    if parsed is None:
        return None
    fields = parsed[1]
    # After the name: state is field 3 of stat(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_cpu_seconds_precise(pid: int) -> float | None:
    """On-CPU time of a process's live threads, in nanoseconds resolution (the
    first field of /proc/<pid>/task/<tid>/schedstat), for intervals too short
    for the 10 ms ticks of ``stat``. Threads that exit in between are lost, so
    use it across intervals where the thread set is stable. Falls back to
    ``process_cpu_seconds`` when schedstat is not available."""
    total = 0
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
        for task in tasks:
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return process_cpu_seconds(pid)
    if not tasks or total == 0:
        return process_cpu_seconds(pid)
    return total / 1e9


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants now (``serve --workers N``: the parent and its
    workers), from /proc/<pid>/task/*/children."""
    found = [pid]
    for current in found:
        try:
            tasks = list((_PROC / str(current) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds_precise(pid: int) -> float | None:
    """``process_cpu_seconds_precise`` summed over ``process_tree(pid)``; None
    when ``pid`` itself is gone."""
    own = process_cpu_seconds_precise(pid)
    if own is None:
        return None
    return own + sum(cpu for child in process_tree(pid)[1:]
                     if (cpu := process_cpu_seconds_precise(child)) is not None)


def cpu_by_name(name: str, precise: bool = False) -> dict[int, float]:
    """CPU seconds of every visible process whose command name is ``name``
    (``precise``: from schedstat, see ``process_cpu_seconds_precise``)."""
    found: dict[int, float] = {}
    if not _PROC.is_dir():
        return found
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        parsed = _stat_fields(int(entry.name))
        if parsed is not None and parsed[0] == name:
            fields = parsed[1]
            cpu = process_cpu_seconds_precise(int(entry.name)) if precise else None
            found[int(entry.name)] = (cpu if cpu is not None
                                      else (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; a process born in between counts whole.
    (A process that exited in between is lost: backends of a pool stay.)"""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class PostgresCpu:
    """CPU of the local PostgreSQL server processes over an interval, when
    they run on this machine; ``None`` when none are visible."""

    def __init__(self, enabled: bool, precise: bool = False) -> None:
        self._enabled = enabled
        self._precise = precise
        self._before: dict[int, float] = {}

    def start(self) -> None:
        if self._enabled:
            self._before = cpu_by_name("postgres", self._precise)

    def stop(self) -> float | None:
        if not self._enabled:
            return None
        after = cpu_by_name("postgres", self._precise)
        return cpu_spent(self._before, after) if after else None


def tree_rss_bytes(pid: int) -> int | None:
    """Resident set sizes summed over ``process_tree(pid)`` (shared pages count
    once per process: an upper bound)."""
    own = process_rss_bytes(pid)
    if own is None:
        return None
    return own + sum(rss for child in process_tree(pid)[1:]
                     if (rss := process_rss_bytes(child)) is not None)


def process_rss_bytes(pid: int) -> int | None:
    """Resident set size (``VmRSS`` of /proc/<pid>/status), None if unreadable."""
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def open_fd_count(pid: int) -> int | None:
    """File descriptors the process holds now, None if unreadable."""
    try:
        return sum(1 for _ in (_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return None


def nofile_limits(pid: int) -> tuple[int, int] | None:
    """(soft, hard) RLIMIT_NOFILE of a process, from /proc/<pid>/limits."""
    try:
        text = (_PROC / str(pid) / "limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            unlimited = 1 << 30
            return (unlimited if soft == "unlimited" else int(soft),
                    unlimited if hard == "unlimited" else int(hard))
    return None


def raise_nofile_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (as far as an
    unprivileged process may); returns the (soft, hard) now in force. Also used
    as the ``preexec_fn`` of the server process."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
