"""The ``chat_expiry`` job: one per chat with an expiry, keyed
``chat_expiry:<chat_id>``, due at ``expire_at``. ``chat.set_expire`` (and the
admin API) cancel and reschedule it in the same transaction as the change, so
a pending job always matches the chat's row; the handler checks anyway, and
writes ``chat.expired`` plus its system message (``ChatService.expired_txn``)."""

from __future__ import annotations

from tidings.db.engine import Txn
from tidings.jobs.runner import JobKind
from tidings.services.chats import EXPIRY_JOB
from tidings.services.container import Services
from tidings.store.jobs import Job

KIND = EXPIRY_JOB


def kind(sv: Services) -> JobKind:
    async def expire(txn: Txn, job: Job, now: int) -> None:
        chat_id, expire_at = job.payload.get("chat_id"), job.payload.get("expire_at")
        if isinstance(chat_id, int) and isinstance(expire_at, int):
            await sv.chats.expired_txn(txn, chat_id, expire_at, now)

    return JobKind(KIND, expire)
