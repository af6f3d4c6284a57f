"""Chat pts known without a read, where every write passes through this process.

A cached ``message.history`` page is valid while its chat's pts is unchanged
(``services.history_pages``). Reading that pts is one statement per page, and
on SQLite a statement outside a transaction pays the WAL read-lock setup: 5 µs
of a 27 µs cached page, measured. The embedded SQLite profile is one process
(``workers`` > 1 is refused, and ``tidings admin`` writes no chat pts), so
every pts change to the file is made by an engine of this process, which
forgets the chat's entry once the change commits; the next read fills it again.

Entries are shared by the engines open on one file in this process (a test's
second node), and start empty whenever the first of them opens, so a file
restored while closed is never answered from before. PostgreSQL is written by
other nodes as well and always reads the pts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

MAX_ENTRIES = 100_000  # ~10 MB; filled again on demand once cleared


class KnownPts:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._pts: dict[int, int] = {}

    def get(self, chat_id: int) -> int | None:
        return self._pts.get(chat_id)

    def fill(self, chat_id: int, pts: int) -> None:
        """Remember the pts a read saw committed. A change committing meanwhile
        forgets it afterwards (its callback runs after COMMIT returned), so a
        filled value is never older than the last forget."""
        if len(self._pts) >= self._max:
            self._pts.clear()
        self._pts[chat_id] = pts

    def forget(self, chat_ids: Iterable[int]) -> None:
        for chat_id in chat_ids:
            self._pts.pop(chat_id, None)


_open: dict[Path, tuple[KnownPts, int]] = {}  # file -> (its entries, engines open on it)


def acquire(path: Path) -> KnownPts:
    """The entries of the file at ``path``, for an engine opening it."""
    key = path.resolve()
    known, users = _open.get(key, (KnownPts(), 0))
    _open[key] = (known, users + 1)
    return known


def release(path: Path) -> None:
    key = path.resolve()
    known, users = _open[key]
    if users == 1:
        del _open[key]
    else:
        _open[key] = (known, users - 1)
