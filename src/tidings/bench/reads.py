"""``tidings bench reads``: the read index of a 10,000-member chat with
100,000 messages and cursors spread over them (in process), and ``read.mark``
through the service layer on a real database."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidings.clock import SystemClock
from tidings.services.read_index import ChatReads
from tidings.testing import postgres_schema, service_harness, test_settings


def _per_call(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def index_figures(members: int = 10_000, messages: int = 100_000, seed: int = 9
                  ) -> dict[str, Any]:
    rnd = random.Random(seed)
    rows = []
    for user in range(1, members + 1):
        joined = rnd.choice((1, 1, 1, rnd.randint(1, messages)))
        rows.append((user, joined, rnd.randint(joined - 1, messages),
                     1_800_000_000 + rnd.randint(0, 86_400)))
    start = time.perf_counter()
    reads = ChatReads(rows)
    build = time.perf_counter() - start
    ids = [rnd.randint(1, messages) for _ in range(100)]
    old, recent = messages // 10, messages - 50
    return {
        "members": members, "messages": messages,
        "build_ms": round(build * 1e3, 2),
        "memory_kb": round(reads.nbytes() / 1e3, 1),
        "one_count_us": round(_per_call(lambda: reads.count(ids[0]), 20_000) * 1e6, 2),
        "hundred_counts_us": round(_per_call(
            lambda: [reads.count(m) for m in ids], 2_000) * 1e6, 1),
        "readers_50_recent_us": round(_per_call(
            lambda: reads.readers(recent, 50, None), 200) * 1e6, 1),
        "readers_50_old_us": round(_per_call(
            lambda: reads.readers(old, 50, None), 50) * 1e6, 1),
        "apply_read_us": round(_per_call(
            lambda: reads.apply(rnd.randint(1, members), messages, 1_800_090_000), 2_000)
            * 1e6, 1),
    }


async def mark_figures(database_url: str | None, members: int = 200, marks: int = 5_000,
                       concurrency: int = 1) -> dict[str, Any]:
    """``read.mark`` throughput through the service layer, one member per call."""
    from tidings.services.messages import SendRequest

    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        if database_url is not None:  # a schema of its own, dropped after
            database_url = await stack.enter_async_context(postgres_schema(database_url))
        settings = test_settings(Path(tmp), database_url)
        async with service_harness(settings, SystemClock()) as sv:
            users = [(await sv.auth.register(f"reader{i}", "password-1234", None)).user_id
                     for i in range(members)]
            chat = await sv.chats.create(users[0], "group", "bench", users[1:])
            top = 0
            for i in range(marks // members + 2):
                top = (await sv.messages.send(SendRequest(
                    user_id=users[0], chat_id=chat.chat_id, local_id=f"b{i}",
                    text="x"))).msg_id
            await sv.reads.receipts(users[0], chat.chat_id, [top])  # index loaded
            async def worker(w: int) -> None:
                for i in range(w, marks, concurrency):
                    await sv.reads.mark(users[i % members], chat.chat_id, 2 + i // members)

            start = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            took = time.perf_counter() - start
            return {"engine": "postgres" if database_url else "sqlite",
                    "concurrency": concurrency, "marks_per_s": round(marks / took)}
