"""Operator actions on media (issue 8 items 5, 6, 11, 12): repair the usage
counters from ``files``, the storage report, entitlements and the whitelist.

A change of entitlement or whitelisting changes lifetimes (seed 000: payment
only changes parameters), so the affected files are re-evaluated by the
``media_reevaluate`` job, as after a chat's retention change. For a chat that
is the chat's files; for a user it is every home chat of one of the user's
files that still hold bytes — an approximation: the job re-evaluates every
file homed there, which by the rules changes only the user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services.media import REEVALUATE_JOB, reevaluate_key
from tidings.store import accounts, chat_media, chats, files, media_stats
from tidings.store import jobs as job_store

DAY = 86400
REPORT_DAYS = 30
EXPIRY_WINDOWS = (7, 30)  # days ahead the report looks for deadlines
Scope = Literal["pool", "custody"]


@dataclass(frozen=True)
class Difference:
    """A counter that disagrees with ``files``: a chat's pool or a user's custody."""

    scope: Scope
    owner_id: int  # chat_id of a pool, user_id of a custody
    counted_bytes: int
    counted_files: int
    recomputed_bytes: int
    recomputed_files: int


def differences(counted: files.Usage, recomputed: files.Usage) -> list[Difference]:
    return [*_differ("pool", counted.pools, recomputed.pools),
            *_differ("custody", counted.custody, recomputed.custody)]


def _differ(scope: Scope, have: dict[int, tuple[int, int]], want: dict[int, tuple[int, int]]
            ) -> list[Difference]:
    found = []
    for owner in sorted(have.keys() | want.keys()):
        a, b = have.get(owner, (0, 0)), want.get(owner, (0, 0))
        if a != b:
            found.append(Difference(scope, owner, a[0], a[1], b[0], b[1]))
    return found


class MediaAdmin:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    # -- counters ----------------------------------------------------------------------
    async def recompute_usage(self, apply: bool) -> list[Difference]:
        """Every pool and custody counter that differs from what ``files`` says;
        with ``apply``, those counters are overwritten."""
        async def read_txn(txn: Txn) -> list[Difference]:
            return differences(await files.usage_counters_txn(txn),
                               await files.usage_from_files_txn(txn))

        found = await self._db.read("media_usage_check", read_txn)
        if not apply or not found:
            return found
        return await self._db.write("media_usage_repair", lambda txn: self._repair_txn(
            txn, found))

    async def _repair_txn(self, txn: Txn, seen: list[Difference]) -> list[Difference]:
        """Lock the counters found wrong, then recount: a file change that moves a
        locked counter waits, and either committed before the recount (and is in
        it) or adds its own delta after this commit. Returns what was fixed."""
        pools = [d.owner_id for d in seen if d.scope == "pool"]
        users = [d.owner_id for d in seen if d.scope == "custody"]
        await media_stats.lock_pool_counters_txn(txn, pools)
        await media_stats.lock_custody_counters_txn(txn, users)
        counted = await files.usage_counters_txn(txn)
        recomputed = await files.usage_from_files_txn(txn)
        fixed = [d for d in differences(counted, recomputed)
                 if d.owner_id in (pools if d.scope == "pool" else users)]
        for d in fixed:
            if d.scope == "pool":
                await media_stats.set_pool_usage_txn(txn, d.owner_id, d.recomputed_bytes,
                                                     d.recomputed_files)
            else:
                await media_stats.set_custody_txn(txn, d.owner_id, d.recomputed_bytes,
                                                  d.recomputed_files)
        return fixed

    # -- the storage report ------------------------------------------------------------
    async def storage_report(self, now: int, top: int) -> dict[str, Any]:
        """What holds the storage, JSON-ready: ``top_video_chats``, ``largest_files``
        (``top`` each), ``daily`` bytes per home chat per upload day over the last
        30 days (the ``top`` chats of that period), ``expiring`` in the next 7 and
        30 days, ``by_kind_status`` and the deduplicated ``blobs``."""
        async def report_txn(txn: Txn) -> dict[str, Any]:
            since = (now // DAY - REPORT_DAYS + 1) * DAY
            expiring = {}
            for days in EXPIRY_WINDOWS:
                count, size = await media_stats.expiring_txn(txn, now + days * DAY)
                expiring[f"{days}d"] = {"files": count, "bytes": size}
            blobs, blob_bytes = await media_stats.blobs_txn(txn)
            return {
                "now": now,
                "top_video_chats": [
                    {"chat_id": c, "bytes": b, "files": n}
                    for c, b, n in await media_stats.top_chats_by_kind_txn(txn, "video", top)],
                "largest_files": [
                    {"file_id": f.file_id, "chat_id": f.chat_id, "uploader_id": f.uploader_id,
                     "kind": f.kind, "name": f.name, "size": f.size, "status": f.status,
                     "created_at": f.created_at, "expires_at": f.expires_at}
                    for f in await media_stats.largest_files_txn(txn, top)],
                "daily": [
                    {"chat_id": c, "day": day, "bytes": b, "files": n}
                    for c, day, b, n in await media_stats.daily_bytes_txn(txn, since, top)],
                "expiring": expiring,
                "by_kind_status": [
                    {"kind": k, "status": s, "files": n, "bytes": b}
                    for k, s, n, b in await media_stats.by_kind_status_txn(txn)],
                "blobs": {"count": blobs, "bytes": blob_bytes},
            }

        return await self._db.read("media_storage_report", report_txn)

    # -- entitlements and the whitelist ------------------------------------------------
    async def set_entitlement(self, user_id: int, level: int) -> list[int]:
        """Set a user's entitlement level; returns the chats whose files are
        re-evaluated."""
        levels = len(self._settings.entitlement_ttl_factors)
        if not 0 <= level < levels:
            raise invalid(f"level must be 0 to {levels - 1}", field="level")

        async def entitle_txn(txn: Txn) -> list[int]:
            if not await chat_media.set_entitlement_txn(txn, user_id, level):
                raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {user_id}")
            return await self._reevaluate_uploader_txn(txn, user_id)

        return await self._db.write("media_set_entitlement", entitle_txn)

    async def set_whitelisted(self, target: Literal["chat", "user"], target_id: int,
                              on: bool) -> list[int]:
        """Whitelist (or not) a chat's or a user's media; returns the chats whose
        files are re-evaluated."""
        async def chat_txn(txn: Txn) -> list[int]:
            if await chats.get_chat_txn(txn, target_id) is None:
                raise TidingsError(ErrorCode.CHAT_NOT_FOUND, f"no chat {target_id}")
            await chat_media.set_whitelisted_txn(txn, target_id, on)
            await self._reevaluate_txn(txn, target_id)
            return [target_id]

        async def user_txn(txn: Txn) -> list[int]:
            if not await chat_media.set_user_whitelisted_txn(txn, target_id, on):
                raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {target_id}")
            return await self._reevaluate_uploader_txn(txn, target_id)

        return await self._db.write(f"media_whitelist_{target}",
                                    chat_txn if target == "chat" else user_txn)

    async def whitelist(self) -> tuple[list[int], list[int]]:
        """The whitelisted chat ids and user ids, ascending."""
        async def read_txn(txn: Txn) -> tuple[list[int], list[int]]:
            return await accounts.whitelist_txn(txn)

        return await self._db.read("media_whitelist", read_txn)

    async def _reevaluate_uploader_txn(self, txn: Txn, user_id: int) -> list[int]:
        homes = await media_stats.home_chats_of_uploader_txn(txn, user_id)
        for chat_id in homes:
            await self._reevaluate_txn(txn, chat_id)
        return homes

    async def _reevaluate_txn(self, txn: Txn, chat_id: int) -> None:
        """Restart the chat's re-evaluation from its first file (as a retention
        change does): a run in progress may already be past changed files."""
        now = self._clock.now()
        await job_store.cancel_txn(txn, reevaluate_key(chat_id))
        await job_store.schedule_txn(txn, REEVALUATE_JOB, {"chat_id": chat_id, "after": 0},
                                     now, now, dedupe_key=reevaluate_key(chat_id))
