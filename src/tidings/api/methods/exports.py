"""message.export, export.status (the file itself is served by
``api.http.exports``)."""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.exports import Export, ExportStatus
from tidings.services.container import Services

registry = Registry()


@registry.method("message.export", Export)
async def export(sv: Services, caller: Caller, p: Export) -> Any:
    job_id = await sv.exports.request(require_user(caller.user_id), p.chat_id, p.format,
                                      p.since, p.until)
    return {"job_id": job_id}


@registry.method("export.status", ExportStatus)
async def status(sv: Services, caller: Caller, p: ExportStatus) -> Any:
    return await sv.exports.status(require_user(caller.user_id), p.job_id)
