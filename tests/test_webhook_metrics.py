"""Queue gauges and webhook counters on /metrics, scraped from a real server
whose webhook receiver is down: the outbox depth and its oldest event's age
grow, failed POSTs are counted by outcome, and the background job queue is
reported by kind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tidings.client import Client
from tidings.testing import running_server, test_settings

from .helpers import PASSWORD
from .test_metrics import scrape
from .webhook_receiver import SECRET, receiver


async def test_queue_depth_failures_and_jobs_queued(tmp_path: Path) -> None:
    async with receiver() as rec:
        rec.refuse_all = True
        settings = test_settings(tmp_path, webhook_url=rec.url, webhook_secret=SECRET,
                                 webhook_interval_seconds=0.2, webhook_events=["message.sent"])
        async with running_server(settings) as srv, aiohttp.ClientSession() as s:
            base = f"http://{srv.settings.host}:{srv.port}"
            before = await scrape(s, base)
            async with Client(srv.url) as alice:
                await alice.register("alice", PASSWORD)
                chat = await alice.create_group("Team", [])
                for text in ("one", "two", "three"):
                    await alice.send_text(chat["chat_id"], text)
            async with asyncio.timeout(30):
                await rec.arrived.wait()  # refused at least once
            await srv.queue_metrics.refresh()
            after = await scrape(s, base)
    assert after["tidings_webhook_queue_depth[]"] == 3
    assert after["tidings_webhook_oldest_event_age_seconds[]"] >= 0
    assert after["tidings_webhook_events_failed[]"] == 0
    refused = "tidings_webhook_posts_total[('outcome', '503')]"
    assert after[refused] - before.get(refused, 0.0) >= 1
    queued = {k for k in after if k.startswith("tidings_jobs_queued")}
    assert "tidings_jobs_queued[('kind', 'message_ttl')]" in queued
