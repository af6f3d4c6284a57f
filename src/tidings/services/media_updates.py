"""A file's state changed: tell every chat whose messages show it.

Seed 000's iron rule: any change a client can see goes through the update
log, so expiry, deletion, renewal and custody each write a ``media.*`` chat
update (with the file's new state and the messages showing it) into every
chat that references the file, in the transaction of the change, and an
offline device learns it from ``sync.get_difference``.
"""

from __future__ import annotations

from tidings.bus.base import Bus
from tidings.db.engine import Txn
from tidings.services.file_views import FileViews
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.store import files, updates


async def announce_txn(txn: Txn, bus: Bus, views: FileViews,
                       changed: list[tuple[files.FileRow, str]], now: int,
                       by: int | None = None) -> None:
    """``changed``: (the file as it is now, update kind) pairs."""
    refs = await files.referencing_messages_txn(txn, [f.file_id for f, _ in changed])
    by_chat: dict[int, list[tuple[str, dict[str, object]]]] = {}
    for f, kind in changed:
        shown: dict[int, list[int]] = {}
        for chat_id, msg_id in refs.get(f.file_id, ()):
            shown.setdefault(chat_id, []).append(msg_id)
        info = views.info(f)
        for chat_id, msg_ids in shown.items():
            payload: dict[str, object] = {"file_id": f.file_id, "msg_ids": msg_ids,
                                          "file": info}
            if by is not None:
                payload["by"] = by
            by_chat.setdefault(chat_id, []).append((kind, payload))
    written = await updates.append_chat_updates_many_txn(txn, by_chat, now)
    for chat_id, ups in sorted(written.items()):
        publish_chat_on_commit(txn, bus, chat_id, ups)


async def quota_changed_txn(txn: Txn, bus: Bus, user_id: int, quota: dict[str, object],
                            now: int) -> None:
    """The user's custody changed (``quota.get`` would answer differently)."""
    update = await updates.append_user_update_txn(txn, user_id, now, "quota.updated",
                                                  {"quota": quota})
    publish_user_on_commit(txn, bus, user_id, [update])
