"""The group committer's batching: what shares a transaction, with and
without a push delay (``push_delay_ms``)."""

from __future__ import annotations

import asyncio

from tidings.errors import ErrorCode, TidingsError
from tidings.services.group_commit import GroupCommitter

HOUR = 3600.0  # a delay no test waits out: reaching it would hang the test


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def run(self, batch: list[str]) -> list[str | TidingsError]:
        self.batches.append(list(batch))
        return [f"ok {req}" for req in batch]


async def _submit_apart(committer: GroupCommitter[str, str], *requests: str) -> list[str]:
    """Each request a few loop turns after the previous one."""
    tasks = []
    for req in requests:
        tasks.append(asyncio.create_task(committer.submit(req)))
        for _ in range(3):
            await asyncio.sleep(0)
    return list(await asyncio.gather(*tasks))


async def test_without_a_delay_a_lone_request_commits_at_once() -> None:
    rec = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(rec.run, 100)
    committer.start()
    assert await _submit_apart(committer, "a", "b") == ["ok a", "ok b"]
    await committer.stop()
    assert rec.batches == [["a"], ["b"]]


async def test_a_delay_lets_later_requests_share_the_batch() -> None:
    rec = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(rec.run, 100, delay=0.2)
    committer.start()
    await asyncio.gather(committer.submit("x"), committer.submit("y"))  # company
    assert await _submit_apart(committer, "a", "b", "c") == ["ok a", "ok b", "ok c"]
    await committer.stop()
    assert rec.batches == [["x", "y"], ["a", "b", "c"]]


async def test_a_lone_client_sending_one_at_a_time_is_not_held() -> None:
    rec = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(rec.run, 100, delay=HOUR)
    committer.start()
    async with asyncio.timeout(30):
        for req in ("a", "b", "c"):
            assert await committer.submit(req) == f"ok {req}"
    await committer.stop()
    assert rec.batches == [["a"], ["b"], ["c"]]


async def test_a_full_batch_does_not_wait_for_the_delay() -> None:
    rec = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(rec.run, 2, delay=HOUR)
    committer.start()
    async with asyncio.timeout(30):
        await asyncio.gather(committer.submit("x"), committer.submit("y"))
        assert await _submit_apart(committer, "a", "b") == ["ok a", "ok b"]
    await committer.stop()
    assert rec.batches == [["x", "y"], ["a", "b"]]


async def test_stopping_commits_what_waits_without_the_delay() -> None:
    rec = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(rec.run, 100, delay=HOUR)
    committer.start()
    await asyncio.gather(committer.submit("x"), committer.submit("y"))
    waiting = asyncio.create_task(committer.submit("a"))
    await asyncio.sleep(0)
    async with asyncio.timeout(30):
        await committer.stop()
        assert await waiting == "ok a"
    assert rec.batches == [["x", "y"], ["a"]]


async def test_a_sliced_batch_is_answered_in_order_over_loop_turns() -> None:
    """``answer_slice`` (sends on PostgreSQL): every request gets its own
    answer, errors included, a slice per loop turn, so the next batch's
    transaction runs between slices instead of after every caller woke."""
    batches: list[list[str]] = []
    answered: list[str] = []
    second_started_after = -1

    async def run(batch: list[str]) -> list[str | TidingsError]:
        nonlocal second_started_after
        if batches:
            second_started_after = len(answered)
        batches.append(list(batch))
        return [TidingsError(ErrorCode.FORBIDDEN, "no") if req == "r3" else f"ok {req}"
                for req in batch]

    committer: GroupCommitter[str, str] = GroupCommitter(run, 100, answer_slice=2)
    committer.start()

    async def caller(req: str) -> str:
        try:
            result = await committer.submit(req)
        except TidingsError as exc:
            result = exc.code.value
        answered.append(req)
        if req == "r0":  # the first answered asks again, while the rest wait
            await committer.submit("again")
        return result

    results = await asyncio.gather(*(caller(f"r{i}") for i in range(7)))
    await committer.stop()
    assert results == ["ok r0", "ok r1", "ok r2", "FORBIDDEN", "ok r4", "ok r5", "ok r6"]
    assert answered == [f"r{i}" for i in range(7)]
    assert batches == [[f"r{i}" for i in range(7)], ["again"]]
    assert 0 < second_started_after < 7  # the next batch began between slices
