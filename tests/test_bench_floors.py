"""The second round of benches (issue 12): the reference server that fan-out
and history are measured against, the ingest floor, the large group and
fan-out over several workers. Like tests/test_bench.py, these check that each
workload runs and counts correctly, never how fast."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tidings.bench.bigroup import BigroupParams, run_bigroup
from tidings.bench.fanout import FanoutParams, run_fanout
from tidings.bench.history import HistoryParams, run_history
from tidings.bench.ingest_floor import ingest_floor
from tidings.bench.probe import measure
from tidings.bench.service_ingest import ServiceParams, service_ingest
from tidings.config import Settings
from tidings.testing import test_settings

from .conftest import REDIS_URL


async def test_fanout_reference_gets_the_same_load(tmp_path: Path,
                                                   database_url: str | None) -> None:
    params = FanoutParams(members=5, senders=2, messages=20, clients=2, reference=True)
    (result,) = await run_fanout(tmp_path / "data", database_url, params)
    assert result.ok, result.to_json()
    ref = result.reference
    assert ref is not None and ref["engine"] == "reference" and ref["ok"]
    assert ref["delivered"] == ref["expected_deliveries"] == 5 * 20
    assert (ref["missing"], ref["duplicates"]) == (0, 0)
    assert result.cpu_vs_reference is not None and result.rate_vs_reference is not None


async def test_history_reference_answers_every_page(tmp_path: Path,
                                                    database_url: str | None) -> None:
    params = HistoryParams(messages=150, readers=2, clients=1, page=50, passes=2,
                           duration=None, reference=True)
    result = await run_history(tmp_path / "data", database_url, params)
    assert result.ok, result.to_json()
    ref = result.reference
    assert ref is not None and ref["ok"]
    # each complete pass saw exactly the chat's messages, in descending pages
    assert ref["pages"] == ref["expected_pages"] == 2 * 2 * 3 and ref["bad_passes"] == 0


async def test_bigroup_delivers_everything_without_slow_closes(
        tmp_path: Path, database_url: str | None) -> None:
    params = BigroupParams(members=12, senders=3, messages=15, clients=2)
    result = await run_bigroup(tmp_path / "data", database_url, params)
    assert result.ok, result.to_json()
    assert result.fanout.delivered == 12 * 15 and result.slow_closes == 0
    assert result.rss_bytes > 0


async def test_ingest_floor_copies_every_row_of_the_run(tmp_path: Path,
                                                        database_url: str | None) -> None:
    data_dir = tmp_path / "data"
    service = await service_ingest(data_dir, database_url,
                                   ServiceParams(messages=300, chats=2, senders=3, inflight=50))
    floor = await ingest_floor(test_settings(data_dir, database_url), 2, service)
    # every row the run stored (its messages and the groups' creation notices)
    assert floor.mode == "floor" and floor.errors == 0
    assert floor.persisted >= service.persisted == 300
    service.floor_msgs_per_s = floor.msgs_per_s
    assert service.vs_floor is not None and service.vs_floor > 0
    # the floor's CPU, PostgreSQL's included, read while its backend still ran
    assert (floor.db_cpu_seconds is not None) == (database_url is not None)
    service.floor_cpu_us_per_msg = floor.total_cpu_us_per_msg
    assert service.cpu_vs_floor is not None and service.cpu_vs_floor > 0
    # ... and their search index rows, the same messages with the same terms
    indexed, copied = await _index_rows(test_settings(data_dir, database_url))
    assert len(indexed) >= 300 and copied == indexed



async def test_fanout_over_two_workers(tmp_path: Path, pg_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_REDIS_URL", REDIS_URL)  # the server inherits it
    params = FanoutParams(members=8, senders=2, messages=20, clients=2, workers=2)
    (result,) = await run_fanout(tmp_path / "data", pg_url, params)
    assert result.ok, result.to_json()
    assert result.workers == 2 and result.delivered == 8 * 20


def test_machine_floor_probe() -> None:
    floor = measure()
    assert floor.loopback_send_us > 0 and floor.syscall_us >= 0
    assert "syscall" in floor.line()

async def _index_rows(settings: Settings) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What tidings' search index and the floor's copy of it hold."""
    if settings.database_url is None:
        conn = sqlite3.connect(settings.sqlite_path)
        try:
            def rows(prefix: str) -> list[tuple[Any, ...]]:
                # Contentless FTS5 keeps no terms: the docs a word of the bench's
                # text finds, with the chat and message each maps to.
                return sorted(conn.execute(
                    f"SELECT d.doc_id, d.chat_id, d.msg_id FROM {prefix}_search_docs d"
                    f" JOIN {prefix}_search_terms f ON f.rowid = d.doc_id"
                    f" WHERE {prefix}_search_terms MATCH 'fox'").fetchall())
            return rows("message"), rows("floor")
        finally:
            conn.close()
    conn = await asyncpg.connect(settings.database_url)
    try:
        query = "SELECT chat_id, msg_id, terms::text FROM {} ORDER BY 1, 2"
        return ([tuple(r) for r in await conn.fetch(query.format("message_search"))],
                [tuple(r) for r in await conn.fetch(query.format("floor_search"))])
    finally:
        await conn.close()
