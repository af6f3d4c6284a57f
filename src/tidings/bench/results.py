"""The result of one workload run, as printed in the table and the JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class IngestResult:
    engine: str
    mode: str
    chats: int
    messages: int  # requested
    acknowledged: int
    persisted: int
    seconds: float
    errors: int
    server_cpu_seconds: float
    senders: int
    workload: str = "ingest"
    db_cpu_seconds: float | None = None  # PostgreSQL backends, when visible in /proc
    client_cpu_seconds: float | None = None  # ws load generators together
    p50_ms: float | None = None
    p99_ms: float | None = None
    avg_batch: float | None = None  # messages per group-commit transaction
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def msgs_per_s(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.server_cpu_seconds, self.acknowledged)

    @property
    def db_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.db_cpu_seconds, self.acknowledged)

    @property
    def client_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.client_cpu_seconds, self.acknowledged)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.persisted == self.acknowledged == self.messages

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(msgs_per_s=round(self.msgs_per_s, 1),
                   server_cpu_us_per_msg=_round(self.server_cpu_us_per_msg),
                   db_cpu_us_per_msg=_round(self.db_cpu_us_per_msg),
                   client_cpu_us_per_msg=_round(self.client_cpu_us_per_msg),
                   seconds=round(self.seconds, 3), ok=self.ok)
        return row


def _per_msg(seconds: float | None, count: int) -> float | None:
    if seconds is None or count <= 0:
        return None
    return seconds * 1e6 / count


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
