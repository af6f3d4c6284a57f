"""Exports (message.export, export.status, GET /exports/{job_id}) on both
engines: who may export, that the file holds exactly what message.history
shows the requester, the HTML page, the job's steps and states with a
FakeClock, limits, failure and recovery, chunked paging of a large chat, and
the download over a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs import JobRunner, build_runner
from tidings.services.container import Services
from tidings.services.exports import Download, ExportStatus, scan_window
from tidings.store import exports as export_store
from tidings.store import jobs as job_store
from tidings.store import messages as message_store
from tidings.store import updates
from tidings.testing import RecordingBus, running_server, service_harness, test_settings

from .helpers import PASSWORD, make_users, send_text

CHUNK = 3


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """Small chunks, so a test chat of a dozen messages takes several steps."""
    return test_settings(tmp_path / "data", database_url, export_chunk_rows=CHUNK)


# -- helpers

def events(sv: Services) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Chat updates and user updates published since the last call; then forgets them."""
    assert isinstance(sv.bus, RecordingBus)
    chat_ups = [u for e in sv.bus.events if isinstance(e, ChatEvent)
                for u in wire.decode(e.frame)["updates"]]
    user_ups = [u for e in sv.bus.events if isinstance(e, UserEvent)
                for u in wire.decode(e.frame)["updates"]]
    sv.bus.events.clear()
    return chat_ups, user_ups


async def set_role(sv: Services, chat_id: int, user_id: int, role: str) -> None:
    """No method assigns admin yet (the groups issue adds one)."""
    async def role_txn(txn: Txn) -> None:
        await txn.execute("UPDATE members SET role = $3 WHERE chat_id = $1 AND user_id = $2",
                          chat_id, user_id, role)

    await sv.db.write("test_set_role", role_txn)


async def run_export(sv: Services, job_id: int, runner: JobRunner | None = None,
                     max_rounds: int = 1000) -> tuple[ExportStatus, int]:
    """Run job rounds until the export is done or failed; its status and the
    number of rounds it took."""
    runner = runner or build_runner(sv)
    user_id = await owner_of(sv, job_id)
    for rounds in range(1, max_rounds + 1):
        await runner.run_due()
        status = await sv.exports.status(user_id, job_id)
        if status.state in ("done", "failed"):
            return status, rounds
    raise AssertionError(f"export {job_id} did not finish in {max_rounds} rounds")


async def owner_of(sv: Services, job_id: int) -> int:
    async def get_txn(txn: Txn) -> export_store.ExportRow | None:
        return await export_store.get_txn(txn, job_id)

    row = await sv.db.read("test_export_row", get_txn)
    assert row is not None
    return row.user_id


async def exported(sv: Services, user_id: int, job_id: int) -> bytes:
    found = await sv.exports.download(user_id, job_id)
    assert isinstance(found, Download), found
    return found.path.read_bytes()


async def export_now(sv: Services, user_id: int, chat_id: int, fmt: str = "jsonl",
                     **kw: Any) -> bytes:
    job_id = await sv.exports.request(user_id, chat_id, fmt, kw.get("since"), kw.get("until"))
    status, _ = await run_export(sv, job_id)
    assert status.state == "done", status
    return await exported(sv, user_id, job_id)


async def history(sv: Services, user_id: int, chat_id: int) -> list[dict[str, Any]]:
    """Everything message.history shows this user, oldest first, as on the wire."""
    found: list[dict[str, Any]] = []
    after = 0
    while page := await sv.timeline.history(user_id, chat_id, None, after, 100):
        found += wire.decode(wire.encode(page))
        after = page[-1].msg_id
    return found


def lines(data: bytes) -> list[dict[str, Any]]:
    assert data == b"" or data.endswith(b"\n")
    return [wire.decode(line) for line in data.splitlines()]


async def group(sv: Services) -> tuple[int, int, int, int]:
    owner, member, outsider = await make_users(sv, "owner", "member", "outsider")
    chat = await sv.chats.create(owner, "group", "team", [member])
    return owner, member, outsider, chat.chat_id


async def expect(code: ErrorCode, call: Any) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await call
    assert err.value.code is code, err.value
    return err.value


# -- permissions and validation

async def test_who_may_export(sv: Services) -> None:
    owner, member, outsider, chat_id = await group(sv)
    assert await sv.exports.request(owner, chat_id, "jsonl", None, None) >= 1
    err = await expect(ErrorCode.FORBIDDEN, sv.exports.request(member, chat_id, "html", None,
                                                               None))
    assert err.data == {"permission": "export"}
    await set_role(sv, chat_id, member, "admin")
    await sv.exports.request(member, chat_id, "html", None, None)
    await expect(ErrorCode.NOT_A_MEMBER,
                 sv.exports.request(outsider, chat_id, "jsonl", None, None))
    await expect(ErrorCode.CHAT_NOT_FOUND,
                 sv.exports.request(owner, 999_999, "jsonl", None, None))
    # A channel's members may not either; in a direct chat both members may.
    channel = await sv.chats.create(owner, "channel", "news", [outsider])
    await expect(ErrorCode.FORBIDDEN,
                 sv.exports.request(outsider, channel.chat_id, "jsonl", None, None))
    direct = await sv.chats.direct(member, outsider)
    await sv.exports.request(outsider, direct.chat_id, "jsonl", None, None)
    await set_role(sv, chat_id, member, "member")
    await sv.exports.request(member, direct.chat_id, "html", None, None)
    # Someone who left may no longer export.
    await sv.chats.add_members(owner, chat_id, [outsider])
    await set_role(sv, chat_id, outsider, "admin")
    await sv.chats.leave(outsider, chat_id)
    await expect(ErrorCode.NOT_A_MEMBER,
                 sv.exports.request(outsider, chat_id, "jsonl", None, None))


@pytest.mark.parametrize(("fmt", "since", "until", "field"), [
    ("pdf", None, None, "format"), ("", None, None, "format"), ("JSONL", None, None, "format"),
    ("jsonl", 100, 100, "until"), ("html", 200, 100, "until")])
async def test_bad_requests_are_invalid(sv: Services, fmt: str, since: int | None,
                                        until: int | None, field: str) -> None:
    owner, _, _, chat_id = await group(sv)
    err = await expect(ErrorCode.INVALID_PARAMS,
                       sv.exports.request(owner, chat_id, fmt, since, until))
    assert err.data["field"] == field


async def test_status_is_for_the_requester_only(sv: Services) -> None:
    owner, member, _, chat_id = await group(sv)
    job_id = await sv.exports.request(owner, chat_id, "jsonl", None, None)
    err = await expect(ErrorCode.NOT_FOUND, sv.exports.status(member, job_id))
    assert err.data == {"job_id": job_id}
    await expect(ErrorCode.NOT_FOUND, sv.exports.status(owner, job_id + 100))
    await expect(ErrorCode.NOT_FOUND, sv.exports.download(member, job_id))


async def test_concurrent_exports_per_user_are_limited(sv: Services) -> None:
    owner, _, _, chat_id = await group(sv)
    assert sv.settings.export_max_concurrent_per_user == 2
    first = await sv.exports.request(owner, chat_id, "jsonl", None, None)
    await sv.exports.request(owner, chat_id, "html", None, None)
    err = await expect(ErrorCode.RATE_LIMITED,
                       sv.exports.request(owner, chat_id, "jsonl", None, None))
    assert err.data == {"limit": 2}
    # Once one is finished there is room again.
    await run_export(sv, first)
    await sv.exports.request(owner, chat_id, "jsonl", None, None)


# -- content

async def test_jsonl_is_exactly_what_history_shows(sv: Services, clock: FakeClock) -> None:
    owner, member, outsider, chat_id = await group(sv)
    sent = [await send_text(sv, owner if i % 2 else member, chat_id, f"message {i}")
            for i in range(12)]
    clock.advance(1)
    await send_text(sv, member, chat_id, "a reply", reply_to=sent[0].msg_id)
    await sv.messages.recall(owner, chat_id, sent[1].msg_id)
    await sv.deletion.delete(owner, chat_id, [sent[2].msg_id], True)  # for everyone
    await sv.deletion.delete(owner, chat_id, [sent[3].msg_id, sent[4].msg_id], False)  # for me
    await sv.chats.add_members(owner, chat_id, [outsider])  # a late joiner ...
    await set_role(sv, chat_id, outsider, "admin")  # ... who may export
    later = [await send_text(sv, outsider, chat_id, f"later {i}") for i in range(4)]
    await send_text(sv, owner, chat_id, "re: before your time", reply_to=sent[5].msg_id)
    await send_text(sv, owner, chat_id, "re: later", reply_to=later[0].msg_id)

    for user_id in (owner, member, outsider):
        if user_id == member:
            await set_role(sv, chat_id, member, "admin")
        got = lines(await export_now(sv, user_id, chat_id))
        assert got == await history(sv, user_id, chat_id)
        ids = [m["msg_id"] for m in got]
        assert sent[2].msg_id not in ids  # deleted for everyone
        assert (sent[3].msg_id in ids) == (user_id == member)  # hidden for the owner
    # The late joiner sees from their join on; the reply to an earlier message
    # shows no preview of what they cannot see.
    late = lines(await export_now(sv, outsider, chat_id))
    assert all(m["msg_id"] > sent[-1].msg_id for m in late)
    assert [m.get("reply_preview") for m in late if m["text"] == "re: before your time"] == [None]
    # Clearing the history for me moves the floor of my export too.
    await sv.deletion.clear_history(owner, chat_id, False)
    await send_text(sv, owner, chat_id, "after the clear")
    after_clear = lines(await export_now(sv, owner, chat_id))
    assert [m["text"] for m in after_clear] == ["after the clear"]
    assert after_clear == await history(sv, owner, chat_id)


async def test_since_until_filter_by_date(sv: Services, clock: FakeClock) -> None:
    owner, _, _, chat_id = await group(sv)
    start = clock.now()
    for i in range(10):
        await send_text(sv, owner, chat_id, f"minute {i}")
        clock.advance(60)
    got = lines(await export_now(sv, owner, chat_id, since=start + 120, until=start + 300))
    assert [m["text"] for m in got] == ["minute 2", "minute 3", "minute 4"]
    assert lines(await export_now(sv, owner, chat_id, since=start + 9 * 60)) == [
        m for m in await history(sv, owner, chat_id) if m["date"] >= start + 540]
    assert lines(await export_now(sv, owner, chat_id, until=start)) == []


async def test_html_is_one_escaped_self_contained_page(sv: Services) -> None:
    owner, member, _, _ = await group(sv)
    chat = await sv.chats.create(owner, "group", "<b>Team</b> & co", [member])
    chat_id = chat.chat_id
    evil = await send_text(sv, member, chat_id, '<script>alert("x")</script> & <img src=x>')
    await send_text(sv, owner, chat_id, "why would you", reply_to=evil.msg_id)
    oops = await send_text(sv, owner, chat_id, "oops, wrong chat")
    await sv.messages.recall(owner, chat_id, oops.msg_id)
    await send_text(sv, member, chat_id, "re: the recalled one", reply_to=oops.msg_id)
    gone = await send_text(sv, member, chat_id, "soon gone")
    await send_text(sv, owner, chat_id, "re: the deleted one", reply_to=gone.msg_id)
    await sv.deletion.delete(owner, chat_id, [gone.msg_id], True)
    await sv.message_ttl.set_ttl(owner, chat_id, 86400)

    page = (await export_now(sv, owner, chat_id, "html")).decode()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<html") == 1 and page.count("</body>") == 1
    # Escaped, and nothing that runs or loads.
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x&gt;" in page
    assert "<title>&lt;b&gt;Team&lt;/b&gt; &amp; co</title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "<style>" in page  # inline CSS
    # Names, dates, replies, recalls, deletions and system messages.
    assert '<span class="who">member</span>' in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    assert (f'<blockquote><a href="#m{evil.msg_id}">member</a>: &lt;script&gt;'
            in page)
    assert "owner recalled a message" in page
    assert "oops, wrong chat" not in page
    assert f'<a href="#m{oops.msg_id}">owner</a>: a recalled message' in page
    assert "member</a>: a deleted message" in page and "soon gone" not in page
    assert "owner created the chat “&lt;b&gt;Team&lt;/b&gt; &amp; co” with member" in page
    assert "owner set new messages to be deleted after 1 day" in page
    assert "End of the export: 7 messages." in page


async def test_a_direct_chat_page_is_titled_by_its_two_users(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    direct = await sv.chats.direct(alice, bob)
    await send_text(sv, bob, direct.chat_id, "hi")
    page = (await export_now(sv, alice, direct.chat_id, "html")).decode()
    assert "<title>alice and bob</title>" in page and "Exported by alice" in page
    # An empty export is still a whole page (JSONL: an empty file).
    empty = await export_now(sv, alice, direct.chat_id, "html", until=1)
    assert b"End of the export: 0 messages." in empty
    assert await export_now(sv, alice, direct.chat_id, "jsonl", until=1) == b""


# -- the job: steps, states, updates, expiry

async def test_steps_states_and_the_ready_update(sv: Services, clock: FakeClock) -> None:
    owner, _, _, chat_id = await group(sv)
    for i in range(10):
        await send_text(sv, owner, chat_id, f"m{i}")
    expected = await history(sv, owner, chat_id)  # 11 with the system message
    assert len(expected) == 11
    events(sv)
    job_id = await sv.exports.request(owner, chat_id, "jsonl", None, None)
    # Requesting writes no update; it schedules one job.
    assert events(sv) == ([], [])

    async def jobs_txn(txn: Txn) -> list[job_store.JobRow]:
        return await job_store.list_txn(txn, "export")

    [job] = await sv.db.read("test_jobs", jobs_txn)
    assert (job.dedupe_key, job.payload) == (f"export:{job_id}", {"job_id": job_id})
    status = await sv.exports.status(owner, job_id)
    assert (status.state, status.progress, status.total, status.url) == ("queued", 0, None,
                                                                         None)
    assert status.created_at == clock.now() and status.finished_at is None

    runner = build_runner(sv)
    seen = []
    while status.state != "done":
        await runner.run_due()
        status = await sv.exports.status(owner, job_id)
        seen.append((status.state, status.progress, status.total))
    # Counted in the first step (small chat), then CHUNK messages per step.
    assert seen == [("running", 3, 11), ("running", 6, 11), ("running", 9, 11),
                    ("done", 11, 11)]
    assert status.url == f"/exports/{job_id}" and status.finished_at == clock.now()
    assert status.expires_at == clock.now() + sv.settings.export_retention_seconds
    chat_ups, user_ups = events(sv)
    assert chat_ups == []
    [ready] = user_ups
    assert {k: v for k, v in ready.items() if k not in ("seq", "date")} == {
        "kind": "export.ready", "job_id": job_id, "chat_id": chat_id, "state": "done",
        "url": f"/exports/{job_id}", "error": None}
    assert lines(await exported(sv, owner, job_id)) == expected
    # More rounds change nothing until the file expires ...
    await runner.run_due()
    assert (await sv.exports.status(owner, job_id)).state == "done"
    found = await sv.exports.download(owner, job_id)
    assert isinstance(found, Download) and found.path.exists()
    clock.advance(sv.settings.export_retention_seconds)
    await runner.run_due()
    # ... then the file is gone and the export says so.
    status = await sv.exports.status(owner, job_id)
    assert (status.state, status.url) == ("expired", None)
    assert not found.path.exists()
    err = await expect(ErrorCode.NOT_FOUND, sv.exports.download(owner, job_id))
    assert err.data["state"] == "expired"
    assert await sv.db.read("test_jobs", jobs_txn) == []
    assert events(sv) == ([], [])


async def test_a_step_that_rolled_back_leaves_no_trace(sv: Services) -> None:
    """A step whose transaction did not commit may have appended to the file;
    the next step cuts it back. A file that lost committed bytes restarts."""
    owner, _, _, chat_id = await group(sv)
    for i in range(8):
        await send_text(sv, owner, chat_id, f"m{i}")
    job_id = await sv.exports.request(owner, chat_id, "jsonl", None, None)
    runner = build_runner(sv)
    await runner.run_due()
    path = sv.exports.directory / f"{job_id}.jsonl"
    with path.open("ab") as f:
        f.write(b'{"half a line')
    await runner.run_due()
    path.write_bytes(b"")  # lost what was committed
    status, _ = await run_export(sv, job_id, runner)
    assert status.state == "done" and status.progress == 9
    assert lines(await exported(sv, owner, job_id)) == await history(sv, owner, chat_id)


async def test_a_failing_export_is_failed_and_says_so(settings: Settings, clock: FakeClock,
                                                      tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the export directory should be")
    failing = settings.model_copy(update={"export_dir": blocker, "jobs_max_attempts": 2})
    async with service_harness(failing, clock) as sv:
        owner, _, _, chat_id = await group(sv)
        await send_text(sv, owner, chat_id, "x")
        job_id = await sv.exports.request(owner, chat_id, "html", None, None)
        events(sv)
        runner = build_runner(sv)
        await runner.run_due()  # first attempt: rolled back, retried later
        status = await sv.exports.status(owner, job_id)
        assert status.state == "queued" and status.progress == 0  # the step rolled back
        assert events(sv) == ([], [])
        clock.advance(failing.jobs_retry_seconds)
        await runner.run_due()  # the last attempt marks it failed
        status = await sv.exports.status(owner, job_id)
        assert status.state == "failed" and status.url is None
        assert status.error is not None and status.error.startswith("could not write")
        assert status.finished_at == clock.now()
        _, [ready] = events(sv)
        assert (ready["kind"], ready["state"], ready["url"]) == ("export.ready", "failed",
                                                                 None)
        assert ready["error"] == status.error
        err = await expect(ErrorCode.NOT_FOUND, sv.exports.download(owner, job_id))
        assert err.data["state"] == "failed"
        # A failed export no longer counts against the limit.
        await sv.exports.request(owner, chat_id, "html", None, None)
        await sv.exports.request(owner, chat_id, "html", None, None)


def test_scan_window_walks_the_spans() -> None:
    spans = [(1, 10), (100, 120), (500, 600)]
    assert scan_window(spans, 0, 1000) == ([(0, 10), (99, 120), (499, 600)], None)
    assert scan_window(spans, 0, 15) == ([(0, 10), (99, 104)], 104)
    assert scan_window(spans, 104, 15) == ([(104, 119)], 119)
    assert scan_window(spans, 119, 1) == ([(119, 120)], 120)
    assert scan_window(spans, 120, 1) == ([(499, 500)], 500)
    assert scan_window(spans, 600, 10) == ([], None)
    assert scan_window([], 0, 10) == ([], None)


async def insert_messages(sv: Services, chat_id: int, sender_id: int, count: int,
                          clock: FakeClock, batch: int = 5000) -> None:
    """``count`` messages straight through the store: pts allocated, rows
    inserted in batches (no send path, no updates pushed)."""
    for start in range(0, count, batch):
        n = min(batch, count - start)

        async def insert_txn(txn: Txn, n: int = n, start: int = start) -> None:
            now = clock.now()
            first = (await updates.allocate_message_pts_txn(txn, {chat_id: n}, now))[chat_id]
            await message_store.insert_messages_txn(txn, [wire.Message(
                chat_id=chat_id, msg_id=first + i, sender_id=sender_id, date=now,
                kind="text", text=f"bulk {start + i} " + "x" * 40, reply_to=None,
                local_id=None) for i in range(n)])

        await sv.db.write("test_bulk_insert", insert_txn)
        clock.advance(1)


async def test_a_large_chat_is_read_in_bounded_chunks(settings: Settings, clock: FakeClock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 messages: every read is bounded by the chunk size and the scan
    window, and the file is complete (memory use is one chunk: see the
    measurement of a 1,000,000-message export in the report / CHANGELOG)."""
    rows = 1000
    big = settings.model_copy(update={"export_chunk_rows": rows})
    async with service_harness(big, clock) as sv:
        owner, _, _, chat_id = await group(sv)
        await insert_messages(sv, chat_id, owner, 20_000, clock)
        await sv.deletion.delete(owner, chat_id, [10, 11, 12], False)  # hidden for me

        reads: list[tuple[int, int, int, int]] = []
        page = export_store.page_txn

        async def recording_page(txn: Txn, chat_id: int, after: int, upto: int, limit: int,
                                 **kw: Any) -> list[wire.Message]:
            found = await page(txn, chat_id, after, upto, limit, **kw)
            reads.append((after, upto, limit, len(found)))
            return found

        monkeypatch.setattr(export_store, "page_txn", recording_page)
        job_id = await sv.exports.request(owner, chat_id, "jsonl", None, None)
        status, rounds = await run_export(sv, job_id)
        assert status.state == "done" and status.progress == status.total == 20_001 - 3
        assert all(limit <= rows and n <= limit for _, _, limit, n in reads)
        assert all(upto - after <= rows * 50 for after, upto, _, _ in reads)
        assert [limit for _, _, limit, _ in reads] == [rows] * len(reads)
        assert sum(n for *_, n in reads) == 19_998
        assert rounds == 20  # counted in the first step; 1,000 messages per step
        data = await exported(sv, owner, job_id)
        assert data.count(b"\n") == 19_998
        first, last = wire.decode(data.splitlines()[1]), wire.decode(data.splitlines()[-1])
        assert first["text"].startswith("bulk 0 ") and last["text"].startswith("bulk 19999 ")


# -- over a real server

async def http_get(http: aiohttp.ClientSession, url: str, token: str | None
                   ) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_download_over_http(tmp_path: Path, database_url: str | None) -> None:
    # The runner's loop waits an hour between rounds: the test runs them itself.
    settings = test_settings(tmp_path / "data", database_url, jobs_interval_seconds=3600)
    async with running_server(settings) as srv, aiohttp.ClientSession() as http, \
            Client(srv.url) as alice, Client(srv.url) as bob:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        chat = await alice.create_group("Team", [bob_id])
        chat_id = chat["chat_id"]
        await alice.send_text(chat_id, "<b>hello</b>")
        await bob.send_text(chat_id, "hi")
        with pytest.raises(TidingsClientError) as err:
            await bob.call("message.export", {"chat_id": chat_id, "format": "jsonl"})
        assert err.value.code == "FORBIDDEN"
        job_id = (await alice.call("message.export", {"chat_id": chat_id,
                                                      "format": "jsonl"}))["job_id"]
        html_job = (await alice.call("message.export", {"chat_id": chat_id,
                                                        "format": "html"}))["job_id"]
        base = f"http://{settings.host}:{srv.port}"
        url = f"{base}/exports/{job_id}"

        # Not finished yet: 202 with the status.
        status, headers, body = await http_get(http, url, alice.token)
        assert status == 202 and headers["Retry-After"] == "3600"
        assert headers["Content-Type"].startswith("application/json")
        queued = wire.decode(body)
        assert queued == await alice.call("export.status", {"job_id": job_id})
        assert (queued["state"], queued["url"]) == ("queued", None)

        for _ in range(10):
            await srv.jobs.run_due()
        done = await alice.call("export.status", {"job_id": job_id})
        assert done["state"] == "done" and done["url"] == f"/exports/{job_id}"
        await alice.wait_for(lambda c: c.seq >= 2)  # chat.joined, then export.ready(s)

        status, headers, body = await http_get(http, base + done["url"], alice.token)
        assert status == 200
        assert headers["Content-Type"] == "application/x-ndjson"
        assert headers["Content-Disposition"] == (
            f'attachment; filename="tidings-chat-{chat_id}-export-{job_id}.jsonl"')
        history = await alice.history(chat_id, after=0, limit=100)
        assert [wire.with_message_defaults(m) for m in lines(body)] == history

        status, headers, body = await http_get(http, f"{base}/exports/{html_job}",
                                               alice.token)
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "&lt;b&gt;hello&lt;/b&gt;" in body.decode() and "<b>hello" not in body.decode()
        assert "script-src" not in headers["Content-Security-Policy"]

        # Another user: 404, as for an export that does not exist.
        for target in (url, f"{base}/exports/{job_id + 1000}", f"{base}/exports/abc",
                       f"{base}/exports/99999999999999999999999"):
            status, headers, body = await http_get(http, target, bob.token)
            assert status == 404, target
            assert wire.decode(body)["error"]["code"] == "NOT_FOUND"
        with pytest.raises(TidingsClientError) as err:
            await bob.call("export.status", {"job_id": job_id})
        assert err.value.code == "NOT_FOUND"

        # No token, a bad one, another scheme, a revoked device: 401.
        assert alice.token is not None
        for token in (None, "", "not-a-token", alice.token[:-4] + "AAAA"):
            status, headers, body = await http_get(http, url, token)
            assert status == 401, token
            assert headers["WWW-Authenticate"] == "Bearer"
            assert wire.decode(body)["error"]["code"] == "UNAUTHORIZED"
        async with http.get(url, headers={"Authorization": f"Basic {alice.token}"}) as resp:
            assert resp.status == 401
        async with Client(srv.url) as phone:
            await phone.login("alice", PASSWORD)
            revoked = phone.token
            await alice.call("device.revoke", {"device_id": phone.device_id})
        status, _, body = await http_get(http, url, revoked)
        assert status == 401 and wire.decode(body)["error"]["message"] == (
            "this device was signed out")
        # The download itself changes nothing, and may be repeated.
        status, _, again = await http_get(http, url, alice.token)
        assert status == 200 and [wire.with_message_defaults(m) for m in lines(again)] == history


async def test_export_method_validation_over_the_wire(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data", None, jobs_interval_seconds=3600)
    async with running_server(settings) as srv, Client(srv.url) as alice:
        await alice.register("alice", PASSWORD)
        chat = await alice.create_group("Team", [])
        for params, code in [
            ({"chat_id": chat["chat_id"], "format": "pdf"}, "INVALID_PARAMS"),
            ({"chat_id": chat["chat_id"]}, "INVALID_PARAMS"),
            ({"chat_id": chat["chat_id"], "format": "jsonl", "since": -1}, "INVALID_PARAMS"),
            ({"chat_id": chat["chat_id"], "format": "jsonl", "extra": 1}, "INVALID_PARAMS"),
            ({"chat_id": 999, "format": "jsonl"}, "CHAT_NOT_FOUND"),
        ]:
            with pytest.raises(TidingsClientError) as err:
                await alice.call("message.export", params)
            assert err.value.code == code, params
        with pytest.raises(TidingsClientError) as err:
            await alice.call("export.status", {"job_id": 0})
        assert err.value.code == "INVALID_PARAMS"
