"""``tidings bench ingest`` and ``fanout`` over every transport and codec:
tiny runs, correctness only (no figures are asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tidings.cli import main

COMBOS = ["ws+json", "ws+msgpack", "tcp+json", "tcp+msgpack"]


def test_ingest_runs_over_every_transport_and_codec(tmp_path: Path) -> None:
    path = tmp_path / "ingest.json"
    out = CliRunner().invoke(main, ["bench", "ingest", "--engine", "sqlite", "--mode", "ws",
                                    "--transport", "all", "--codec", "all", "--messages", "40",
                                    "--chats", "2", "--clients", "1", "--connections", "2",
                                    "--json", str(path)])
    assert out.exit_code == 0, out.output
    rows = json.loads(path.read_text())["results"]
    assert [r["mode"] for r in rows] == ["ws", "ws+msgpack", "tcp+json", "tcp+msgpack"]
    assert all(r["ok"] and r["persisted"] == r["acknowledged"] == 40 for r in rows)


def test_fanout_runs_over_every_transport_and_codec(tmp_path: Path) -> None:
    path = tmp_path / "fanout.json"
    out = CliRunner().invoke(main, ["bench", "fanout", "--members", "4", "--senders", "2",
                                    "--messages", "10", "--clients", "1", "--transport", "all",
                                    "--codec", "all", "--json", str(path)])
    assert out.exit_code == 0, out.output
    rows = json.loads(path.read_text())["results"]
    assert [r["transport"] for r in rows] == COMBOS
    assert all(r["ok"] and r["delivered"] == 40 and r["missing"] == r["duplicates"] == 0
               for r in rows)
    assert "tcp+msgpack" in out.output
