"""Ordering and gap filling: turns pushes and catch-up answers into state changes.

Rules (DESIGN.md §3):
- a chat update applies only when ``pts == local pts + 1``; ``pts <= local`` is a
  duplicate (the server may echo our own changes); ``pts > local + 1`` is a gap,
  filled with ``sync.get_chat_difference`` before going on;
- user updates follow the same rule with ``seq``; a seq gap is filled with a full
  ``sync.get_difference``;
- a chat answered ``too_long`` is dropped and reloaded from ``message.history``.

Every public entry point holds ``lock`` for its whole duration, network calls
included, so a push can never be applied in the middle of a catch-up.  This is
deadlock-free because results are resolved by the connection's reader task,
which never takes the lock (see connection.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tidings import wire
from tidings.client.errors import ClientError, TidingsClientError
from tidings.client.events import CHAT_RELOADED, Update, UpdateHub
from tidings.client.state import (
    ChatView,
    SyncState,
    apply_chat_update,
    apply_dialog_update,
    clear_upto,
    forget_messages,
    store_message,
)

log = logging.getLogger("tidings.client")

Caller = Callable[[str, dict[str, Any] | None], Awaitable[dict[str, Any]]]

HISTORY_PAGE_MAX = 100  # the server's cap on message.history's limit


class Synchronizer:
    def __init__(
        self,
        state: SyncState,
        call: Caller,
        hub: UpdateHub,
        *,
        reload_limit: int = 100,
        difference_limit: int | None = None,
    ) -> None:
        self.state = state
        self._call = call
        self._hub = hub
        self.reload_limit = reload_limit
        self.difference_limit = difference_limit
        self.lock = asyncio.Lock()

    # -- entry points (each takes the lock) ---------------------------------

    async def catch_up(self) -> None:
        """Initialise from ``sync.get_state`` the first time, afterwards replay
        ``sync.get_difference`` until nothing is left."""
        async with self.lock:
            if self.state.initialized:
                await self._difference()
            else:
                await self._load_state()

    async def handle_push(self, push: dict[str, Any]) -> None:
        async with self.lock:
            if not self.state.initialized:
                # No base yet: the get_state that initialises us was sent after this
                # push was received, so its snapshot already contains the change.
                return
            kind = push.get("push")
            updates = [u for u in push.get("updates") or () if isinstance(u, dict)]
            if kind == "chat_updates":
                chat_id = push.get("chat_id")
                if isinstance(chat_id, int):
                    await self._apply_chat_updates(chat_id, updates)
            elif kind == "user_updates":
                await self._apply_user_updates(updates)
            # Other pushes (typing, presence) are ephemeral and carry no state.

    async def record_sent(self, message: dict[str, Any]) -> None:
        """Fold the result of our own ``message.send`` into the view: the server
        need not push it back to the device that sent it."""
        async with self.lock:
            view = self.state.find(message.get("chat_id"))
            msg_id = message.get("msg_id")
            if view is None or not isinstance(msg_id, int) or msg_id <= view.pts:
                return
            if msg_id == view.pts + 1:
                update = {
                    "pts": msg_id,
                    "kind": "message.new",
                    "date": message.get("date"),
                    "message": message,
                }
                self._apply_one(view, update)
            elif msg_id not in view.messages:
                # Ahead of our pts: show it now; the message.new update re-applies it
                # (same content) when the gap before it is filled.
                store_message(view, message)
                self._hub.changed()

    async def ensure_pts(self, chat_id: int, pts: int) -> None:
        """Make the view reach ``pts`` (the result of one of our own mutations)."""
        async with self.lock:
            view = self.state.chats.get(chat_id)
            if view is None or view.pts >= pts:
                return
            try:
                await self._fill_chat_gap(view)
            except ClientError as exc:
                # The mutation itself succeeded; refused (we just left) or cut off
                # (the reconnect's catch-up fetches the same updates) is not its failure.
                log.debug("tidings client: cannot sync chat %s: %s", chat_id, exc)

    async def set_read(self, chat_id: int, read_pts: int) -> None:
        async with self.lock:
            view = self.state.chats.get(chat_id)
            if view is not None and read_pts > view.read_pts:
                view.read_pts = read_pts
                self._hub.changed()

    async def load_history(self, chat_id: int, limit: int) -> list[dict[str, Any]]:
        """Page older messages (before the oldest one we hold) into the view."""
        async with self.lock:
            view = self.state.chats.get(chat_id)
            before = min(view.messages) if view is not None and view.messages else None
            messages = await self._fetch_history(chat_id, limit, before)
            if view is not None:
                for message in messages:
                    store_message(view, message)
                self._hub.changed()
            return messages

    # -- catch-up ------------------------------------------------------------

    async def _load_state(self) -> None:
        result = await self._call("sync.get_state", {})
        self.state.seq = _int(result.get("seq"))
        chats = result.get("chats") or {}
        for key, pts in chats.items():
            view = self.state.view(int(key))
            view.pts = _int(pts)
            view.left = False
        self.state.initialized = True
        self._hub.changed()

    async def _difference(self) -> None:
        while True:
            params: dict[str, Any] = {"seq": self.state.seq, "chats": self.state.known_pts()}
            if self.difference_limit is not None:
                params["limit"] = self.difference_limit
            result = await self._call("sync.get_difference", params)
            # Chats first: a chat.left user update then finds its view already at
            # the leave pts and needs no extra fetch.
            for entry in result.get("chats") or ():
                if isinstance(entry, dict) and isinstance(entry.get("chat_id"), int):
                    view = self.state.view(entry["chat_id"])
                    await self._apply_chat_difference(view, entry)
            before = self.state.seq
            for update in result.get("user_updates") or ():
                if isinstance(update, dict) and _int(update.get("seq")) > self.state.seq:
                    await self._apply_user_update(update)
            self.state.seq = max(self.state.seq, _int(result.get("seq")))
            self._hub.changed()
            if not result.get("more"):
                return
            if self.state.seq <= before:
                log.warning("tidings client: get_difference said more but seq stayed")
                return

    # -- chat updates ----------------------------------------------------------

    async def _apply_chat_updates(self, chat_id: int, updates: list[dict[str, Any]]) -> None:
        view = self.state.chats.get(chat_id)
        if view is None:
            # Not ours yet: the chat.joined user update creates the view and fetches
            # the chat's updates from the join on, these included.
            return
        for update in updates:
            pts = update.get("pts")
            if not isinstance(pts, int) or pts <= view.pts:
                continue
            if pts > view.pts + 1:
                await self._fill_chat_gap(view)
                if pts <= view.pts:
                    continue
                if pts > view.pts + 1:
                    # The server's difference did not reach this push; the next push
                    # or catch-up will retry rather than apply out of order.
                    log.warning("tidings client: chat %s still has a gap", chat_id)
                    return
            self._apply_one(view, update)

    async def _fill_chat_gap(self, view: ChatView) -> None:
        params: dict[str, Any] = {"chat_id": view.chat_id, "pts": view.pts}
        if self.difference_limit is not None:
            params["limit"] = self.difference_limit
        result = await self._call("sync.get_chat_difference", params)
        await self._apply_chat_difference(view, result)

    async def _apply_chat_difference(self, view: ChatView, result: dict[str, Any]) -> None:
        updates = [u for u in result.get("updates") or () if isinstance(u, dict)]
        pts = result.get("pts")
        if result.get("too_long"):
            await self._reload(view, updates, _int(pts))
            return
        for update in updates:
            if _int(update.get("pts")) > view.pts:
                self._apply_one(view, update)
        if isinstance(pts, int) and pts > view.pts:
            view.pts = pts
            self._hub.changed()

    async def _reload(self, view: ChatView, updates: list[dict[str, Any]], pts: int) -> None:
        """Too far behind to replay: forget the cached messages, take the newest
        history page(s), then the newest updates slice on top, and jump to ``pts``."""
        view.messages.clear()
        for message in await self._fetch_history(view.chat_id, self.reload_limit, None):
            store_message(view, message)
        for update in updates:
            apply_chat_update(view, update)
        view.pts = max(pts, max((_int(u.get("pts")) for u in updates), default=0))
        self._hub.emit(
            Update("chat", CHAT_RELOADED, {"pts": view.pts, "updates": updates}, view.chat_id)
        )

    async def _fetch_history(
        self, chat_id: int, limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        """Newest-first paging with ``before``; returns messages ascending by msg_id."""
        collected: list[dict[str, Any]] = []
        while len(collected) < limit:
            page_size = min(HISTORY_PAGE_MAX, limit - len(collected))
            params: dict[str, Any] = {"chat_id": chat_id, "limit": page_size}
            if before is not None:
                params["before"] = before
            result = await self._call("message.history", params)
            page = [
                wire.with_message_defaults(m)
                for m in result.get("messages") or ()
                if isinstance(m, dict) and isinstance(m.get("msg_id"), int)
            ]
            collected.extend(page)
            oldest = min((m["msg_id"] for m in page), default=None)
            if len(page) < page_size or oldest is None or (before is not None and oldest >= before):
                break
            before = oldest
        collected.sort(key=lambda m: int(m["msg_id"]))
        return collected

    def _apply_one(self, view: ChatView, update: dict[str, Any]) -> None:
        apply_chat_update(view, update)
        view.pts = _int(update.get("pts"))
        self._hub.emit(Update("chat", str(update.get("kind")), update, view.chat_id))

    # -- user updates ----------------------------------------------------------

    async def _apply_user_updates(self, updates: list[dict[str, Any]]) -> None:
        for update in updates:
            seq = update.get("seq")
            if not isinstance(seq, int) or seq <= self.state.seq:
                continue
            if seq > self.state.seq + 1:
                await self._difference()
                if seq <= self.state.seq:
                    continue
                if seq > self.state.seq + 1:
                    log.warning("tidings client: user updates still have a gap")
                    return
            await self._apply_user_update(update)

    async def _apply_user_update(self, update: dict[str, Any]) -> None:
        kind = update.get("kind")
        fetch: ChatView | None = None
        if kind == "chat.joined":
            fetch = self._on_joined(update)
        elif kind == "chat.left":
            view = self.state.find(update.get("chat_id"))
            if view is not None:
                pts = update.get("pts")
                if isinstance(pts, int) and pts > view.pts and not view.left:
                    # Take the updates up to the leave, as an always-online device saw.
                    await self._fill_gap_quietly(view)
                view.left = True
        elif kind in ("message.recalled", "message.deleted") or (
                kind == "history.cleared" and "by" in update):
            # A recall, delete or clear for everyone in a chat this user has left
            # (beyond their window there): applied as the chat update would be.
            view = self.state.find(update.get("chat_id"))
            if view is not None:
                apply_chat_update(view, update)
        elif kind == "message.hidden":
            view = self.state.find(update.get("chat_id"))
            if view is not None:
                forget_messages(view, update.get("msg_ids"), unpin=False)
        elif kind == "history.cleared":
            view = self.state.find(update.get("chat_id"))
            if view is not None:
                clear_upto(view, update.get("upto_pts"))
        elif kind == "read.updated":
            view = self.state.find(update.get("chat_id"))
            read_pts = update.get("read_pts")
            if view is not None and isinstance(read_pts, int):
                view.read_pts = max(view.read_pts, read_pts)
        elif isinstance(kind, str) and kind.startswith("dialog."):
            view = self.state.find(update.get("chat_id"))
            if view is not None:
                apply_dialog_update(view, update)
        # device.revoked and unknown kinds only move seq; a revoked current device
        # is surfaced by the reconnect (auth.token answers UNAUTHORIZED).
        self.state.seq = _int(update.get("seq"))
        self._hub.emit(Update("user", str(kind), update))
        if fetch is not None:
            # After seq moved on purpose: if this fails, the view is already listed
            # with its pts, so the next catch-up fetches the same updates.
            await self._fill_gap_quietly(fetch)

    def _on_joined(self, update: dict[str, Any]) -> ChatView | None:
        chat = update.get("chat")
        chat_id = chat.get("chat_id") if isinstance(chat, dict) else update.get("chat_id")
        if not isinstance(chat_id, int):
            return None
        view = self.state.chats.get(chat_id)
        joined_pts = update.get("joined_pts")
        start = update.get("visible_from", joined_pts)
        if view is None:
            view = self.state.view(chat_id)
            # One below what may be seen (the join, or 1 with the full history), so
            # the join itself and everything after is fetched.
            view.pts = max(start - 1, 0) if isinstance(start, int) else 0
        elif isinstance(start, int) and start - 1 < view.pts:
            view.pts = max(start - 1, 0)  # back with the full history: fetch it again
        forget = update.get("forget_before")
        if isinstance(forget, int):
            # Re-joined where only the current membership is visible.
            forget_messages(view, [m for m in view.messages if m < forget])
            view.pinned = {m for m in view.pinned if m >= forget}
        view.left = False
        read_pts = update.get("read_pts")
        if isinstance(read_pts, int):
            view.read_pts = max(view.read_pts, read_pts)
        if isinstance(chat, dict):
            view.chat = dict(chat)
        return view

    async def _fill_gap_quietly(self, view: ChatView) -> None:
        try:
            await self._fill_chat_gap(view)
        except TidingsClientError as exc:  # refused (not a member any more, ...)
            log.debug("tidings client: cannot sync chat %s: %s", view.chat_id, exc)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
