"""Shapes of the device-facing REST routes and the probes (``/files``,
``/exports``, ``/healthz``, ``/readyz``) for ``/openapi.json``."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.api.schemas.admin import ErrorDetail


class UploadResult(msgspec.Struct, frozen=True):
    file: wire.FileInfo


class FilePlaceholder(msgspec.Struct, frozen=True):
    """410: what an expired (``MEDIA_EXPIRED``) or deleted (``MEDIA_GONE``) file
    shows instead of its bytes; ``actions``: what this viewer may do."""

    status: str
    file_id: int
    kind: str
    name: str
    size: int
    sent_at: int | None
    sender_id: int
    chat_id: int | None
    msg_id: int | None
    expires_at: int | None
    actions: list[str]
    error: ErrorDetail


class Health(msgspec.Struct, frozen=True):
    status: str  # ok | ready | stopping | unavailable
    failed: dict[str, str] | None = None  # /readyz: what cannot be reached, with the error
