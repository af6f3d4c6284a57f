"""Builders for the service-level media tests: uploads staged the way the HTTP
layer stages them, media sends, running due jobs, and reading the facts
(file rows, blob rows, counters) that a test asserts on."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs import build_runner
from tidings.media.sniff import SNIFF_BYTES
from tidings.services.container import Services
from tidings.store import chat_media, files
from tidings.testing import RecordingBus

from .helpers import send_text

_staged = itertools.count(1)
_salt = itertools.count(1)

# Minimal headers each kind's sniffer recognises (tests/test_sniff.py covers sniffing).
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


def file_bytes(size: int = 100) -> bytes:
    """Distinct bytes for a kind=file upload (each call differs: its own blob)."""
    head = b"note %d\n" % next(_salt)
    return (head + b"x" * size)[:max(size, len(head))]


def video_bytes(size: int = 200) -> bytes:
    return MP4 + b"%d" % next(_salt) + b"\0" * size


def audio_bytes(size: int = 200) -> bytes:
    return WAV + b"%d" % next(_salt) + b"\0" * size


async def upload(sv: Services, user_id: int, data: bytes, *, kind: str = "file",
                 name: str = "note.txt", mime: str | None = None) -> wire.FileInfo:
    """Stage ``data`` as the HTTP layer does (a file in the staging dir, its
    sha256 and first bytes) and store it."""
    sv.files.staging_dir.mkdir(parents=True, exist_ok=True)
    path = sv.files.staging_dir / f"test-{next(_staged)}"
    path.write_bytes(data)
    return await sv.files.upload(user_id, kind, name, mime, path, len(data),
                                 hashlib.sha256(data).hexdigest(), data[:SNIFF_BYTES])


async def send_file(sv: Services, user_id: int, chat_id: int, info: wire.FileInfo | int, *,
                    kind: str | None = None, text: str | None = None) -> wire.Message:
    file_id = info if isinstance(info, int) else info.file_id
    if kind is None:
        assert not isinstance(info, int)
        kind = info.kind
    return await send_text(sv, user_id, chat_id, text, kind=kind,  # type: ignore[arg-type]
                           file_id=file_id)


async def run_jobs(sv: Services, rounds: int = 20) -> int:
    """Run due jobs until none is due (the expiry sweep reschedules itself at
    once while work remains; a blob deletion it schedules runs a round later)."""
    runner = build_runner(sv)
    total = 0
    for _ in range(rounds):
        done = await runner.run_due()
        if done == 0:
            return total
        total += done
    raise AssertionError(f"jobs still due after {rounds} rounds")


async def file_row(sv: Services, file_id: int) -> files.FileRow:
    async def get_txn(txn: Txn) -> files.FileRow:
        row = await files.get_file_txn(txn, file_id)
        assert row is not None, f"no files row {file_id}"
        return row

    return await sv.db.read("test_file_row", get_txn)


async def count_rows(sv: Services, table: str) -> int:
    async def count_txn(txn: Txn) -> int:
        return int(await txn.fetchval(f"SELECT COUNT(*) FROM {table}"))

    return await sv.db.read("test_count", count_txn)


async def blob_rows(sv: Services) -> list[str]:
    async def rows_txn(txn: Txn) -> list[str]:
        return [r[0] for r in await txn.fetch("SELECT sha256 FROM blobs ORDER BY sha256")]

    return await sv.db.read("test_blobs", rows_txn)


def staged_files(sv: Services) -> list[str]:
    d = sv.files.staging_dir
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


async def counters_match(sv: Services) -> tuple[files.Usage, files.Usage]:
    """(incremental counters, recomputed from files)."""
    async def both_txn(txn: Txn) -> tuple[files.Usage, files.Usage]:
        return await files.usage_counters_txn(txn), await files.usage_from_files_txn(txn)

    return await sv.db.read("test_usage", both_txn)


async def set_entitlement(sv: Services, user_id: int, level: int) -> None:
    async def set_txn(txn: Txn) -> None:
        assert await chat_media.set_entitlement_txn(txn, user_id, level)

    await sv.db.write("test_entitlement", set_txn)


async def set_chat_whitelisted(sv: Services, chat_id: int, on: bool = True) -> None:
    await sv.db.write("test_whitelist", lambda txn: chat_media.set_whitelisted_txn(
        txn, chat_id, on))


# -- published updates ----------------------------------------------------------------

def published(sv: Services) -> RecordingBus:
    """The recording bus, emptied: what it holds next is what the next calls wrote."""
    assert isinstance(sv.bus, RecordingBus)
    sv.bus.events.clear()
    return sv.bus


def chat_updates(bus: RecordingBus, chat_id: int | None = None) -> list[dict[str, Any]]:
    return [u for e in bus.events if isinstance(e, ChatEvent)
            and (chat_id is None or e.chat_id == chat_id)
            for u in wire.decode(e.frame)["updates"]]


def chat_kinds(bus: RecordingBus, chat_id: int | None = None) -> list[str]:
    return [u["kind"] for u in chat_updates(bus, chat_id)]


def user_kinds(bus: RecordingBus) -> list[tuple[int, str]]:
    return [(e.user_id, u["kind"]) for e in bus.events if isinstance(e, UserEvent)
            for u in wire.decode(e.frame)["updates"]]


async def expect(code: ErrorCode, call: Any) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await call
    assert err.value.code is code, err.value
    return err.value
