"""The blob store interface, its errors, and the checks every store shares.

Blobs are content-addressed and immutable: the key is the lowercase hex sha256
of the bytes (``<sha256>.thumb`` for a thumbnail), so writing a key that exists
is a no-op and there is no update. Keys are validated before any path or URL is
built from them, which is what keeps ``../`` out of the store.

    Exception
     ├── LookupError
     │    └── BlobNotFound        the key has no blob (read, size)
     └── BlobStoreUnavailable     the store cannot be used as configured (open)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

DEFAULT_CHUNK_SIZE = 256 * 1024

_KEY = re.compile(r"[0-9a-f]{64}(\.thumb)?")


class BlobNotFound(LookupError):
    """No blob under this key (never written, or deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob {key}")
        self.key = key


class BlobStoreUnavailable(Exception):
    """The store cannot be used as configured: a missing bucket, an unreachable endpoint."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"invalid blob key {key!r}: want lowercase hex sha256, optional .thumb")
    return key


def check_range(start: int, end: int | None, chunk_size: int) -> None:
    """Ranges are [start, end): ``end`` past the blob is clamped and ``start`` at
    or past it gives no bytes (what an HTTP layer needs to answer 416 itself);
    a negative start or an end before the start is a caller's bug."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid range [{start}, {end})")
    if chunk_size <= 0:
        raise ValueError(f"invalid chunk size {chunk_size}")


class BlobStore(Protocol):
    """Where media bytes live. Every method validates the key (``ValueError``)."""

    async def ingest(self, key: str, path: Path) -> None:
        """Make the fully written staged file at ``path`` the blob ``key``.

        The file is consumed whatever happens, so a failed upload never leaves
        staged files behind (the client uploads again). If the blob exists the
        file is only removed: identical bytes share one blob.
        """
        ...

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small blob held in memory (a thumbnail)."""
        ...

    async def size(self, key: str) -> int:
        """The blob's length in bytes; ``BlobNotFound`` if there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    def read(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) in chunks of about ``chunk_size`` (see
        ``check_range``). A missing blob raises ``BlobNotFound`` on the first
        iteration; a bad key or range raises ``ValueError`` at the call."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing one is fine (deletes are retried by jobs)."""
        ...

    async def close(self) -> None: ...
