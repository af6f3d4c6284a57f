"""The two outputs of a bench run: a table for people, JSON for the record."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class Row(Protocol):
    def to_json(self) -> dict[str, Any]: ...


_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("mode", "mode"), ("chats", "chats"), ("messages", "msgs"),
    ("acknowledged", "acked"), ("persisted", "stored"), ("seconds", "s"),
    ("msgs_per_s", "msgs/s"), ("server_cpu_us_per_msg", "srv µs/msg"),
    ("db_cpu_us_per_msg", "db µs/msg"), ("client_cpu_us_per_msg", "cli µs/msg"),
    ("avg_batch", "batch"), ("vs_floor", "x floor"),
    ("cpu_vs_floor", "cpu x floor"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
    ("errors", "errors"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(results: Sequence[Row], columns: Sequence[tuple[str, str]] = _COLUMNS
                 ) -> str:
    """One row per result, ``columns`` as (JSON key, heading) pairs."""
    rows = [[h for _, h in columns]]
    for r in results:
        row = r.to_json()
        rows.append([_cell(row.get(key)) for key, _ in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The commit of the code under test (``+dirty`` when the tree has changes)."""
    repo = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def machine(versions: dict[str, str]) -> dict[str, Any]:
    """The machine and code of a run, with its floor (printed as one line too:
    figures from two machines compare only next to it)."""
    from tidings.bench.probe import measure

    floor = measure()
    print(floor.line(), file=sys.stderr)
    return {"nproc": os.cpu_count(), "cpu": cpu_model(), "floor": floor.to_json(),
            "python": platform.python_version(), "commit": git_commit(), **versions}


def to_json(workload: str, results: Sequence[Row], machine_info: dict[str, Any],
            options: dict[str, Any]) -> str:
    document = {"workload": workload, "machine": machine_info, "options": options,
                "results": [r.to_json() for r in results]}
    return json.dumps(document, indent=2, sort_keys=False)
