"""History pages read a row's rarely set columns packed into one value
(``store.messages.message_from_page_row``); every field must come back as the
full-row read returns it, on both engines."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.db.engine import Txn
from tidings.services.container import Services
from tidings.store import messages

CHAT = 424242


def variants() -> list[wire.Message]:
    """A plain message, and one per rarely set field (and one with all of them)."""
    base = wire.Message(CHAT, 1, 7, 1_700_000_000, "text", "plain", None, "l1")
    entity = wire.Entity(type="bold", offset=0, length=2)
    forward = wire.ForwardFrom(chat_id=5, msg_id=6, sender_id=8, date=1_600_000_000)
    location = wire.Location(lat=1.5, lon=-2.25, title="here")
    card = wire.Card(user_id=9, username="bob", display_name="Bob")
    changes: list[dict[str, object]] = [
        {}, {"entities": [entity]}, {"reply_to": 1}, {"file_id": 33, "kind": "image"},
        {"recalled_at": 1_700_000_100, "recalled_by": 7, "text": None},
        {"location": location, "kind": "location"}, {"system": {"action": "joined"}},
        {"card": card, "kind": "card"}, {"forward_from": forward}, {"reply_count": 3},
        {"reactions": {"👍": 2}}, {"attributes": {"k": "v", "n": 1}}, {"tags": ["a", "b"]},
        {"ttl_expires_at": 1_700_009_999}, {"burn_after_seconds": 30},
        {"entities": [entity], "reply_to": 1, "forward_from": forward, "reply_count": 1,
         "reactions": {"❤️": 1}, "attributes": {"x": [1]}, "tags": ["t"],
         "ttl_expires_at": 5, "burn_after_seconds": 6, "system": {"s": 1}},
    ]
    return [msgspec.structs.replace(base, msg_id=i + 1, local_id=f"l{i}", **change)
            for i, change in enumerate(changes)]


async def test_page_rows_read_every_field_as_full_rows_do(sv: Services) -> None:
    written = variants()

    async def write_txn(txn: Txn) -> None:
        await messages.insert_messages_txn(txn, written)

    await sv.db.write("test_insert", write_txn)
    ids = [m.msg_id for m in written]

    async def read_txn(txn: Txn) -> tuple[list[wire.Message], list[wire.Message],
                                          list[wire.Message]]:
        full = await messages.get_messages_txn(txn, CHAT, ids)
        newest = await messages.newest_before_txn(txn, CHAT, 0, len(ids) + 1, len(ids))
        oldest = await messages.oldest_after_txn(txn, CHAT, 0, len(ids), len(ids))
        return full, newest, oldest

    full, newest, oldest = await sv.db.read("test_read", read_txn)
    assert [m.msg_id for m in full] == ids
    assert newest == full
    assert oldest == full
    assert wire.encode(newest) == wire.encode(full)
