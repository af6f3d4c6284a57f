"""Smoke test of ``tidings bench expiry`` on tiny counts, both engines: the
sweeper expires every file it loaded and writes one ``media.expired`` update
per (file, chat showing it). No timing is asserted."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tidings import wire
from tidings.bench.expiry import ExpiryParams, expected_updates, load, run_expiry, sweep
from tidings.bus.local import LocalBus
from tidings.cli import main
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.testing import service_harness, test_settings

PARAMS = ExpiryParams(files=230, chats=7, uploaders=5, forward_every=10, load_batch=50)


async def _updates_txn(txn: Txn) -> list[tuple[int, int, list[int]]]:
    rows = await txn.fetch("SELECT chat_id, payload FROM chat_updates"
                           " WHERE kind = 'media.expired' ORDER BY chat_id, pts")
    return [(int(r[0]), int(p["file_id"]), list(p["msg_ids"]))
            for r in rows for p in [wire.decode(r[1])]]


async def _shown_txn(txn: Txn) -> list[tuple[int, int, int]]:
    rows = await txn.fetch("SELECT chat_id, file_id, msg_id FROM messages"
                           " WHERE file_id IS NOT NULL ORDER BY chat_id, msg_id")
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def _statuses_txn(txn: Txn) -> list[tuple[str, int]]:
    rows = await txn.fetch("SELECT status, COUNT(*) FROM files GROUP BY status")
    return [(r[0], int(r[1])) for r in rows]


async def test_the_sweep_expires_every_file_once_in_every_chat(
        tmp_path: Path, database_url: str | None) -> None:
    clock = FakeClock()
    settings = test_settings(tmp_path / "data", database_url, media_expiry_batch_size=16)
    async with service_harness(settings, clock, LocalBus()) as sv:
        await load(sv, PARAMS, clock.now())
        transactions, _, _ = await sweep(sv, clock.now())
        assert transactions >= PARAMS.files // 16
        assert await sv.db.read("t", _statuses_txn) == [("expired", PARAMS.files)]
        shown = await sv.db.read("t", _shown_txn)
        announced = await sv.db.read("t", _updates_txn)
    expected = sorted((chat, file_id, [msg]) for chat, file_id, msg in shown)
    assert sorted(announced) == expected  # each (file, chat) once, with its message
    assert len(expected) == expected_updates(PARAMS) == 253  # 230 files, 23 forwarded
    assert {file_id for _, file_id, _ in expected} == set(range(1, PARAMS.files + 1))


async def test_run_expiry_counts(tmp_path: Path, database_url: str | None) -> None:
    result = await run_expiry(tmp_path / "data", database_url, PARAMS)
    assert (result.engine, result.files, result.expired) == (
        "postgres" if database_url else "sqlite", 230, 230)
    assert result.updates == result.expected_updates == 253
    assert result.ok and result.transactions >= 1


def test_bench_expiry_is_a_tidings_command() -> None:
    out = CliRunner().invoke(main, ["bench", "expiry", "--help"])
    assert out.exit_code == 0
    for option in ("--engine", "--files", "--chats", "--database-url", "--json"):
        assert option in out.output
