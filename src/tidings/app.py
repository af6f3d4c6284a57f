"""The composition root: builds every part from the settings and passes
dependencies explicitly. ``TidingsServer`` is what ``tidings serve`` runs and
what the tests start on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from pathlib import Path

from aiohttp import web

from tidings.api.dispatcher import Dispatcher
from tidings.api.methods import all_methods
from tidings.bus.base import Bus
from tidings.bus.local import LocalBus
from tidings.clock import Clock, SystemClock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import create_engine
from tidings.db.migrate import migrate
from tidings.gc_tuning import tune_for_serving
from tidings.jobs import build_runner
from tidings.jobs.webhooks import WebhookDeliverer
from tidings.serve_lock import ServeLock
from tidings.services.container import Services
from tidings.services.media_metrics import MediaMetrics
from tidings.services.queue_metrics import QueueMetrics
from tidings.transport.server import Node

log = logging.getLogger(__name__)

# The TCP stream reader's buffer: frames are read with readexactly, so this
# only bounds what is read ahead of the frame being handled.
TCP_READ_BUFFER = 256 * 1024


class StartupError(Exception):
    """The node could not start: a setting, a file, the database or the bus.
    The message is one line for the operator; the cause is logged at debug level."""

    @classmethod
    def from_exception(cls, exc: BaseException, action: str = "start") -> StartupError:
        log.debug("%s failed", action, exc_info=exc)
        text = " ".join(str(exc).split())  # driver messages may span lines
        cause = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return cls(f"cannot {action}: {cause}")


def load_secret(settings: Settings) -> str:
    """The token signing key: configured, or generated once into the data dir.
    Several nodes must share one configured key."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def create_bus(settings: Settings) -> Bus:
    if settings.bus == "redis":
        from tidings.bus.redis import RedisBus

        return RedisBus(settings.redis_url, channel=f"{settings.bus_channel_prefix}:events")
    if settings.bus == "nats":
        from tidings.bus.nats import NatsBus

        return NatsBus(settings.nats_url, subject=f"{settings.bus_channel_prefix}.events")
    return LocalBus()


def open_database(settings: Settings) -> Database:
    return Database(create_engine(
        settings.database_url, settings.sqlite_path,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_wal_autocheckpoint=settings.sqlite_wal_autocheckpoint,
        pool_min=settings.pg_pool_min, pool_max=settings.pg_pool_max,
        pg_write_lanes=settings.pg_write_lanes,
    ))


class TidingsServer:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = open_database(settings)
        # SQLite: one serving process per file (tidings.serve_lock).
        self._serve_lock = None if settings.is_postgres else ServeLock(settings.sqlite_path)
        self.services = Services.build(settings, self.clock, self.db, create_bus(settings),
                                       load_secret(settings))
        self.node = Node(settings, self.services, Dispatcher(self.services, all_methods()))
        self.jobs = build_runner(self.services)  # background jobs, polled while serving
        self.media_metrics = MediaMetrics()  # gauges of stored media, refreshed in the background
        self.queue_metrics = QueueMetrics(self.clock, self.jobs.kinds)
        self.webhooks = (WebhookDeliverer(self.db, self.clock, settings, self.services.webhooks)
                         if settings.webhook_url else None)
        self._runner: web.AppRunner | None = None
        self._tcp: asyncio.Server | None = None
        self.port: int | None = None
        self.tcp_port: int | None = None  # bound when settings.tcp_port is set

    @property
    def url(self) -> str:
        return f"ws://{self.settings.host}:{self.port}/ws"

    @property
    def tcp_url(self) -> str:
        """``tcp://host:port`` of the TCP listener (``tcp_port`` must be set)."""
        if self.tcp_port is None:
            raise RuntimeError("this server has no TCP listener (tcp_port is unset)")
        return f"tcp://{self.settings.host}:{self.tcp_port}"

    async def start(self) -> None:
        if self._serve_lock is not None:
            self._serve_lock.acquire()
        await self.db.engine.open()
        await migrate(self.db, self.clock.now())
        await self.services.start()
        self.jobs.start()
        self.media_metrics.start(self.db)
        self.queue_metrics.start(self.db)
        if self.webhooks is not None:
            self.webhooks.start()
        self._runner = web.AppRunner(self.node.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        # Workers of one `serve --workers N` bind the same port; the kernel
        # spreads new connections over them.
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port,
                           reuse_address=True, reuse_port=self.settings.workers > 1)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        if self.settings.tcp_port is not None:
            self._tcp = await asyncio.start_server(
                self.node.handle_tcp, self.settings.host, self.settings.tcp_port,
                reuse_address=True, limit=TCP_READ_BUFFER)
            self.tcp_port = int(self._tcp.sockets[0].getsockname()[1])
        self.node.ready = True
        log.info("tidings serving on %s (%s)%s", self.url, self.db.engine.name,
                 f", TCP on {self.tcp_url}" if self._tcp is not None else "")
        if self.settings.web_client:
            log.info("web client at http://%s:%s/", self.settings.host, self.port)

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()  # accept no more; the open connections drain below
        await self.node.shutdown()
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        await self.media_metrics.stop()
        await self.queue_metrics.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.jobs.stop()
        await self.services.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.db.engine.close()
        if self._serve_lock is not None:
            self._serve_lock.release()

    async def serve_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start_or_explain()
        tune_for_serving()
        try:
            await stop.wait()
            log.info("stopping: draining connections")
        finally:
            await self.stop()

    async def start_or_explain(self) -> None:
        """``start``, turning a failure (port taken, database unreachable or
        refusing us, unwritable data dir...) into a ``StartupError``."""
        try:
            await self.start()
        except Exception as exc:
            with contextlib.suppress(Exception):  # release what did open
                await self.stop()
            raise StartupError.from_exception(exc) from exc


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT: one process, or ``settings.workers``
    supervised worker processes (``tidings.workers``)."""
    if settings.workers > 1:
        from tidings.workers import WorkerDied, supervise

        try:
            supervise(settings)
        except WorkerDied as exc:
            raise StartupError(str(exc)) from exc
        except Exception as exc:  # migrations or the key, before any worker started
            raise StartupError.from_exception(exc) from exc
        return
    run_one(settings)


def run_one(settings: Settings) -> None:
    """Serve in this process until SIGTERM/SIGINT. Raises ``StartupError`` if
    the node cannot start; failures once serving are bugs and keep their traceback."""
    try:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        server = TidingsServer(settings)
    except Exception as exc:
        raise StartupError.from_exception(exc) from exc
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        asyncio.run(server.serve_forever())
    else:
        uvloop.run(server.serve_forever())
