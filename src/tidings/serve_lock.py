"""One serving process per SQLite file.

The embedded profile is one process: its bus is in-process, and the node
keeps each chat's pts in memory (``tidings.db.known_pts``) because every
change to the file is its own. A second ``tidings serve`` on the same file
would miss the first one's changes, so it is refused at start. ``tidings
admin`` commands take no lock: they may run beside the server.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ServeLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".serve-lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the lock; raise ``RuntimeError`` if another process serves the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"another tidings serve is using {self.path.with_suffix('')}: the "
                "embedded SQLite profile is one process (PostgreSQL and the redis or "
                "nats bus serve from many)") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
