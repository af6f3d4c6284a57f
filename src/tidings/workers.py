"""``tidings serve --workers N``: N server processes sharing one port.

Each worker is a full node (its own event loop, database pool and bus
connection) bound with ``SO_REUSEPORT``, so the kernel spreads new
connections over the workers and a machine's cores all serve. Pushes cross
workers through the bus exactly as they cross machines, which is why N > 1
needs PostgreSQL and the redis or nats bus (``Settings`` refuses otherwise).

The parent serves nothing. Before the workers start it applies the
migrations once (workers racing on an empty schema would collide) and makes
sure the token signing key exists (workers generating one each would sign
with different keys). Then it supervises:

* SIGTERM or SIGINT is passed to every worker, which drains and closes as a
  single ``tidings serve`` does; the parent exits 0 once all have exited.
* A worker that dies on its own stops the group: the others get SIGTERM and
  the parent exits 1. A node running at partial capacity without anyone
  noticing is worse than a restart, and the process manager (systemd,
  Kubernetes) that restarts ``tidings serve`` already exists; restarting
  workers here would hide a crash loop from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from tidings.config import Settings

log = logging.getLogger(__name__)

# How long the parent waits, beyond the drain grace, before killing a worker.
KILL_AFTER_EXTRA_SECONDS = 15.0


class WorkerDied(Exception):
    """A worker exited without being asked to; the group was stopped."""


def _worker_main(settings: Settings, index: int) -> None:
    """The body of one worker process (spawned: a fresh interpreter)."""
    from tidings.app import StartupError, run_one
    from tidings.logs import setup_logging

    setup_logging("debug" if settings.dev else settings.log_level, dev=settings.dev)
    log.info("worker %d starting", index)
    try:
        run_one(settings)
    except StartupError as exc:
        log.error("worker %d: %s", index, exc)
        raise SystemExit(1) from exc


def prepare(settings: Settings) -> None:
    """What must happen once for all workers: the schema and the signing key."""
    from tidings.app import load_secret, open_database
    from tidings.clock import SystemClock
    from tidings.db.migrate import migrate

    async def go() -> None:
        db = open_database(settings)
        await db.engine.open()
        try:
            await migrate(db, SystemClock().now())
        finally:
            await db.engine.close()

    asyncio.run(go())
    load_secret(settings)


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = False
        self.workers: list[BaseProcess] = []

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        for index in range(self.settings.workers):
            worker = context.Process(target=_worker_main, args=(self.settings, index),
                                     name=f"tidings-worker-{index}")
            worker.start()
            self.workers.append(worker)
        log.info("tidings: %d workers on port %d (pids %s)", len(self.workers),
                 self.settings.port, ", ".join(str(w.pid) for w in self.workers))

    def watch(self) -> bool:
        """Block until asked to stop (True) or until a worker dies (False)."""
        while not self.stopping:
            wait([w.sentinel for w in self.workers], timeout=0.5)
            dead = [w for w in self.workers if not w.is_alive()]
            if dead and not self.stopping:
                for w in dead:
                    log.error("worker %s (pid %s) exited with status %s; stopping the group",
                              w.name, w.pid, w.exitcode)
                return False
        return True

    def stop(self) -> None:
        for w in self.workers:
            if w.is_alive() and w.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it just exited
                    os.kill(w.pid, signal.SIGTERM)
        timeout = self.settings.shutdown_grace_seconds + KILL_AFTER_EXTRA_SECONDS
        for w in self.workers:
            w.join(timeout)
            if w.is_alive():
                log.warning("worker %s did not stop in %.0f s; killing it", w.name, timeout)
                w.kill()
                w.join()


def supervise(settings: Settings) -> None:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; raises
    ``WorkerDied`` when a worker exits on its own (after stopping the rest)."""
    prepare(settings)
    supervisor = Supervisor(settings)
    previous = {sig: signal.signal(sig, supervisor._on_signal)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        supervisor.start()
        asked = supervisor.watch()
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not asked:
        raise WorkerDied("a worker exited unexpectedly; all workers were stopped")
    log.info("tidings: all workers stopped")
