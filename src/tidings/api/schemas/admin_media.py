"""``/admin/storage-report`` and ``/admin/media-whitelist``: shapes of the
operators' media API (``services.media_admin``)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class StorageReportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    top: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10  # rows of each ranking


class ChatBytes(msgspec.Struct, frozen=True):
    chat_id: int
    bytes: int
    files: int


class LargeFile(msgspec.Struct, frozen=True):
    file_id: int
    chat_id: int | None
    uploader_id: int
    kind: str
    name: str
    size: int
    status: str
    created_at: int
    expires_at: int | None


class DailyBytes(msgspec.Struct, frozen=True):
    chat_id: int | None
    day: int  # Unix time of the UTC day's start
    bytes: int
    files: int


class Amount(msgspec.Struct, frozen=True):
    files: int
    bytes: int


class KindStatus(msgspec.Struct, frozen=True):
    kind: str
    status: str
    files: int
    bytes: int


class Blobs(msgspec.Struct, frozen=True):
    count: int
    bytes: int


class StorageReport(msgspec.Struct, frozen=True):
    now: int
    top_video_chats: list[ChatBytes]
    largest_files: list[LargeFile]
    daily: list[DailyBytes]  # the last 30 days, per home chat and upload day
    expiring: dict[str, Amount]  # "7d", "30d": what expires within
    by_kind_status: list[KindStatus]
    blobs: Blobs  # deduplicated blobs actually stored


class Whitelist(msgspec.Struct, frozen=True):
    chat_ids: list[int]
    user_ids: list[int]


class WhitelistResult(msgspec.Struct, frozen=True):
    whitelisted: bool
    reevaluated_chat_ids: list[int]
