"""Typing indicators: ``typing.send`` relays an ephemeral ``typing`` push to
the chat's other members' connected devices. Nothing is written: no update,
no log; a device that was offline never learns of it, and needs not.

Per user and chat, at most one push per ``typing_throttle_seconds``: a repeat
of the same action within that time is answered (``relayed: false``) but not
relayed. ``cancel`` and a change of action (``typing`` → ``uploading``) are
always relayed. The push tells receivers ``expires_in`` (``typing_expire_seconds``):
they drop the indicator that long after the last push, so a client renews it
while the user keeps typing, and a client that vanishes leaves no indicator
behind. Chats of ``typing_max_chat_members`` members or more relay nothing.

The cost per call is one read (the chat and the caller's membership) and no
write. The throttle state is in memory, per node, and holds only the pairs
that relayed within the last throttle window (at most ``MAX_TRACKED``): with
several nodes, devices of one user on different nodes are throttled apart.
"""

from __future__ import annotations

from collections import OrderedDict

from tidings import wire
from tidings.bus.base import Bus, ChatEvent
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import access, permissions
from tidings.store.chats import ChatRow, MemberRow

ACTIONS = ("typing", "uploading", "cancel")
MAX_TRACKED = 100_000


class TypingService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        # (user_id, chat_id) -> (monotonic time, action) of the last relayed push,
        # oldest first.
        self._relayed: OrderedDict[tuple[int, int], tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._relayed)

    async def send(self, user_id: int, chat_id: int, action: str) -> bool:
        """Relay ``action`` to the other members; False when it was not relayed
        (throttled, or the chat is too large)."""
        if action not in ACTIONS:
            raise invalid(f"action must be one of {', '.join(ACTIONS)}", field="action")

        async def member_txn(txn: Txn) -> tuple[ChatRow, MemberRow]:
            return await access.load_membership_txn(txn, chat_id, user_id, active=True)

        chat, member = await self._db.read("typing", member_txn)
        # Refused where the message itself would be: nobody is about to send it.
        now = self._clock.now()
        access.check_not_expired(chat, now)
        permissions.check_send(chat, member, "file" if action == "uploading" else "text",
                               False, now)
        if chat.member_count >= self._settings.typing_max_chat_members:
            return False
        if not self._due(user_id, chat_id, action):
            return False
        expires_in = 0 if action == "cancel" else self._settings.typing_expire_seconds
        frame = wire.encode({"push": "typing", "chat_id": chat_id, "user_id": user_id,
                             "action": action, "expires_in": expires_in})
        self._bus.publish(ChatEvent(chat_id=chat_id, frame=frame, skip_user=user_id))
        return True

    def _due(self, user_id: int, chat_id: int, action: str) -> bool:
        """Whether to relay now; remembers the relay."""
        now = self._clock.monotonic()
        window = self._settings.typing_throttle_seconds
        self._forget_before(now - window)
        key = (user_id, chat_id)
        last = self._relayed.get(key)
        if action == "cancel":
            self._relayed.pop(key, None)
            return True
        if last is not None and last[1] == action and now - last[0] < window:
            return False
        self._relayed.pop(key, None)
        while len(self._relayed) >= MAX_TRACKED:
            self._relayed.popitem(last=False)
        self._relayed[key] = (now, action)  # newest last: the order stays by time
        return True

    def _forget_before(self, horizon: float) -> None:
        while self._relayed:
            key, (at, _) = next(iter(self._relayed.items()))
            if at > horizon:
                return
            del self._relayed[key]
