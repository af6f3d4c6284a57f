"""The durable job runner (tidings.jobs), on both engines, with a FakeClock:
scheduling and dedupe, running at the right time, failure and retry, at most
once, bounded batches, and a restart over the same database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings.bus.base import Bus, ChatEvent
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.jobs import Job, JobKind, JobRunner, build_runner
from tidings.services.container import Services
from tidings.services.notify import publish_chat_on_commit
from tidings.store import jobs as job_store
from tidings.store import updates
from tidings.testing import RecordingBus, service_harness

from .helpers import make_users


class Effect:
    """A job kind whose run appends a ``test.effect`` update to a chat (a real,
    visible effect in the run's transaction) and can be told to fail afterwards."""

    def __init__(self, name: str = "effect", *, fail: int = 0) -> None:
        self.fail = fail  # this many runs raise, after writing their effect
        self.runs: list[int] = []
        self.bus: Bus | None = None  # set by runner_for
        self.kind = JobKind(name, self.handle)

    async def handle(self, txn: Txn, job: Job, now: int) -> None:
        assert self.bus is not None
        self.runs.append(job.job_id)
        chat_id = job.payload["chat_id"]
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now, [("test.effect", {"n": job.payload.get("n", 0)})])
        publish_chat_on_commit(txn, self.bus, chat_id, ups)
        if len(self.runs) <= self.fail:
            raise RuntimeError(f"boom {len(self.runs)}")


def runner_for(sv: Services, *kinds: Effect | JobKind, **overrides: Any) -> JobRunner:
    """A runner of only these kinds (no sweeper), settings changed by ``overrides``."""
    for kind in kinds:
        if isinstance(kind, Effect):
            kind.bus = sv.bus
    settings = sv.settings.model_copy(update=overrides) if overrides else sv.settings
    return JobRunner(sv.db, sv.clock, settings,
                     [k.kind if isinstance(k, Effect) else k for k in kinds])


async def effects(sv: Services, chat_id: int) -> list[int]:
    async def read_txn(txn: Txn) -> list[dict[str, Any]]:
        return await updates.chat_updates_range_txn(txn, chat_id, 0, 10**9)

    return [u["n"] for u in await sv.db.read("t", read_txn) if u["kind"] == "test.effect"]


async def jobs_of(sv: Services, kind: str | None = None) -> list[job_store.JobRow]:
    return await sv.db.read("t", lambda txn: job_store.list_txn(txn, kind))


async def a_chat(sv: Services) -> int:
    alice, bob = await make_users(sv, "alice", "bob")
    return (await sv.chats.create(alice, "group", "jobs", [bob])).chat_id


def effect_events(sv: Services) -> list[ChatEvent]:
    assert isinstance(sv.bus, RecordingBus)
    return [e for e in sv.bus.events if isinstance(e, ChatEvent) and b"test.effect" in e.frame]


async def test_scheduling_a_pending_dedupe_key_again_is_a_no_op(sv: Services) -> None:
    chat_id = await a_chat(sv)
    effect = Effect()
    runner = runner_for(sv, effect)
    now = sv.clock.now()
    first = await runner.schedule("effect", {"chat_id": chat_id}, now + 60, dedupe_key="k")
    again = await runner.schedule("effect", {"chat_id": chat_id, "n": 2}, now + 5,
                                  dedupe_key="k")
    assert first is not None and again is None
    [row] = await jobs_of(sv)
    assert (row.job_id, row.payload, row.run_at, row.attempts) == (
        first, {"chat_id": chat_id}, now + 60, 0)
    # Without a key nothing is deduplicated; once the keyed job ran, the key is free.
    assert await runner.schedule("effect", {"chat_id": chat_id}, now + 60) is not None
    assert await runner.schedule("effect", {"chat_id": chat_id}, now + 60) is not None
    assert isinstance(sv.clock, FakeClock)
    sv.clock.advance(60)
    assert await runner.run_due() == 3
    assert await runner.schedule("effect", {"chat_id": chat_id}, now + 90,
                                 dedupe_key="k") is not None


async def test_a_job_runs_when_due_and_not_before(sv: Services, clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    effect = Effect()
    runner = runner_for(sv, effect)
    job_id = await runner.schedule("effect", {"chat_id": chat_id, "n": 7}, clock.now() + 60)
    assert await runner.run_due() == 0
    clock.advance(59)
    assert await runner.run_due() == 0
    assert effect.runs == [] and await effects(sv, chat_id) == []
    clock.advance(1)
    assert await runner.run_due() == 1
    assert effect.runs == [job_id]
    assert await effects(sv, chat_id) == [7]
    assert await jobs_of(sv) == []  # completing a job deletes its row
    clock.advance(3600)
    assert await runner.run_due() == 0  # and it never runs again
    assert len(effect_events(sv)) == 1


async def test_a_failed_run_leaves_no_effect_and_is_retried_with_backoff(
        sv: Services, clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    effect = Effect(fail=2)
    runner = runner_for(sv, effect)
    pts_before = (await sv.chats.get(1, chat_id)).chat.pts
    job_id = await runner.schedule("effect", {"chat_id": chat_id, "n": 1}, clock.now())
    failed_at = clock.now()
    assert await runner.run_due() == 0
    [row] = await jobs_of(sv)
    assert row.job_id == job_id and row.attempts == 1 and row.failed_at is None
    assert row.last_error == "RuntimeError: boom 1"
    retry = sv.settings.jobs_retry_seconds
    assert row.run_at == failed_at + retry and row.locked_until == 0
    # The run wrote its effect and then raised: the transaction rolled back, so the
    # chat log did not move and nothing was published.
    assert (await sv.chats.get(1, chat_id)).chat.pts == pts_before
    assert await effects(sv, chat_id) == [] and effect_events(sv) == []

    clock.advance(retry - 1)
    assert await runner.run_due() == 0 and len(effect.runs) == 1
    clock.advance(1)
    assert await runner.run_due() == 0  # second failure: the wait doubles
    [row] = await jobs_of(sv)
    assert (row.attempts, row.last_error) == (2, "RuntimeError: boom 2")
    assert row.run_at == clock.now() + 2 * retry
    clock.advance(2 * retry)
    assert await runner.run_due() == 1
    assert await effects(sv, chat_id) == [1]  # exactly once
    assert len(effect_events(sv)) == 1
    assert await jobs_of(sv) == []


async def test_a_job_is_given_up_after_its_attempts_but_kept(sv: Services,
                                                              clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    effect = Effect(fail=99)
    runner = runner_for(sv, effect, jobs_max_attempts=3, jobs_retry_seconds=10,
                        jobs_retry_max_seconds=15)
    await runner.schedule("effect", {"chat_id": chat_id}, clock.now())
    waits = []
    for _ in range(3):
        await runner.run_due()
        [row] = await jobs_of(sv)
        waits.append(row.run_at - clock.now())
        clock.advance(100)
    assert waits[:2] == [10, 15]  # doubling, capped by jobs_retry_max_seconds
    assert row.failed_at is not None and row.attempts == 3
    assert row.last_error == "RuntimeError: boom 3"
    clock.advance(10**6)
    assert await runner.run_due() == 0 and len(effect.runs) == 3
    assert await effects(sv, chat_id) == []


async def test_a_recurring_job_exists_once_reschedules_itself_and_is_never_given_up(
        sv: Services, clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    seen: list[int] = []

    async def tick(txn: Txn, job: Job, now: int) -> int:
        seen.append(now)
        if len(seen) <= 3:
            raise RuntimeError("not yet")
        return now + 30

    kind = JobKind("tick", tick, recurring=True)
    runner = runner_for(sv, kind, jobs_max_attempts=1, jobs_retry_seconds=1)
    assert await runner.run_due() == 0  # scheduled on the first round, due at once; fails
    for _ in range(3):
        clock.advance(10)
        await runner.run_due()
    assert len(seen) == 4
    [row] = await jobs_of(sv)
    assert (row.kind, row.dedupe_key, row.attempts, row.failed_at) == ("tick", "tick", 0, None)
    assert row.run_at == clock.now() + 30
    # A second runner (another node, or a restart) does not add a second one.
    other = runner_for(sv, kind)
    assert await other.run_due() == 0
    assert len(await jobs_of(sv)) == 1
    del chat_id


async def test_rounds_take_bounded_batches(sv: Services, clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    effect = Effect()
    runner = runner_for(sv, effect, jobs_batch_size=3)
    for n in range(7):
        await runner.schedule("effect", {"chat_id": chat_id, "n": n}, clock.now())
    assert [await runner.run_due() for _ in range(4)] == [3, 3, 1, 0]
    assert await effects(sv, chat_id) == list(range(7))


async def test_jobs_of_a_kind_this_runner_lacks_are_left_alone(sv: Services,
                                                               clock: FakeClock) -> None:
    chat_id = await a_chat(sv)
    runner = runner_for(sv, Effect())
    await runner.schedule("unknown.kind", {"chat_id": chat_id}, clock.now())
    assert await runner.run_due() == 0
    [row] = await jobs_of(sv)
    assert (row.kind, row.attempts, row.locked_until) == ("unknown.kind", 0, 0)


async def test_a_claim_whose_lease_ran_out_is_taken_over_and_runs_once(
        sv: Services, clock: FakeClock) -> None:
    """A node that claimed a job and died (or stalled past its lease) loses it to
    another; if the first comes back, its claim is gone and it does nothing."""
    chat_id = await a_chat(sv)
    effect = Effect()
    runner = runner_for(sv, effect)
    await runner.schedule("effect", {"chat_id": chat_id}, clock.now())
    now = clock.now()
    lease = sv.settings.jobs_lease_seconds
    [stale] = await sv.db.write("t", lambda txn: job_store.claim_due_txn(
        txn, ["effect"], now, now + lease, 10))
    assert await runner.run_due() == 0  # claimed by the dead node, lease not over
    clock.advance(lease)
    assert await runner.run_due() == 1
    assert await effects(sv, chat_id) == [0]
    assert await sv.db.write("t", lambda txn: job_store.take_txn(txn, stale)) is False


async def test_two_runners_at_once_run_each_job_once(sv: Services, clock: FakeClock) -> None:
    """Two nodes over one database (on PostgreSQL truly concurrent: SKIP LOCKED)."""
    chat_id = await a_chat(sv)
    a, b = Effect(), Effect()
    runner_a = runner_for(sv, a, jobs_batch_size=5)
    runner_b = runner_for(sv, b, jobs_batch_size=5)
    for n in range(40):
        await runner_a.schedule("effect", {"chat_id": chat_id, "n": n}, clock.now())
    while True:
        done = await asyncio.gather(runner_a.run_due(), runner_b.run_due())
        if sum(done) == 0:
            break
    assert sorted(await effects(sv, chat_id)) == list(range(40))
    assert len(a.runs) + len(b.runs) == 40


async def test_a_due_job_runs_after_a_restart(settings: Settings, clock: FakeClock) -> None:
    effect = Effect()
    async with service_harness(settings, clock) as sv:
        chat_id = await a_chat(sv)
        runner = runner_for(sv, effect)
        await runner.schedule("effect", {"chat_id": chat_id, "n": 5}, clock.now() + 3600)
        assert await runner.run_due() == 0
    clock.advance(3600)
    # New services over the same database: the schedule was in it.
    async with service_harness(settings, clock) as sv:
        runner = runner_for(sv, effect)
        assert await runner.run_due() == 1
        assert await effects(sv, chat_id) == [5]
        assert await jobs_of(sv) == []


async def test_the_loop_polls_and_stops(settings: Settings, clock: FakeClock) -> None:
    fast = settings.model_copy(update={"jobs_interval_seconds": 0.02})
    async with service_harness(fast, clock) as sv:
        chat_id = await a_chat(sv)
        effect = Effect()
        runner = runner_for(sv, effect)
        runner.start()
        try:
            await runner.schedule("effect", {"chat_id": chat_id, "n": 1}, clock.now() + 5)
            await asyncio.sleep(0.1)
            assert effect.runs == []  # not due: the loop does not run it early
            clock.advance(5)
            for _ in range(200):
                if await effects(sv, chat_id):
                    break
                await asyncio.sleep(0.01)
            assert await effects(sv, chat_id) == [1]
        finally:
            await runner.stop()
        await runner.stop()  # stopping twice is harmless


async def test_the_harness_can_run_the_loop_with_every_job_kind(settings: Settings,
                                                                clock: FakeClock) -> None:
    fast = settings.model_copy(update={"jobs_interval_seconds": 0.02})
    async with service_harness(fast, clock, jobs=True) as sv:
        for _ in range(200):
            if await jobs_of(sv, "message_ttl"):
                break
            await asyncio.sleep(0.01)
        [sweeper] = await jobs_of(sv, "message_ttl")
        assert sweeper.dedupe_key == "message_ttl" and sweeper.failed_at is None
    assert build_runner(sv).kinds == ["blob_delete", "chat_expiry", "export", "media_expiry",
                                      "media_reevaluate", "message_ttl"]


@pytest.mark.parametrize("stop_after", [1, 2])
async def test_stopping_mid_batch_hands_back_the_jobs_not_run(
        sv: Services, clock: FakeClock, stop_after: int) -> None:
    chat_id = await a_chat(sv)
    stopping: list[asyncio.Task[None]] = []

    async def handle(txn: Txn, job: Job, now: int) -> None:
        if job.payload["n"] + 1 == stop_after:  # the node is told to stop meanwhile
            stopping.append(asyncio.create_task(runner.stop()))

    runner = runner_for(sv, JobKind("effect", handle))
    for n in range(4):
        await runner.schedule("effect", {"chat_id": chat_id, "n": n}, clock.now())
    runner.start()
    for _ in range(500):
        if stopping:
            break
        await asyncio.sleep(0.01)
    await stopping[0]  # the job running then finishes; the rest go back, unrun
    rest = await jobs_of(sv)
    assert [(r.payload["n"], r.attempts, r.locked_until) for r in rest] == [
        (n, 0, 0) for n in range(stop_after, 4)]
