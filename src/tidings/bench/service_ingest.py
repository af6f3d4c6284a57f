"""Ingest through the service layer, in one process, no network.

This is the store + group-commit path alone: requests are built up front,
then submitted with a bounded number in flight so that the committer always
has a full queue to batch. The clock runs from the first submit to the last
acknowledgement; the count of rows afterwards proves every ack was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY

from tidings.bench import plan as p
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import IngestResult
from tidings.bench.storage import count_messages, engine_of
from tidings.bus.local import LocalBus
from tidings.clock import SystemClock
from tidings.config import Settings
from tidings.errors import TidingsError
from tidings.gc_tuning import tuned_for_serving
from tidings.services.container import Services
from tidings.services.messages import SendRequest
from tidings.testing import service_harness, test_settings

MAX_IDS_PER_CALL = 200  # Settings.max_user_ids_per_call default


@dataclass(frozen=True)
class ServiceParams:
    messages: int
    chats: int
    senders: int = 64
    inflight: int = 2000


def bench_services(settings: Settings) -> contextlib.AbstractAsyncContextManager[Services]:
    """Services as ``TidingsServer`` builds them, minus the socket: the system
    clock and a plain local bus (the recording bus would keep every frame)."""
    return service_harness(settings, SystemClock(), LocalBus())


async def create_users(sv: Services, names: list[str]) -> list[int]:
    return [(await sv.auth.register(n, p.PASSWORD, "bench")).user_id for n in names]


async def create_chats(sv: Services, plan: p.Plan, senders: list[int], listeners: list[int]
                       ) -> list[int]:
    """One group per plan chat, owned by its first sender; returns chat ids by plan index."""
    chat_ids = []
    for chat in range(plan.chats):
        members = [senders[s] for s in plan.senders_of_chat(chat)] + listeners
        owner, first, rest = members[0], members[1:MAX_IDS_PER_CALL], members[MAX_IDS_PER_CALL:]
        created = await sv.chats.create(owner, "group", f"bench {chat}", first)
        for start in range(0, len(rest), MAX_IDS_PER_CALL):
            await sv.chats.add_members(owner, created.chat_id,
                                       rest[start:start + MAX_IDS_PER_CALL])
        chat_ids.append(created.chat_id)
    return chat_ids


def build_requests(plan: p.Plan, senders: list[int], chat_ids: list[int]) -> list[SendRequest]:
    """All requests, senders interleaved the way concurrent clients would be."""
    per_sender = [_sender_requests(plan, s, senders[s], chat_ids) for s in range(plan.senders)]
    out: list[SendRequest] = []
    for round_ in range(max((len(r) for r in per_sender), default=0)):
        out += [r[round_] for r in per_sender if round_ < len(r)]
    return out


def _sender_requests(plan: p.Plan, sender: int, user_id: int, chat_ids: list[int]
                     ) -> list[SendRequest]:
    own = [chat_ids[c] for c in plan.chats_of_sender(sender)]
    return [SendRequest(user_id=user_id, chat_id=own[i % len(own)],
                        local_id=p.local_id(sender, i), text=p.TEXT)
            for i in range(plan.messages_of_sender(sender))]


class Tally:
    def __init__(self) -> None:
        self.acked = 0
        self.errors: Counter[str] = Counter()


async def submit_all(sv: Services, requests: list[SendRequest], inflight: int) -> Tally:
    """Send everything with at most ``inflight`` awaiting an ack; workers share
    one iterator, so each request is sent exactly once."""
    tally = Tally()
    pending: Iterator[SendRequest] = iter(requests)

    async def worker() -> None:
        for req in pending:
            try:
                await sv.messages.send(req)
            except TidingsError as exc:
                tally.errors[exc.code.value] += 1
            else:
                tally.acked += 1

    workers = max(1, min(inflight, len(requests)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return tally


def batch_totals() -> tuple[float, float]:
    """(messages, transactions) the group committer has seen in this process."""
    total = REGISTRY.get_sample_value("tidings_group_commit_batch_size_sum") or 0.0
    count = REGISTRY.get_sample_value("tidings_group_commit_batch_size_count") or 0.0
    return total, count


async def service_ingest(data_dir: Path, database_url: str | None, params: ServiceParams
                         ) -> IngestResult:
    plan = p.Plan(senders=params.senders, chats=params.chats, messages=params.messages)
    settings = test_settings(data_dir, database_url)
    async with bench_services(settings) as sv:
        senders = await create_users(sv, [p.sender_name(s) for s in range(plan.senders)])
        listeners = await create_users(sv, [p.listener_name(i) for i in range(p.LISTENERS)])
        chat_ids = await create_chats(sv, plan, senders, listeners)
        requests = build_requests(plan, senders, chat_ids)
        before = await count_messages(sv.db)

        db_cpu = PostgresCpu(enabled=database_url is not None)
        batches_before = batch_totals()
        db_cpu.start()
        # The collector as a serving node runs it (TidingsServer.serve_forever),
        # with what set-up left alive (the requests built above too) frozen.
        with tuned_for_serving():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            tally = await submit_all(sv, requests, params.inflight)
            seconds = time.perf_counter() - wall_start
            cpu = time.process_time() - cpu_start
        db_seconds = db_cpu.stop()
        batches_after = batch_totals()

        persisted = await count_messages(sv.db) - before
    return IngestResult(
        engine=engine_of(database_url), mode="service", chats=plan.chats,
        messages=plan.messages, acknowledged=tally.acked, persisted=persisted,
        seconds=seconds, errors=sum(tally.errors.values()), server_cpu_seconds=cpu,
        senders=plan.senders, db_cpu_seconds=db_seconds,
        avg_batch=_avg_batch(batches_before, batches_after),
        error_codes=dict(tally.errors),
    )


def _avg_batch(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    transactions = after[1] - before[1]
    return (after[0] - before[0]) / transactions if transactions else None
