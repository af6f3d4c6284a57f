"""The webhook and probe settings, a group of fields that
``tidings.config.Settings`` inherits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MIN_WEBHOOK_SECRET_LENGTH = 16
WebhookEvent = Literal["message.sent", "message.undelivered", "user.online", "user.offline"]


class WebhookSettings(BaseModel):
    # -- webhooks (tidings.jobs.webhooks): events POSTed to a business backend
    webhook_url: str | None = Field(
        None, description="http(s) URL the server POSTs event batches to; unset, no event "
        "is recorded and the send path does no extra work")
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key of the X-Tidings-Signature header, at least 16 "
        "characters; required with webhook_url")
    webhook_events: list[WebhookEvent] = Field(
        ["message.sent", "message.undelivered", "user.online", "user.offline"],
        description="event kinds recorded and sent")
    webhook_batch_size: int = Field(
        100, ge=1, le=1000, description="most events per POST; one node's delivery rate "
        "grows with it (measured, 20,000 events to a local receiver: SQLite 13k/s at 100, "
        "32k/s at 1,000; PostgreSQL 5k/s and 15k/s)")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="a POST not answered within this long failed; a "
        "node holds the events it is sending this long plus 5 s before another may take them")
    webhook_max_attempts: int = Field(
        12, ge=1, le=100, description="tries of an event before it is given up (kept with "
        "failed_at, counted in tidings_webhook_events_given_up_total)")
    webhook_retry_seconds: int = Field(
        1, ge=1, description="wait after an event's first failed try; doubles with each "
        "further one")
    webhook_retry_max_seconds: int = Field(
        600, ge=1, description="longest wait between two tries (defaults: 12 tries over "
        "about 27 minutes)")
    webhook_interval_seconds: float = Field(
        1.0, gt=0, description="how often a node looks for events written by other nodes "
        "or due again; its own commits wake it at once")
    webhook_failed_retention_seconds: int = Field(
        7 * 86400, ge=0, description="given-up events are deleted after this long")
    webhook_offline_max_members: int = Field(
        1000, ge=2, description="message.undelivered is recorded for chats of at most this "
        "many members (it lists every offline member)")

    # -- tidings admin probe (the end-to-end check a monitor runs)
    probe_username_prefix: str = Field(
        "tidings_probe", min_length=1, max_length=24, description="the probe's two users are "
        "PREFIX_a (sender) and PREFIX_b (receiver), registered on first use")
    probe_password: str | None = Field(
        None, description="password of the probe users; required by tidings admin probe "
        "(--password or TIDINGS_PROBE_PASSWORD)")
