"""What operators read and set on chats (the ``/admin/*`` HTTP API): set any
chat's expiry, including a direct chat named by its two users (created if
missing, as seed 004's person channel), list chats with their expiry, read any
chat's history (a disbanded group's too) and the recall audit."""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access
from tidings.services.chats import ChatService
from tidings.store import accounts, chat_admin, chats, messages, users


def _expired(chat: wire.Chat, now: int) -> bool:
    return chat.expire_at is not None and now >= chat.expire_at


class ChatAdmin:
    def __init__(self, db: Database, chats_service: ChatService, clock: Clock) -> None:
        self._db = db
        self._chats = chats_service
        self._clock = clock

    async def set_expire(self, chat_id: int | None, user_id: int | None,
                         peer_user_id: int | None, expire_at: int | None
                         ) -> tuple[wire.Chat, bool, int]:
        """The chat after the change, whether it is expired now, and the pts of
        the change's last update. The change is ``by`` null: an operator's."""
        if chat_id is None:
            if user_id is None or peer_user_id is None:
                raise invalid("give chat_id, or user_id and peer_user_id", field="chat_id")
            await self._require_users(user_id, peer_user_id)
            chat_id = (await self._chats.direct(user_id, peer_user_id)).chat_id
        elif user_id is not None or peer_user_id is not None:
            raise invalid("give chat_id, or user_id and peer_user_id, not both",
                          field="chat_id")
        value = expire_at or None
        target = chat_id

        async def expire_txn(txn: Txn) -> tuple[wire.Chat, bool, int]:
            chat = (await chats.get_chats_txn(txn, [target], lock=True)).get(target)
            if chat is None:
                raise access.chat_missing(target)
            pts = await self._chats.set_expire_txn(txn, chat, value, None)
            final = await chats.get_chat_txn(txn, target)
            assert final is not None
            now = self._clock.now()
            return final.to_wire(), _expired(final.to_wire(), now), pts

        return await self._db.write("admin_set_chat_expire", expire_txn)

    async def list_chats(self, expired: bool | None, kind: str | None, query: str | None,
                         limit: int, cursor: int | None
                         ) -> tuple[list[tuple[wire.Chat, bool]], int | None]:
        """One page, ascending by chat_id, and the cursor of the next (None: last)."""
        now = self._clock.now()

        async def list_txn(txn: Txn) -> tuple[list[tuple[wire.Chat, bool]], int | None]:
            ids = await chat_admin.list_chat_ids_txn(
                txn, now, expired=expired, kind=kind, query=query, after=cursor or 0,
                limit=limit + 1)
            page = ids[:limit]
            rows = await chats.get_chats_txn(txn, page)
            found = [rows[i].to_wire() for i in page if i in rows]
            return [(c, _expired(c, now)) for c in found], (
                page[-1] if len(ids) > limit else None)

        return await self._db.read("admin_list_chats", list_txn)

    async def messages(self, chat_id: int, before: int | None, limit: int
                       ) -> tuple[list[wire.Message], int | None]:
        """A page of the live history, whoever is a member; and the ``before`` of
        the older page (None: this page starts at the chat's first message)."""
        async def history_txn(txn: Txn) -> tuple[list[wire.Message], int | None]:
            if await chats.get_chat_txn(txn, chat_id) is None:
                raise access.chat_missing(chat_id)
            page = await messages.newest_before_txn(txn, chat_id, 0, before or wire.INT64_MAX,
                                                    limit + 1)
            return page[-limit:], page[1].msg_id if len(page) > limit else None

        return await self._db.read("admin_chat_messages", history_txn)

    async def recall_audit(self, chat_id: int | None, cursor: tuple[int, int], limit: int
                           ) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
        """Recalled messages' original content (kept when ``recall_audit`` is on),
        by chat and msg_id; and the key after which the next page starts."""
        async def audit_txn(txn: Txn) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
            rows = await accounts.recall_audit_page_txn(txn, chat_id, cursor, limit + 1)
            page = rows[:limit]
            last = (page[-1]["chat_id"], page[-1]["msg_id"]) if len(rows) > limit else None
            return page, last

        return await self._db.read("admin_recall_audit", audit_txn)

    async def _require_users(self, *user_ids: int) -> None:
        async def users_txn(txn: Txn) -> set[int]:
            return {u.user_id for u in await users.get_users_txn(txn, list(user_ids))}

        found = await self._db.read("admin_find_users", users_txn)
        missing = sorted(set(user_ids) - found)
        if missing:
            raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {missing[0]}",
                               user_ids=missing)
