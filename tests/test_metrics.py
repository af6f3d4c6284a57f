"""/metrics (issue 11, item 4): RPC calls and their latency by method and
outcome, open connections by transport, and the bus's publish-to-deliver lag,
scraped from a real server and parsed as Prometheus text."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tidings.api.rpc_metrics import BOUNDS, RpcStats
from tidings.client import Client, TidingsClientError
from tidings.testing import running_server, test_settings

from .conftest import REDIS_URL
from .helpers import PASSWORD


def test_rpc_stats_buckets_are_cumulative_and_inclusive() -> None:
    stats = RpcStats()
    for seconds in (0.0001, BOUNDS[0], 0.003, 7.0):
        stats.observe("message.send", "ok", seconds)
    stats.observe("message.send", "FORBIDDEN", 0.002)
    families = {f.name: f for f in stats.collect()}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    ok = (("le", "0.0005"), ("method", "message.send"), ("code", "ok"))
    assert samples[("tidings_rpc_duration_seconds_bucket", tuple(sorted(ok)))] == 2
    inf = tuple(sorted((("le", "+Inf"), ("method", "message.send"), ("code", "ok"))))
    assert samples[("tidings_rpc_duration_seconds_bucket", inf)] == 4
    assert samples[("tidings_requests_total", (("method", "message.send"),
                                                ("outcome", "FORBIDDEN")))] == 1
    assert stats.count("message.send", "ok") == 4


async def scrape(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return {f"{s.name}{sorted(s.labels.items())}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_calls_latency_connections_and_bus_lag(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, bus="redis", redis_url=REDIS_URL,
                             bus_channel_prefix=f"metrics-{tmp_path.name}")
    async with running_server(settings) as srv, aiohttp.ClientSession() as s:
        base = f"http://{srv.settings.host}:{srv.port}"
        before = await scrape(s, base)
        async with Client(srv.url) as alice:
            await alice.register("alice", PASSWORD)
            chat = await alice.create_group("Team", [])
            await alice.send_text(chat["chat_id"], "hello")
            await alice.history(chat["chat_id"])
            await alice.history(chat["chat_id"])
            try:
                await alice.call("chat.get", {"chat_id": 10**9})
            except TidingsClientError as exc:
                assert exc.code == "CHAT_NOT_FOUND"
            during = await scrape(s, base)
        after = await scrape(s, base)

    def delta(key: str) -> float:
        return during.get(key, 0.0) - before.get(key, 0.0)

    sent = "[('method', 'message.send'), ('outcome', 'ok')]"
    assert delta(f"tidings_requests_total{sent}") == 1
    missing = "[('method', 'chat.get'), ('outcome', 'CHAT_NOT_FOUND')]"
    assert delta(f"tidings_requests_total{missing}") == 1
    latency = "[('code', 'ok'), ('le', '+Inf'), ('method', 'message.send')]"
    assert delta(f"tidings_rpc_duration_seconds_bucket{latency}") == 1
    assert delta("tidings_rpc_duration_seconds_count[('code', 'ok'), "
                 "('method', 'message.send')]") == 1
    # Transactions by name: the two history reads, each timed once.
    assert delta("tidings_db_txn_seconds_count[('name', 'message_history')]") == 2
    ws = "tidings_connections[('transport', 'ws')]"
    assert during[ws] - after[ws] == 1  # alice's connection, closed again
    # The send went out on Redis and came back: one more lag observation at least.
    assert delta("tidings_bus_lag_seconds_count[]") >= 1
