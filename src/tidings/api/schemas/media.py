"""Parameters of the media lifecycle methods (issue 8): ``chat.set_storage_policy``,
``pool.*``, ``media.*`` and ``quota.get``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from tidings.api.schemas import Params
from tidings.wire import Id, Int64

Days = Annotated[int, msgspec.Meta(ge=1, le=36500)]
Bytes = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
ListLimit = Annotated[int, msgspec.Meta(ge=1, le=500)]


class SetStoragePolicy(Params, frozen=True):
    chat_id: Id
    # null = forever (the kinds' lifetimes); else seconds, at least 3600
    media_ttl_seconds: Int64 | None = None
    cleanup: bool | None = None  # false = keep media (no expiry) in this chat


class PoolEnable(Params, frozen=True):
    chat_id: Id
    capacity_bytes: Annotated[int, msgspec.Meta(ge=0, le=2**62)] | None = None


class PoolSponsor(Params, frozen=True):
    chat_id: Id
    bytes: Int64  # checked positive by the service, with a clear message


class Renew(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    days: Days | None = 30  # null = keep for good (preserved_by chat_pool)
    source: Literal["pool"] = "pool"


class RenewalRequests(Params, frozen=True):
    chat_id: Id
    state: Literal["pending", "approved", "rejected"] = "pending"
    limit: ListLimit = 100


class DecideRenewal(Params, frozen=True):
    chat_id: Id
    request_id: Id
    days: Days | None = 30


class QuotaGet(Params, frozen=True):
    limit: ListLimit = 100
