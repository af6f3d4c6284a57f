"""Durable background jobs (DESIGN §2): the runner (``runner.py``) and one
module per job kind. ``build_runner`` assembles the runner a node starts with
every kind tidings has; the composition root (``tidings.app``) starts and
stops it.

Jobs sit above services: a job kind calls services (never the api, transport
or client). Services schedule jobs inside their own transactions with
``tidings.store.jobs.schedule_txn``.
"""

from __future__ import annotations

from tidings.jobs import chat_expiry, export, media_expiry, message_ttl
from tidings.jobs.runner import Handler, JobKind, JobRunner
from tidings.services.container import Services
from tidings.store.jobs import Job

__all__ = ["Handler", "Job", "JobKind", "JobRunner", "build_runner"]


def build_runner(sv: Services) -> JobRunner:
    """A runner over these services with every job kind registered."""
    return JobRunner(sv.db, sv.clock, sv.settings,
                     [message_ttl.kind(sv), export.kind(sv), chat_expiry.kind(sv),
                      *media_expiry.kinds(sv)])
