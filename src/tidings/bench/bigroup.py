"""W4, a large group: ``members`` users in one group, all connected (spread
over ``clients`` generator processes, each spawned as for W1), ``senders``
of them sending ``messages`` in total. At the defaults, 5,000 members x 500
messages = 2.5 million deliveries.

It is W1 at scale, with what scale adds to watch: the server's resident
memory at the end, and the connections it closed as slow consumers (a
member whose push queue overflowed; there should be none).

Per message the hub encodes the push frame once and hands the same bytes to
every member's connection: the per-member work is queueing and writing the
frame, nothing re-encoded or re-checked per member.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from tidings.bench.fanout import FanoutParams, fanout_phase
from tidings.bench.results import FANOUT_COLUMNS, MIB, FanoutResult
from tidings.bench.server_proc import server_process
from tidings.bench.storage import engine_of

SLOW_CLOSES = "tidings_slow_consumer_disconnects_total"
IDLE_TIMEOUT = 30.0  # a 2.5M-delivery run may pause longer than W1's 10 s


@dataclass(frozen=True)
class BigroupParams:
    members: int = 5000
    senders: int = 10
    messages: int = 500
    clients: int = 4
    text_bytes: int = 100

    def fanout(self) -> FanoutParams:
        return FanoutParams(members=self.members, senders=self.senders,
                            messages=self.messages, clients=self.clients,
                            text_bytes=self.text_bytes, idle_timeout=IDLE_TIMEOUT)


@dataclass
class BigroupResult:
    fanout: FanoutResult
    rss_bytes: int  # the server's, after every delivery
    slow_closes: int  # connections the server closed as slow consumers
    workload: str = "bigroup"

    @property
    def ok(self) -> bool:
        return self.fanout.ok and self.slow_closes == 0

    def to_json(self) -> dict[str, Any]:
        row = self.fanout.to_json()
        row.update(workload=self.workload, rss_mib=round(self.rss_bytes / MIB, 1),
                   slow_closes=self.slow_closes, ok=self.ok)
        return row


BIGROUP_COLUMNS: list[tuple[str, str]] = [
    c for c in FANOUT_COLUMNS if c[0] not in ("cpu_vs_reference", "rate_vs_reference")
] + [("rss_mib", "RSS MiB"), ("slow_closes", "slow closes")]


async def run_bigroup(data_dir: Any, database_url: str | None, params: BigroupParams
                      ) -> BigroupResult:
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session) as server):
        result = await fanout_phase(session, server, engine_of(database_url),
                                    params.fanout(), data_dir, prefix="big")
        slow = await server.metric(session, SLOW_CLOSES)
        return BigroupResult(fanout=result, rss_bytes=server.rss_bytes(),
                             slow_closes=int(slow or 0))


def shown(params: BigroupParams) -> dict[str, Any]:
    return asdict(params)
