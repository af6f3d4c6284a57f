"""One request never harms another: a send whose values the database refuses
fails alone (``INVALID_PARAMS``), and every other send of its group-commit
batch commits — on both engines. The values here reach the store only because
these tests call the service directly, past the edge validation of the wire
schemas (tests/test_edge_validation.py covers that side)."""

from __future__ import annotations

import asyncio

from tidings import wire
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services

from .helpers import make_users, send_text

# Refused by both drivers while encoding: an unpaired surrogate cannot be UTF-8.
POISON = "pay to \ud800 now"


async def test_poisoned_sends_race_honest_ones_without_collateral(sv: Services) -> None:
    users = await make_users(sv, "alice", "bob", "carol", "dave")
    chats = [(await sv.chats.create(users[0], "group", f"g{i}", users[1:])).chat_id
             for i in range(3)]
    honest = [send_text(sv, users[i % 4], chats[i % 3], f"honest {i}") for i in range(600)]
    poisoned = [send_text(sv, users[3], chats[i % 3], POISON) for i in range(6)]
    # Interleaved, all in flight at once, so the poisoned ones share batches.
    calls = [c for pair in zip(honest[::100], poisoned, strict=True) for c in pair]
    calls += [c for i, c in enumerate(honest) if i % 100]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    failures = [o for o in outcomes if not isinstance(o, wire.Message)]
    assert len(failures) == 6
    for failure in failures:
        assert isinstance(failure, TidingsError)
        assert failure.code is ErrorCode.INVALID_PARAMS
    sent = [o for o in outcomes if isinstance(o, wire.Message)]
    assert len(sent) == 600 and all(m.text != POISON for m in sent)
    for chat_id in chats:
        # Every honest message is there once and the log has no hole.
        pages = await sv.sync.get_chat_difference(users[0], chat_id, 0, 10_000)
        assert [u["pts"] for u in pages.updates] == list(range(1, pages.pts + 1))
        texts = [u["message"].text for u in pages.updates
                 if u["kind"] == "message.new" and u["message"].kind != "system"]
        assert sorted(texts) == sorted(m.text for m in sent if m.chat_id == chat_id)


async def test_a_lone_poisoned_send_answers_invalid_params(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.direct(alice, bob)).chat_id
    try:
        await send_text(sv, alice, chat_id, POISON)
    except TidingsError as exc:
        assert exc.code is ErrorCode.INVALID_PARAMS
    else:
        raise AssertionError("the poisoned send was accepted")
    # The retry an honest client makes after an error still works.
    assert (await send_text(sv, alice, chat_id, "fine")).text == "fine"
