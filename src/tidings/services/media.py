"""The preservation tier and a chat's media settings (seed 000): the chat's
retention setting, the chat storage pool and its sponsors, renewal from the
pool, renewal requests, and the sender's personal custody.

Each change is one transaction that writes the facts, moves the usage
counters with them (``store.files.apply_txn``) and writes the updates: a
``media.*`` chat update into every chat showing the file, ``pool.updated`` /
``chat.updated`` for a chat's settings, ``quota.updated`` for the user whose
custody changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client import Counter

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.media import lifecycle
from tidings.services import access, permissions, system_messages
from tidings.services.file_views import FileViews
from tidings.services.media_updates import announce_txn, quota_changed_txn
from tidings.services.message_targets import lock_membership_txn, visible_message_txn
from tidings.services.notify import publish_chat_on_commit
from tidings.store import chat_media, chats, files, updates
from tidings.store import jobs as job_store

DAY = 86400
MIN_CHAT_MEDIA_TTL = 3600  # a custom retention is at least an hour (issue 8)
REEVALUATE_JOB = "media_reevaluate"

RENEWALS = Counter("tidings_media_renewals_total", "Files renewed from a chat pool")
PRESERVES = Counter("tidings_media_preserves_total", "Files moved into their sender's custody")
RELEASES = Counter("tidings_media_releases_total", "Files released from custody")


@dataclass(frozen=True)
class Target:
    chat: chats.ChatRow
    member: chats.MemberRow
    message: wire.Message
    file: files.FileRow


def _require_admin(chat: chats.ChatRow, member: chats.MemberRow, action: str,
                   permission: str) -> None:
    """Owners and admins (either member of a direct chat). The refusal names the
    permission (``data.permission``), as a client needs to tell it apart from
    the pool being off."""
    if not permissions.allows(chat, member, permission):
        raise forbidden(f"only the owner or an admin may {action}", permission=permission)


def reevaluate_key(chat_id: int) -> str:
    return f"{REEVALUATE_JOB}:{chat_id}"


class MediaService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 views: FileViews) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.rules = lifecycle.MediaRules.from_settings(settings)
        self._views = views

    # -- shared --------------------------------------------------------------------
    async def _target_txn(self, txn: Txn, user_id: int, chat_id: int, msg_id: int,
                          now: int | None) -> Target:
        """The chat (locked), the caller's membership, the visible message and its
        file (locked). ``now`` refuses an expired chat (None: custody, the sender's own)."""
        chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
        message = await visible_message_txn(txn, chat, member, msg_id)
        if message is None or message.recalled_at is not None:
            raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}")
        f = None if message.file_id is None else await files.get_file_txn(
            txn, message.file_id, lock=True)
        if f is None:
            raise invalid(f"message {msg_id} has no file", field="msg_id")
        if f.status == "deleted":
            raise TidingsError(ErrorCode.MEDIA_GONE, f"the file of message {msg_id} is gone",
                               file_id=f.file_id)
        return Target(chat, member, message, f)

    async def pool_capacity_txn(self, txn: Txn, chat_id: int, media: chat_media.ChatMedia
                                ) -> lifecycle.QuotaStatus:
        capacity = media.pool_capacity + await chat_media.sponsored_bytes_txn(txn, chat_id)
        return lifecycle.quota_status(capacity, media.pool_used, media.pool_files)

    async def custody_txn(self, txn: Txn, user_id: int, *, lock: bool = False
                          ) -> lifecycle.QuotaStatus:
        level, used, count = await files.custody_usage_txn(txn, user_id, lock=lock)
        return lifecycle.quota_status(self.rules.quota_bytes(level), used, count)

    async def lifetimes_txn(self, txn: Txn, found: list[files.FileRow]
                            ) -> dict[int, lifecycle.Lifetime]:
        """``lifetime_txn`` for a batch: two queries, whatever its size."""
        policies = await chat_media.get_many_txn(
            txn, sorted({f.chat_id for f in found if f.chat_id is not None}))
        users = await chat_media.user_media_txn(txn, sorted({f.uploader_id for f in found}))
        out = {}
        for f in found:
            policy = None if f.chat_id is None else policies[f.chat_id].policy
            level, whitelisted = users.get(f.uploader_id, (0, False))
            out[f.file_id] = lifecycle.compute_expire_at(
                self.rules, policy, f.kind, level, f.created_at,
                uploader_whitelisted=whitelisted)
        return out

    async def lifetime_txn(self, txn: Txn, f: files.FileRow) -> lifecycle.Lifetime:
        """The lifetime a file has by the rules now: its home chat's policy, its
        uploader's entitlement and whitelisting."""
        policy = None if f.chat_id is None else (await chat_media.get_txn(txn, f.chat_id)).policy
        level, whitelisted = (await chat_media.user_media_txn(txn, [f.uploader_id])).get(
            f.uploader_id, (0, False))
        return lifecycle.compute_expire_at(self.rules, policy, f.kind, level, f.created_at,
                                           uploader_whitelisted=whitelisted)

    async def bind_home_txn(self, txn: Txn, f: files.FileRow, chat_id: int, now: int
                            ) -> files.FileRow:
        """The first chat a file is sent into becomes its home: the file's lifetime
        follows that chat's retention from now on (forwards share the file)."""
        homed = msgspec.structs.replace(f, chat_id=chat_id)
        life = await self.lifetime_txn(txn, homed)
        if f.preserved_by in ("sender", "chat_pool"):
            life = lifecycle.Lifetime(f.expires_at, f.preserved_by)
        await files.set_home_txn(txn, f.file_id, chat_id, life.expires_at, life.preserved_by,
                                 now)
        return msgspec.structs.replace(
            homed, expires_at=life.expires_at, preserved_by=life.preserved_by,
            preserved_at=f.preserved_at if f.preserved_by else (now if life.preserved_by
                                                                 else None))

    # -- the chat's retention setting -------------------------------------------------
    async def set_storage_policy(self, user_id: int, chat_id: int, media_ttl: int | None,
                                 cleanup: bool | None) -> int:
        """Owners and admins (either member of a direct chat) set how long the
        chat keeps media (None: by the kinds' lifetimes) and whether it cleans up
        at all. Text and structure are never touched. A system message and a
        ``chat.updated`` update; the chat's existing files are re-evaluated by a
        job."""
        if media_ttl is not None and media_ttl < MIN_CHAT_MEDIA_TTL:
            raise invalid(f"media_ttl_seconds must be null (forever) or at least "
                          f"{MIN_CHAT_MEDIA_TTL}", field="media_ttl_seconds")

        async def policy_txn(txn: Txn) -> int:
            now = self._clock.now()
            chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
            _require_admin(chat, member, "change the chat's media retention", "storage")
            current = await chat_media.get_txn(txn, chat_id, lock=True)
            keep = current.cleanup if cleanup is None else cleanup
            await chat_media.set_policy_txn(txn, chat_id, media_ttl, keep)
            storage = {"media_ttl_seconds": media_ttl, "cleanup": keep}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("chat.updated", {"storage": storage, "by": user_id})])
            ups.append(await system_messages.write_txn(txn, chat_id, user_id,
                                                       "storage.changed", now, **storage))
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            await job_store.cancel_txn(txn, reevaluate_key(chat_id))
            await job_store.schedule_txn(txn, REEVALUATE_JOB, {"chat_id": chat_id, "after": 0},
                                         now, now, dedupe_key=reevaluate_key(chat_id))
            return int(ups[-1]["pts"])

        return await self._db.write("set_storage_policy", policy_txn)

    async def storage_policy(self, user_id: int, chat_id: int) -> dict[str, Any]:
        async def get_txn(txn: Txn) -> dict[str, Any]:
            await access.load_membership_txn(txn, chat_id, user_id, active=False)
            media = await chat_media.get_txn(txn, chat_id)
            return {"media_ttl_seconds": media.media_ttl, "cleanup": media.cleanup,
                    "whitelisted": media.whitelisted}

        return await self._db.read("storage_policy", get_txn)

    async def reevaluate_txn(self, txn: Txn, chat_id: int, after: int, now: int
                             ) -> int | None:
        """Give the chat's files (its home) the lifetime the rules give them now,
        ``media_expiry_batch_size`` at a time; returns the cursor to go on from,
        or None when done. Files in custody, pools or subscription keep theirs."""
        batch = await files.files_of_chat_txn(txn, chat_id, after,
                                              self._settings.media_expiry_batch_size)
        changed = []
        for f in batch:
            if f.preserved_by in ("sender", "chat_pool") or f.pool_chat_id is not None:
                continue
            life = await self.lifetime_txn(txn, f)
            # An expired file whose bytes are still kept comes back when the new
            # rules keep it longer (keep media, whitelisting, a longer retention).
            revive = f.status == "expired" and (life.expires_at is None
                                                or life.expires_at > now)
            if revive or (life.expires_at, life.preserved_by) != (f.expires_at,
                                                                  f.preserved_by):
                new = await files.apply_txn(txn, f, files.Transition(
                    "active" if revive else f.status, life.expires_at,
                    None if revive else f.expired_at, life.preserved_by,
                    now if life.preserved_by else None, f.pool_chat_id))
                changed.append(new)
        if changed:  # a new deadline is visible (expires_at, expiring_soon)
            await announce_txn(txn, self._bus, self._views,
                               [(f, "media.updated") for f in changed], now)
        if len(batch) < self._settings.media_expiry_batch_size:
            return None
        return batch[-1].file_id

    # -- the chat storage pool -------------------------------------------------------
    async def set_pool(self, user_id: int, chat_id: int, enabled: bool,
                       capacity: int | None) -> dict[str, Any]:
        async def pool_txn(txn: Txn) -> dict[str, Any]:
            now = self._clock.now()
            chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
            _require_admin(chat, member, "manage the chat storage pool", "pool")
            await chat_media.get_txn(txn, chat_id, lock=True)
            await chat_media.set_pool_txn(txn, chat_id, enabled, capacity)
            return await self.pool_changed_txn(txn, chat_id, user_id, now)

        return await self._db.write("set_pool", pool_txn)

    async def sponsor(self, user_id: int, chat_id: int, size: int) -> dict[str, Any]:
        if size <= 0:
            raise invalid("bytes must be positive", field="bytes")

        async def sponsor_txn(txn: Txn) -> dict[str, Any]:
            now = self._clock.now()
            await lock_membership_txn(txn, chat_id, user_id, now=now)
            media = await chat_media.get_txn(txn, chat_id, lock=True)
            if not media.pool_enabled:
                raise forbidden("the chat storage pool is not enabled", permission="pool")
            capacity = await self.pool_capacity_txn(txn, chat_id, media)
            if (capacity.quota or 0) + size > wire.INT64_MAX:
                raise invalid("the pool cannot grow that large", field="bytes")
            await chat_media.add_sponsor_txn(txn, chat_id, user_id, size)
            return await self.pool_changed_txn(txn, chat_id, user_id, now)

        return await self._db.write("sponsor_pool", sponsor_txn)

    async def pool_changed_txn(self, txn: Txn, chat_id: int, by: int | None, now: int
                                ) -> dict[str, Any]:
        pool = await self._pool_txn(txn, chat_id)
        summary = {k: pool[k] for k in ("enabled", "capacity", "used", "files")}
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now, [("pool.updated", {"pool": summary, "by": by})])
        publish_chat_on_commit(txn, self._bus, chat_id, ups)
        return {**pool, "pts": int(ups[-1]["pts"])}

    async def _pool_txn(self, txn: Txn, chat_id: int) -> dict[str, Any]:
        media = await chat_media.get_txn(txn, chat_id)
        status = await self.pool_capacity_txn(txn, chat_id, media)
        by_kind = await chat_media.pool_by_kind_txn(txn, chat_id)
        sponsors = await chat_media.sponsors_txn(txn, chat_id)
        return {"enabled": media.pool_enabled, "capacity": status.quota, "used": status.used,
                "free": status.free, "files": status.files,
                "by_kind": {k: {"count": c, "bytes": b} for k, (c, b) in by_kind.items()},
                "sponsors": [{"user_id": u, "bytes": b} for u, b in sponsors]}

    async def pool(self, user_id: int, chat_id: int) -> dict[str, Any]:
        async def get_txn(txn: Txn) -> dict[str, Any]:
            await access.load_membership_txn(txn, chat_id, user_id, active=True)
            return await self._pool_txn(txn, chat_id)

        return await self._db.read("get_pool", get_txn)

    # -- renewal ---------------------------------------------------------------------
    async def renew(self, user_id: int, chat_id: int, msg_id: int, days: int | None,
                    source: str) -> wire.FileInfo:
        """Owners and admins renew a file from the chat pool: ``days`` more (from
        now, or from its deadline if later), or kept for good with ``days`` None
        (``preserved_by: chat_pool``). The file takes room in the pool while it
        holds bytes; ``POOL_FULL`` when there is none."""
        self._check_days(days)
        if source != "pool":
            raise invalid("source must be 'pool'", field="source")

        async def renew_txn(txn: Txn) -> wire.FileInfo:
            now = self._clock.now()
            t = await self._target_txn(txn, user_id, chat_id, msg_id, now)
            _require_admin(t.chat, t.member, "renew media from the chat pool", "pool")
            new = await self._renew_txn(txn, t, user_id, days, now)
            return await self._views.for_viewer_txn(txn, new, user_id, chat_id)

        return await self._db.write("renew_media", renew_txn)

    def _check_days(self, days: int | None) -> None:
        top = self._settings.media_renew_max_days
        if days is not None and not 1 <= days <= top:
            raise invalid(f"days must be 1 to {top}, or null to keep the file for good",
                          field="days")

    async def _renew_txn(self, txn: Txn, t: Target, by: int, days: int | None, now: int
                         ) -> files.FileRow:
        f = t.file
        # Also a file its chat keeps (cleanup off, whitelisted) or the pool keeps
        # for good: a "renewal" would give it a deadline it does not have.
        if f.expires_at is None and f.status == "active":
            raise invalid("this file does not expire", field="msg_id",
                          preserved_by=f.preserved_by)
        media = await chat_media.get_txn(txn, t.chat.chat_id, lock=True)
        if not media.pool_enabled:
            raise forbidden("the chat storage pool is not enabled", permission="pool")
        pool = await self.pool_capacity_txn(txn, t.chat.chat_id, media)
        in_pool = f.pool_chat_id == t.chat.chat_id
        if not in_pool and not pool.fits(f.size):
            raise TidingsError(ErrorCode.POOL_FULL, "the chat storage pool has no room for "
                               "this file", capacity=pool.quota, used=pool.used, size=f.size)
        if days is None:
            expires_at, preserved_by = None, "chat_pool"
        else:
            expires_at = max(now, f.expires_at or now) + days * DAY
            preserved_by = None
        new = await files.apply_txn(txn, f, files.Transition(
            "active", expires_at, None, preserved_by, now if preserved_by else None,
            t.chat.chat_id))
        await announce_txn(txn, self._bus, self._views, [(new, "media.renewed")], now, by)
        if not in_pool:  # the pool's use changed (and that of the one it left)
            for pool_chat in sorted({t.chat.chat_id, f.pool_chat_id or t.chat.chat_id}):
                await self.pool_changed_txn(txn, pool_chat, by, now)
        RENEWALS.inc()
        return new

    async def request_renewal(self, user_id: int, chat_id: int, msg_id: int) -> dict[str, Any]:
        async def request_txn(txn: Txn) -> dict[str, Any]:
            now = self._clock.now()
            t = await self._target_txn(txn, user_id, chat_id, msg_id, now)
            if t.file.expires_at is None and t.file.status == "active":
                raise invalid("this file does not expire", field="msg_id")
            req = await chat_media.add_request_txn(txn, chat_id, msg_id, t.file.file_id,
                                                   user_id, now)
            if req is None:
                raise TidingsError(ErrorCode.RATE_LIMITED, "you already asked to renew this "
                                   "file; an owner or admin decides", retry_after=0)
            ups = await updates.append_chat_updates_txn(txn, chat_id, now, [(
                "media.renewal_requested", {"request_id": req.request_id, "msg_id": msg_id,
                                            "file_id": t.file.file_id, "user_id": user_id})])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return {"request_id": req.request_id, "pts": int(ups[-1]["pts"])}

        return await self._db.write("request_renewal", request_txn)

    async def renewal_requests(self, user_id: int, chat_id: int, state: str, limit: int
                               ) -> list[dict[str, Any]]:
        async def list_txn(txn: Txn) -> list[dict[str, Any]]:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            _require_admin(chat, member, "see renewal requests", "pool")
            rows = await chat_media.list_requests_txn(txn, chat_id, state, limit)
            return [{"request_id": r.request_id, "msg_id": r.msg_id, "file_id": r.file_id,
                     "user_id": r.user_id, "created_at": r.created_at, "state": r.state,
                     "decided_by": r.decided_by, "decided_at": r.decided_at} for r in rows]

        return await self._db.read("renewal_requests", list_txn)

    async def decide_renewal(self, user_id: int, chat_id: int, request_id: int, approve: bool,
                             days: int | None) -> dict[str, Any]:
        """Approving renews from the pool (as ``media.renew``) and closes the
        request; rejecting only closes it."""
        self._check_days(days)

        async def decide_txn(txn: Txn) -> dict[str, Any]:
            now = self._clock.now()
            chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
            _require_admin(chat, member, "decide renewal requests", "pool")
            req = await chat_media.get_request_txn(txn, chat_id, request_id)
            if req is None or req.state != "pending":
                raise TidingsError(ErrorCode.NOT_FOUND, f"no pending request {request_id}")
            state = "rejected"
            if approve:
                t = await self._target_txn(txn, user_id, chat_id, req.msg_id, now)
                await self._renew_txn(txn, t, user_id, days, now)
                state = "approved"
            await chat_media.decide_request_txn(txn, request_id, state, user_id, now)
            ups = await updates.append_chat_updates_txn(txn, chat_id, now, [(
                "media.renewal_decided", {"request_id": request_id, "msg_id": req.msg_id,
                                          "state": state, "by": user_id})])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return {"request_id": request_id, "state": state, "pts": int(ups[-1]["pts"])}

        return await self._db.write("decide_renewal", decide_txn)

    # -- personal custody --------------------------------------------------------------
    async def preserve(self, user_id: int, chat_id: int, msg_id: int) -> wire.FileInfo:
        """The file's sender moves it into their custody: no expiry, counted
        against their quota (``QUOTA_EXCEEDED``), out of the chat pool."""
        async def preserve_txn(txn: Txn) -> wire.FileInfo:
            now = self._clock.now()
            t = await self._target_txn(txn, user_id, chat_id, msg_id, None)
            f = t.file
            if f.uploader_id != user_id:
                raise forbidden("only the file's sender can take it into custody")
            if f.preserved_by == "sender":
                return await self._views.for_viewer_txn(txn, f, user_id, chat_id)
            # Locked: concurrent preserves of this sender's files in other chats
            # (other chat and file locks) must not both pass the check.
            quota = await self.custody_txn(txn, user_id, lock=True)
            if not quota.fits(f.size):
                raise TidingsError(ErrorCode.QUOTA_EXCEEDED, "your custody space is full",
                                   quota=quota.quota, used=quota.used, size=f.size)
            new = await files.apply_txn(txn, f, files.Transition(
                "active", None, None, "sender", now, None))
            await announce_txn(txn, self._bus, self._views, [(new, "media.preserved")], now,
                               user_id)
            if f.pool_chat_id is not None:  # it no longer takes room in that pool
                await self.pool_changed_txn(txn, f.pool_chat_id, user_id, now)
            await quota_changed_txn(txn, self._bus, user_id,
                                    (await self.custody_txn(txn, user_id)).to_wire(), now)
            PRESERVES.inc()
            return await self._views.for_viewer_txn(txn, new, user_id, chat_id)

        return await self._db.write("preserve_media", preserve_txn)

    async def release(self, user_id: int, chat_id: int, msg_id: int) -> wire.FileInfo:
        """Back to the normal lifecycle: the lifetime the rules give it, counted
        from its upload (it may be due at once: then it expires at the next
        run of the expiry job, and its bytes stay for the grace period)."""
        async def release_txn(txn: Txn) -> wire.FileInfo:
            now = self._clock.now()
            t = await self._target_txn(txn, user_id, chat_id, msg_id, None)
            f = t.file
            if f.uploader_id != user_id or f.preserved_by != "sender":
                raise forbidden("only a file in your custody can be released")
            life = await self.lifetime_txn(txn, f)
            new = await files.apply_txn(txn, f, files.Transition(
                "active", life.expires_at, None, life.preserved_by,
                now if life.preserved_by else None, None))
            await announce_txn(txn, self._bus, self._views, [(new, "media.released")], now,
                               user_id)
            await quota_changed_txn(txn, self._bus, user_id,
                                    (await self.custody_txn(txn, user_id)).to_wire(), now)
            RELEASES.inc()
            return await self._views.for_viewer_txn(txn, new, user_id, chat_id)

        return await self._db.write("release_media", release_txn)

    async def quota(self, user_id: int, limit: int) -> dict[str, Any]:
        async def quota_txn(txn: Txn) -> dict[str, Any]:
            status = await self.custody_txn(txn, user_id)
            rows = await files.custody_files_txn(txn, user_id, limit)
            return {**status.to_wire(), "files": [self._views.info(f) for f in rows]}

        return await self._db.read("quota", quota_txn)
