"""``/admin/storage-report`` and ``/admin/media-whitelist``: what holds the
storage, and whose media never expire (``services.media_admin``)."""

from __future__ import annotations

from functools import partial
from typing import Literal

import msgspec

from tidings.api.http.admin.guard import TAG, admin_guard
from tidings.api.http.operations import Call, Operation, json_operation
from tidings.api.schemas.admin_media import (
    StorageReport,
    StorageReportQuery,
    Whitelist,
    WhitelistResult,
)
from tidings.services.container import Services
from tidings.services.media_admin import MediaAdmin


def operations(sv: Services) -> list[Operation]:
    media = MediaAdmin(sv.db, sv.clock, sv.settings)
    op = partial(json_operation, tag=TAG, guard=admin_guard(sv), auth="admin")

    async def report(call: Call) -> StorageReport:
        q: StorageReportQuery = call.query
        found = await media.storage_report(sv.clock.now(), q.top)
        return msgspec.convert(found, StorageReport)

    async def whitelist(call: Call) -> Whitelist:
        return Whitelist(*await media.whitelist())

    def change(method: str, target: Literal["chat", "user"]) -> Operation:
        on = method == "PUT"

        async def run(call: Call) -> WhitelistResult:
            chats = await media.set_whitelisted(target, call.ids[f"{target}_id"], on)
            return WhitelistResult(on, chats)

        what = "Whitelist" if on else "Remove from the whitelist"
        return op(method, f"/admin/media-whitelist/{target}s/{{{target}_id}}",
                  f"{what} a {target}'s media (lifetimes are re-evaluated)", run,
                  result=WhitelistResult)

    return [
        op("GET", "/admin/storage-report", "What holds the storage: top video chats, the "
           "largest files, daily bytes, what expires soon, by kind and status, blobs",
           report, query=StorageReportQuery, result=StorageReport),
        op("GET", "/admin/media-whitelist", "The whitelisted chats and users", whitelist,
           result=Whitelist),
        *(change(m, t) for t in ("chat", "user") for m in ("PUT", "DELETE")),
    ]
