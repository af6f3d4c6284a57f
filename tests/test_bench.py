"""Smoke tests of ``tidings bench``: every workload runs on tiny counts on
both engines and counts correctly (ingest stores every acknowledged message,
fan-out delivers each message once to every member, catch-up recovers exactly
what was missed, history readers see every message once per pass, idle
connections are all held). No timing is asserted: figures come from
the bench command on a named machine (docs/benchmarks.md), never from tests."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tidings.bench.catchup import CatchupParams, run_catchup
from tidings.bench.connections import ConnectionsParams, run_connections
from tidings.bench.fanout import BusChoice, FanoutParams, run_fanout
from tidings.bench.history import HistoryParams, run_history
from tidings.bench.results import IngestResult
from tidings.bench.service_ingest import ServiceParams, service_ingest
from tidings.bench.ws_ingest import WsParams, ws_ingest
from tidings.cli import main

from .conftest import REDIS_URL

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
    assert [(r["mode"], r["chats"]) for r in rows] == [("service", 2), ("floor", 2), ("ws", 2)]
    service, floor, ws = rows
    assert all(r["ok"] and r["persisted"] == 40 for r in (service, ws))
    # the floor copies every row the service run stored (the groups' notices too)
    assert floor["ok"] and floor["persisted"] >= 40
    assert service["vs_floor"] is not None
    assert "msgs/s" in out.output and "x floor" in out.output


# -- fanout, catchup, history, connections: tiny runs, correctness only -----------

async def test_fanout_delivers_every_message_once(tmp_path: Path,
                                                  database_url: str | None) -> None:
    [result] = await run_fanout(tmp_path / "data", database_url,
                                FanoutParams(members=5, senders=2, messages=20, clients=2))
    assert result.engine == engine_name(database_url)
    assert result.errors == 0, result.error_codes
    assert result.acknowledged == 20
    assert (result.missing, result.duplicates, result.unparsed) == (0, 0, 0)
    assert result.delivered == result.expected_deliveries == 5 * 20
    assert result.ok


async def test_fanout_over_three_nodes_next_to_one(tmp_path: Path, pg_url: str) -> None:
    bus = BusChoice("redis", REDIS_URL)
    three, one = await run_fanout(
        tmp_path / "data", pg_url, FanoutParams(members=6, senders=3, messages=30, clients=2,
                                                nodes=3), bus, versus_one=True)
    assert (three.nodes, one.nodes) == (3, 1)
    for result in (three, one):
        assert result.errors == 0, result.error_codes
        assert (result.missing, result.duplicates) == (0, 0)
        assert result.delivered == result.expected_deliveries == 6 * 30
        assert result.ok


async def test_catchup_recovers_every_missed_message(tmp_path: Path,
                                                     database_url: str | None) -> None:
    result = await run_catchup(tmp_path / "data", database_url,
                               CatchupParams(messages=50, repeats=2))
    assert [(r.messages, r.caught_up, r.too_long) for r in result.rounds] == [(50, True, False)] * 2
    assert result.requests == 2  # auth.token and one sync.get_difference
    assert result.ok


async def test_catchup_pages_history_when_too_long(tmp_path: Path) -> None:
    result = await run_catchup(tmp_path / "data", None,
                               CatchupParams(messages=50, repeats=1, limit=10))
    (round_,) = result.rounds
    assert round_.too_long and round_.caught_up and round_.messages == 50


async def test_history_readers_page_through_the_whole_chat(tmp_path: Path,
                                                           database_url: str | None) -> None:
    params = HistoryParams(messages=200, readers=2, clients=2, passes=2, duration=None)
    result = await run_history(tmp_path / "data", database_url, params)
    assert result.errors == 0, result.error_codes
    assert result.passes == 4 and result.bad_passes == 0
    assert result.pages == result.expected_pages == 2 * 2 * 4
    assert result.ok


async def test_connections_are_held_and_fanout_runs_beside_them(
        tmp_path: Path, database_url: str | None) -> None:
    params = ConnectionsParams(connections=20, users=3, clients=2,
                               w1=FanoutParams(members=5, senders=2, messages=20, clients=1))
    result = await run_connections(tmp_path / "data", database_url, params)
    assert (result.planned, result.held, result.online, result.dropped) == (20, 20, 20, 0)
    assert result.failed == {} and result.limited_by is None
    assert result.rss_after_bytes > 0 and result.rss_before_bytes > 0
    assert result.w1 is not None and result.w1.ok and result.w1.missing == 0
    assert result.ok


def test_new_workloads_are_bench_commands(tmp_path: Path) -> None:
    for name, options in [("fanout", ("--members", "--senders", "--messages", "--clients")),
                          ("catchup", ("--messages", "--repeats", "--limit")),
                          ("history", ("--readers", "--page", "--duration", "--passes")),
                          ("connections", ("--connections", "--users", "--clients"))]:
        out = CliRunner().invoke(main, ["bench", name, "--help"])
        assert out.exit_code == 0, out.output
        for option in ("--engine", "--json", *options):
            assert option in out.output, (name, option)


def test_fanout_command_prints_table_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "fanout.json"
    out = CliRunner().invoke(main, ["bench", "fanout", "--members", "4", "--senders", "2",
                                    "--messages", "10", "--clients", "1", "--json", str(path)])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(path.read_text())["results"]
    assert row["ok"] and row["missing"] == row["duplicates"] == 0
    assert row["delivered"] == 40
    assert "dlv p50" in out.output


async def test_reads_marks_every_cursor_over_the_wire(tmp_path: Path,
                                                      database_url: str | None) -> None:
    from tidings.bench.reads import ReadsParams, run_reads

    params = ReadsParams(members=300, messages=2_000, service_marks=60, ws_users=4,
                         ws_marks=40, window=4)
    result = await run_reads(tmp_path / "data", database_url, params)
    assert result.engine == engine_name(database_url)
    assert (result.ws_acknowledged, result.ws_expected) == (40, 40)
    assert result.cursors_ok and result.ok
    assert result.memory_kb == "6.0 | 8.4"  # 300 members: 20 and 28 bytes each
