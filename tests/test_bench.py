"""Smoke test of ``tidings bench ingest``: both modes run on tiny counts on
both engines and count correctly. No timing is asserted: figures come from
the bench command on a named machine (docs/benchmarks.md), never from tests."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tidings.bench.results import IngestResult
from tidings.bench.service_ingest import ServiceParams, service_ingest
from tidings.bench.ws_ingest import WsParams, ws_ingest
from tidings.cli import main

MESSAGES = 300


def assert_counts(result: IngestResult, engine: str, mode: str) -> None:
    assert (result.engine, result.mode, result.chats) == (engine, mode, 2)
    assert result.errors == 0, result.error_codes
    assert result.messages == result.acknowledged == result.persisted == MESSAGES
    assert result.ok


def engine_name(database_url: str | None) -> str:
    return "postgres" if database_url else "sqlite"


async def test_service_ingest_stores_every_message(tmp_path: Path,
                                                   database_url: str | None) -> None:
    result = await service_ingest(tmp_path / "data", database_url,
                                  ServiceParams(messages=MESSAGES, chats=2, senders=3,
                                                inflight=50))
    assert_counts(result, engine_name(database_url), "service")
    assert result.avg_batch is not None and result.avg_batch >= 1


async def test_ws_ingest_stores_every_acknowledged_message(tmp_path: Path,
                                                           database_url: str | None) -> None:
    result = await ws_ingest(tmp_path / "data", database_url,
                             WsParams(messages=MESSAGES, chats=2, clients=1, connections=1,
                                      window=16))
    assert_counts(result, engine_name(database_url), "ws")
    assert result.p50_ms is not None and result.p99_ms is not None
    assert result.server_cpu_seconds >= 0


def test_bench_is_a_tidings_command() -> None:
    out = CliRunner().invoke(main, ["bench", "ingest", "--help"])
    assert out.exit_code == 0
    for option in ("--engine", "--messages", "--chats", "--mode", "--clients", "--window",
                   "--connections", "--json"):
        assert option in out.output


def test_ingest_command_prints_table_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "ingest.json"
    out = CliRunner().invoke(main, ["bench", "ingest", "--engine", "sqlite", "--messages", "40",
                                    "--chats", "2", "--clients", "1", "--connections", "2",
                                    "--senders", "2", "--json", str(path)])
    assert out.exit_code == 0, out.output
    document = json.loads(path.read_text())
    rows = document["results"]
    assert [(r["mode"], r["chats"]) for r in rows] == [("service", 2), ("ws", 2)]
    assert all(r["ok"] and r["persisted"] == 40 for r in rows)
    assert "msgs/s" in out.output
