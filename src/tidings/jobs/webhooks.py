"""The webhook deliverer: one background task per node sending the outbox
(``store.webhooks``) to ``webhook_url``.

Each round claims up to ``webhook_batch_size`` events (a lease of
``webhook_timeout_seconds`` + 5 s, so a node that dies mid-POST hands them on)
and POSTs them as one JSON batch, ``{"events": [{"id", "kind", "date", ...}]}``,
signed (``sign``). A 2xx answer deletes them; anything else (an error status,
a timeout, a refused connection) frees them for another try after
``webhook_retry_seconds`` doubling up to ``webhook_retry_max_seconds``, and
after ``webhook_max_attempts`` tries they are given up: kept with
``failed_at`` (logged, counted) for ``webhook_failed_retention_seconds``, then
pruned. A stream (a chat, a user's presence) is claimed only from its first
pending event, so it arrives in order, and an event waiting for a retry
holds back the later events of its stream, not the others.

Delivery is at least once: a receiver that answered 2xx too late for the
lease sees the batch again, and dedupes by event id. Sends never wait for any
of this: the events were committed with them, and this task runs apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging

import aiohttp
from prometheus_client import Counter

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.services.webhook_events import WebhookEvents
from tidings.store import webhooks as outbox
from tidings.store.webhooks import OutboxEvent

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5  # beyond the POST's timeout: the delete that follows it
PRUNE_EVERY_SECONDS = 60

DELIVERED = Counter("tidings_webhook_events_delivered_total",
                    "Webhook events the receiver accepted (2xx)")
POSTS = Counter("tidings_webhook_posts_total", "Webhook batches POSTed, by outcome "
                "(ok, or the failure: status code, timeout, connection)", ["outcome"])
GIVEN_UP = Counter("tidings_webhook_events_given_up_total",
                   "Webhook events given up after webhook_max_attempts tries")

SIGNATURE_HEADER = "X-Tidings-Signature"
TIMESTAMP_HEADER = "X-Tidings-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``"{timestamp}." + body`` under the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def batch_body(events: list[OutboxEvent]) -> bytes:
    """``{"events": [...]}``, each event its stored object with ``id`` first."""
    parts = [f'{{"id":{e.event_id},{e.payload[1:]}' for e in events]
    return ('{"events":[' + ",".join(parts) + "]}").encode()


class WebhookDeliverer:
    def __init__(self, db: Database, clock: Clock, settings: Settings,
                 events: WebhookEvents | None = None) -> None:
        assert settings.webhook_url and settings.webhook_secret, "webhook_url is not set"
        self._db = db
        self._clock = clock
        self._settings = settings
        self._url = settings.webhook_url
        self._secret = settings.webhook_secret
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pruned_at = 0
        if events is not None:
            events.listeners.append(self._wake.set)

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="webhook-deliverer")

    async def stop(self) -> None:
        """Finish the POST under way (its events are deleted or freed), stop."""
        if self._task is not None:
            self._stopping.set()
            self._wake.set()
            task, self._task = self._task, None
            await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- one round
    async def deliver_once(self) -> tuple[int, bool]:
        """Claim one batch and POST it: (events claimed, delivered)."""
        s = self._settings
        now = self._clock.now()
        lease = now + int(s.webhook_timeout_seconds) + 1 + LEASE_MARGIN_SECONDS
        events = await self._db.write("webhook_claim", lambda txn: outbox.claim_txn(
            txn, now, lease, s.webhook_batch_size))
        if not events:
            return 0, False
        error = await self._post(batch_body(events))
        if error is None:
            await self._db.write("webhook_delivered", lambda txn: outbox.delete_txn(
                txn, [e.event_id for e in events]))
            DELIVERED.inc(len(events))
            return len(events), True
        await self._record_failure(events, error)
        return len(events), False

    async def _post(self, body: bytes) -> str | None:
        """POST a batch; None on a 2xx answer, else what went wrong."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_seconds))
        timestamp = self._clock.now()
        headers = {"Content-Type": "application/json", "User-Agent": "tidings-webhooks",
                   TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(self._secret, timestamp, body)}
        try:
            # A redirect is an answer, not a 2xx: following it would turn the POST
            # into a GET. The body of the answer is not read (it could be anything).
            async with self._session.post(self._url, data=body, headers=headers,
                                          allow_redirects=False) as resp:
                if 200 <= resp.status < 300:
                    POSTS.labels("ok").inc()
                    return None
                POSTS.labels(str(resp.status)).inc()
                return f"HTTP {resp.status}"
        except TimeoutError:
            POSTS.labels("timeout").inc()
            return f"no answer within {self._settings.webhook_timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            POSTS.labels("connection").inc()
            return f"{type(exc).__name__}: {exc}"

    async def _record_failure(self, events: list[OutboxEvent], error: str) -> None:
        s = self._settings
        now = self._clock.now()
        tries = min(e.attempts for e in events)
        delay = min(s.webhook_retry_seconds * 2 ** min(tries - 1, 32),
                    s.webhook_retry_max_seconds)

        async def fail_txn(txn: Txn) -> int:
            return await outbox.fail_txn(txn, events, error, now, now + delay,
                                         s.webhook_max_attempts)

        given_up = await self._db.write("webhook_failed", fail_txn)
        if given_up:
            GIVEN_UP.inc(given_up)
            log.error("webhooks: gave up %d event(s) after %d tries: %s", given_up,
                      s.webhook_max_attempts, error)
        else:
            log.warning("webhooks: POST of %d event(s) failed (try %d): %s; next in %d s",
                        len(events), tries, error, delay)

    async def prune(self) -> None:
        """Delete the given-up events older than their retention."""
        before = self._clock.now() - self._settings.webhook_failed_retention_seconds
        await self._db.write("webhook_prune", lambda txn: outbox.prune_failed_txn(txn, before))

    # -- the loop
    async def _loop(self) -> None:
        interval = self._settings.webhook_interval_seconds
        while not self._stopping.is_set():
            self._wake.clear()
            claimed, delivered = 0, False
            try:
                claimed, delivered = await self.deliver_once()
                if self._clock.now() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = self._clock.now()
                    await self.prune()
            except Exception:
                log.exception("webhooks: a round failed; next try in %s s", interval)
            if delivered and claimed >= self._settings.webhook_batch_size:
                continue  # a backlog: the next batch at once
            if delivered:
                await asyncio.sleep(0)
                if self._wake.is_set():
                    continue
            with contextlib.suppress(TimeoutError):
                # A failed POST waits out the interval even if woken, so a receiver
                # that is down is not hammered by every commit.
                if claimed and not delivered:
                    await asyncio.wait_for(self._stopping.wait(), interval)
                else:
                    await asyncio.wait_for(self._wake.wait(), interval)
