"""Privacy settings (``privacy.get`` / ``privacy.update``) and the checks that
enforce them and the block list, shared by every service that lets one user
reach another.

    find_me      username, search and QR lookup   everyone | contacts | nobody
    message_me   direct messages                  everyone | contacts
    add_me       being added to groups             everyone | contacts
    last_seen    online status and last seen       everyone | contacts | nobody
    read_receipts  share when I read                true | false

"contacts" means the other user is my contact (an accepted contact request).
A refusal by a setting is ``FORBIDDEN`` with ``data.privacy`` naming it and
``data.user_id`` the user whose setting it is; a refusal by a block is
``BLOCKED``. A change is a ``privacy.updated`` user update holding the keys
that changed; turning read receipts on or off also resets the read index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden
from tidings.services.notify import publish_user_on_commit
from tidings.store import privacy as store
from tidings.store import updates, users

CHOICES: dict[str, tuple[str, ...]] = {
    "find_me": ("everyone", "contacts", "nobody"),
    "message_me": ("everyone", "contacts"),
    "add_me": ("everyone", "contacts"),
    "last_seen": ("everyone", "contacts", "nobody"),
}


def allows(value: str, contact: bool) -> bool:
    return value == "everyone" or (value == "contacts" and contact)


def blocked(user_id: int) -> TidingsError:
    return TidingsError(ErrorCode.BLOCKED, f"user {user_id} has blocked you", user_id=user_id)


def refused(setting: str, user_id: int) -> TidingsError:
    return forbidden(f"user {user_id}'s privacy settings ({setting}) do not allow this",
                     privacy=setting, user_id=user_id)


def check(rel: store.Relation | None, setting: str, user_id: int) -> None:
    """Raise if ``user_id`` (the relation's owner) blocks the caller or their
    ``setting`` does not let the caller in. A missing relation (no such user)
    is the caller's business to report."""
    if rel is None:
        return
    if rel.blocks:
        raise blocked(user_id)
    value: str = getattr(rel.settings, setting)
    if not allows(value, rel.contact):
        raise refused(setting, user_id)


async def check_reach_txn(txn: Txn, caller: int, targets: list[int], setting: str) -> None:
    """``check`` for the caller against every one of ``targets`` (one query)."""
    others = [t for t in targets if t != caller]
    rels = await store.relations_txn(txn, [(t, caller) for t in others])
    for t in sorted(others):
        check(rels.get((t, caller)), setting, t)


async def require_user_txn(txn: Txn, user_id: int) -> None:
    if not await users.get_users_txn(txn, [user_id]):
        raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {user_id}", user_id=user_id)


async def direct_send_refusals_txn(txn: Txn, pairs: list[tuple[int, int]]
                                   ) -> dict[tuple[int, int], TidingsError]:
    """For (sender, peer) pairs of direct-chat sends: the refusal of each pair
    the peer does not let through (blocks the sender: ``BLOCKED``; messages
    from contacts only: ``FORBIDDEN``, ``data.privacy: "message_me"``). One
    query for the whole send batch."""
    rels = await store.relations_txn(txn, [(peer, sender) for sender, peer in pairs])
    found: dict[tuple[int, int], TidingsError] = {}
    for sender, peer in pairs:
        rel = rels.get((peer, sender))
        if rel is None:
            continue
        if rel.blocks:
            found[(sender, peer)] = blocked(peer)
        elif rel.settings.message_me == "contacts" and not rel.contact:
            found[(sender, peer)] = refused("message_me", peer)
    return found


def as_dict(s: store.Settings) -> dict[str, Any]:
    return {"find_me": s.find_me, "message_me": s.message_me, "add_me": s.add_me,
            "last_seen": s.last_seen, "read_receipts": s.read_receipts}


class PrivacyService:
    def __init__(self, db: Database, bus: Bus, clock: Clock,
                 on_read_receipts: Callable[[], None]) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._on_read_receipts = on_read_receipts

    async def get(self, user_id: int) -> dict[str, Any]:
        async def get_txn(txn: Txn) -> store.Settings:
            return await store.get_txn(txn, user_id) or store.Settings()

        return as_dict(await self._db.read("privacy_get", get_txn))

    async def update(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply the given keys (the others stay); return every setting."""
        for key, value in changes.items():
            if key in CHOICES and value not in CHOICES[key]:
                raise TidingsError(ErrorCode.INVALID_PARAMS,
                                   f"{key} must be one of {list(CHOICES[key])}", field=key)

        async def update_txn(txn: Txn) -> store.Settings:
            before = await store.get_txn(txn, user_id) or store.Settings()
            current = as_dict(before)
            changed = {k: v for k, v in changes.items() if current[k] != v}
            if not changed:
                return before
            await store.set_txn(txn, user_id, changed)
            update = await updates.append_user_update_txn(
                txn, user_id, self._clock.now(), "privacy.updated", changed)
            publish_user_on_commit(txn, self._bus, user_id, [update])
            if "read_receipts" in changed:
                txn.call_after(self._on_read_receipts)
            return store.Settings(**{**current, **changed})

        return as_dict(await self._db.write("privacy_update", update_txn))
