"""The media lifecycle as pure functions (seed 000, DESIGN §5): when a file
expires, whether an upload is allowed, how full a quota or a pool is, and what
a viewer may do with a file. No I/O and no clock: the services pass ``now``
and the state, so every rule is table-tested on its own.

Payment only changes parameters, never the path taken (seed 000): an
entitlement level picks a lifetime factor and a quota factor from
``MediaRules``, and the same code runs for every level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("image", "video", "audio", "file")
STATUSES = ("active", "expired", "deleted", "archived")
PRESERVERS = ("chat_pool", "sender", "subscription")
# A file in one of these states still has its bytes and takes room in a pool or
# a custody quota; a deleted one has neither.
HOLDS_BYTES = ("active", "expired")

ACTION_RENEW_FROM_POOL = "renew_from_pool"
ACTION_PRESERVE = "preserve"
ACTION_RELEASE = "release"
ACTION_REQUEST_RENEWAL = "request_renewal"


@dataclass(frozen=True)
class MediaRules:
    """The parameters of the lifecycle, from the settings."""

    kind_ttl: Mapping[str, int]  # seconds a file of each kind lives by default
    ttl_factors: tuple[float, ...]  # per entitlement level; 0 = no expiry of its own
    quota_factors: tuple[float, ...]  # per entitlement level
    quota_default_bytes: int
    max_upload_bytes: int
    retention_enabled: bool = True
    quota_enabled: bool = True

    @classmethod
    def from_settings(cls, s: Any) -> MediaRules:
        return cls(
            kind_ttl={"image": s.media_ttl_image_seconds, "video": s.media_ttl_video_seconds,
                      "audio": s.media_ttl_audio_seconds, "file": s.media_ttl_file_seconds},
            ttl_factors=tuple(s.entitlement_ttl_factors),
            quota_factors=tuple(s.entitlement_quota_factors),
            quota_default_bytes=s.quota_default_bytes, max_upload_bytes=s.max_upload_bytes,
            retention_enabled=s.retention_enabled, quota_enabled=s.quota_enabled)

    def level(self, entitlement_level: int) -> int:
        """Levels above the highest configured one get the highest one's parameters."""
        return max(0, min(entitlement_level, len(self.ttl_factors) - 1))

    def quota_bytes(self, entitlement_level: int) -> int | None:
        """A user's personal custody space; None = unlimited (quotas switched off)."""
        if not self.quota_enabled:
            return None
        return int(self.quota_default_bytes * self.quota_factors[self.level(entitlement_level)])


@dataclass(frozen=True)
class ChatPolicy:
    """A chat's media settings. ``media_ttl_seconds`` None is "forever" (the
    default: the kind's lifetime applies); ``cleanup`` False is the owner's
    "keep media" switch; ``whitelisted`` is the operator's."""

    media_ttl_seconds: int | None = None
    cleanup: bool = True
    whitelisted: bool = False


FOREVER = ChatPolicy()


@dataclass(frozen=True)
class Lifetime:
    expires_at: int | None  # None: does not expire
    preserved_by: str | None  # "subscription" when the uploader's level keeps it


def compute_expire_at(rules: MediaRules, policy: ChatPolicy | None, kind: str,
                      uploader_entitlement: int, uploaded_at: int, *,
                      uploader_whitelisted: bool = False) -> Lifetime:
    """When a file expires, counted from its upload.

    The kind's default lifetime, times the uploader's entitlement factor (0:
    none of its own), shortened by the chat's retention when that is shorter:
    a chat setting only ever shortens media lifetimes (seed 000), and an
    entitlement does not override a chat's rules. Frozen (never expires) when
    retention is switched off, the chat keeps its media or is whitelisted, or
    the uploader is whitelisted.
    """
    if kind not in rules.kind_ttl:
        raise ValueError(f"unknown media kind {kind!r}")
    policy = policy or FOREVER
    if (not rules.retention_enabled or not policy.cleanup or policy.whitelisted
            or uploader_whitelisted):
        return Lifetime(None, None)
    factor = rules.ttl_factors[rules.level(uploader_entitlement)]
    own = None if factor == 0 else max(1, int(rules.kind_ttl[kind] * factor))
    chat = policy.media_ttl_seconds
    ttl = own if chat is None else chat if own is None else min(own, chat)
    if ttl is None:
        return Lifetime(None, "subscription")
    return Lifetime(uploaded_at + ttl, None)


@dataclass(frozen=True)
class UploadDecision:
    allowed: bool
    reason: str | None = None  # why not, for the error message
    limit: int | None = None


def can_upload_media(rules: MediaRules, kind: str, size: int) -> UploadDecision:
    """Whether an upload of ``size`` bytes of ``kind`` may be stored. Uploads are
    not tied to a chat (a file is sent afterwards, possibly to several chats);
    what a member may send into a chat is decided at send."""
    if kind not in rules.kind_ttl:
        return UploadDecision(False, f"kind must be one of {', '.join(KINDS)}")
    if size > rules.max_upload_bytes:
        return UploadDecision(False, f"uploads are at most {rules.max_upload_bytes} bytes",
                              rules.max_upload_bytes)
    return UploadDecision(True)


@dataclass(frozen=True)
class QuotaStatus:
    """A quota (a user's custody) or a capacity (a chat pool) and its use."""

    quota: int | None  # None: unlimited
    used: int
    files: int

    @property
    def free(self) -> int | None:
        return None if self.quota is None else max(0, self.quota - self.used)

    def fits(self, size: int) -> bool:
        return self.quota is None or self.used + size <= self.quota

    def to_wire(self) -> dict[str, Any]:
        return {"quota": self.quota, "used": self.used, "free": self.free, "count": self.files}


def quota_status(quota: int | None, used: int, files: int) -> QuotaStatus:
    return QuotaStatus(quota, max(0, used), max(0, files))


@dataclass(frozen=True)
class Viewer:
    """Who looks at a file, as the actions need it."""

    user_id: int
    is_admin: bool  # owner or admin of the chat the message is in
    pool_enabled: bool  # that chat's pool


def file_actions(viewer: Viewer, *, uploader_id: int, status: str, expires_at: int | None,
                 preserved_by: str | None) -> list[str]:
    """What this viewer may do with the file now, in the order the client shows
    the buttons (seed 000): owners and admins renew from the chat pool, the
    sender moves it into (or out of) their custody, other members ask for a
    renewal. Nothing once the bytes are gone."""
    if status not in HOLDS_BYTES:
        return []
    actions: list[str] = []
    renewable = expires_at is not None or status == "expired"
    if viewer.is_admin and viewer.pool_enabled and renewable:
        actions.append(ACTION_RENEW_FROM_POOL)
    if viewer.user_id == uploader_id:
        actions.append(ACTION_RELEASE if preserved_by == "sender" else ACTION_PRESERVE)
    elif not viewer.is_admin and renewable:
        actions.append(ACTION_REQUEST_RENEWAL)
    return actions


def expiring_soon(status: str, expires_at: int | None, now: int, window: int) -> bool:
    return status == "active" and expires_at is not None and expires_at - now <= window
