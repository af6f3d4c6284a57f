"""The server under test, in its own process (``python -m tidings serve``),
so its CPU can be read apart from the load generators' and the measurement
includes everything a deployment runs: uvloop, aiohttp, the dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tidings.bench.procstat import (
    nofile_limits,
    open_fd_count,
    process_cpu_seconds,
    raise_nofile_limit,
    tree_cpu_seconds_precise,
    tree_rss_bytes,
)
from tidings.testing import FAST_HASHING, free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0



def server_env() -> dict[str, str]:
    """The caller's environment (so TIDINGS_* tuning such as WRITE_BATCH_MAX
    reaches the server), with cheap password hashing for the many logins of a
    run and the store chosen only by our flags."""
    env = {k: v for k, v in os.environ.items() if k != "TIDINGS_DATABASE_URL"}
    env.update({f"TIDINGS_{k.upper()}": str(v) for k, v in FAST_HASHING.items()})
    env.setdefault("TIDINGS_LOG_LEVEL", "warning")
    return env


def new_log(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


class ServerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, log_path: Path,
                 tcp_port: int | None = None) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.tcp_port = tcp_port

    def url_for(self, transport: str) -> str:
        """Where load generators connect: ``ws`` or ``tcp`` (started with ``tcp=True``)."""
        if transport == "tcp":
            if self.tcp_port is None:
                raise RuntimeError("this server was started without a TCP listener")
            return f"tcp://127.0.0.1:{self.tcp_port}"
        return self.ws_url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        cpu = process_cpu_seconds(self.proc.pid)
        if cpu is None:
            raise RuntimeError(f"server process {self.proc.pid} is gone; see {self.log_path}")
        return cpu

    def cpu_seconds_precise(self) -> float:
        """As ``cpu_seconds``, at nanosecond resolution (for short intervals),
        with the server's child processes (the workers of ``--workers N``)."""
        cpu = tree_cpu_seconds_precise(self.proc.pid)
        if cpu is None:
            raise RuntimeError(f"server process {self.proc.pid} is gone; see {self.log_path}")
        return cpu

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        rss = tree_rss_bytes(self.proc.pid)
        if rss is None:
            raise RuntimeError(f"server process {self.proc.pid} is gone; see {self.log_path}")
        return rss

    def fd_headroom(self) -> tuple[int, int, int]:
        """(soft limit, hard limit, descriptors open now) of the server process."""
        limits = nofile_limits(self.proc.pid)
        used = open_fd_count(self.proc.pid)
        if limits is None or used is None:
            raise RuntimeError(f"server process {self.proc.pid} is gone; see {self.log_path}")
        return limits[0], limits[1], used

    async def metric(self, session: aiohttp.ClientSession, name: str) -> float | None:
        """One unlabelled sample of the server's /metrics (a gauge or counter)."""
        async with session.get(f"{self.http_url}/metrics") as resp:
            text = await resp.text()
        for line in text.splitlines():
            sample, _, value = line.partition(" ")
            if sample == name:
                return float(value)
        return None

    async def batch_totals(self, session: aiohttp.ClientSession) -> tuple[float, float]:
        """(messages, transactions) of the server's group committer, from /metrics."""
        async with session.get(f"{self.http_url}/metrics") as resp:
            text = await resp.text()
        values = {"sum": 0.0, "count": 0.0}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("tidings_group_commit_batch_size_"):
                suffix = name.removeprefix("tidings_group_commit_batch_size_")
                if suffix in values:
                    values[suffix] = float(value)
        return values["sum"], values["count"]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.http_url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not become ready:\n{self.log_tail()}")

    async def stop(self) -> None:
        """SIGTERM (the server commits what is queued and closes), SIGKILL if stuck."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def listeners(port: int) -> int:
    """Sockets listening on ``port`` (one per worker with SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


async def wait_workers(server: ServerProcess, workers: int) -> None:
    """Until every worker listens: one that starts late would otherwise get no
    connection of the run (the kernel spreads them over the listeners it has)."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while listeners(server.port) < workers:
        if asyncio.get_running_loop().time() > deadline or server.proc.returncode is not None:
            raise RuntimeError(f"{workers} workers did not all start:\n{server.log_tail()}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def server_process(data_dir: Path, database_url: str | None,
                         session: aiohttp.ClientSession, env: dict[str, str] | None = None,
                         *, tcp: bool = False, workers: int = 1
                         ) -> AsyncIterator[ServerProcess]:
    """``tidings serve`` on a free port. ``env`` adds settings (``TIDINGS_*``) to
    the server's environment; ``tcp`` opens a TCP listener too; ``workers`` > 1
    runs ``--workers`` over PostgreSQL and the Redis bus (``TIDINGS_REDIS_URL``),
    on a channel of its own."""
    port = free_port()
    tcp_port = free_port() if tcp else None
    args = ["-m", "tidings", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir)]
    if tcp_port is not None:
        args += ["--tcp-port", str(tcp_port)]
    if database_url:
        args += ["--database-url", database_url]
    environment = {**server_env(), **(env or {})}
    if workers > 1:
        args += ["--workers", str(workers), "--bus", "redis"]
        environment["TIDINGS_BUS_CHANNEL_PREFIX"] = f"bench-{secrets.token_hex(4)}"
    log_path = new_log(data_dir, "server.log")
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log, env=environment,
            # Many connections need many descriptors: the soft limit goes up to
            # the hard one (raising the hard limit needs privileges we do not ask for).
            preexec_fn=raise_nofile_limit)
    server = ServerProcess(proc, port, log_path, tcp_port)
    try:
        await server.wait_ready(session)
        if workers > 1:
            await wait_workers(server, workers)
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def reference_process(directory: Path, chat_id: int, tokens: dict[str, int],
                            session: aiohttp.ClientSession,
                            pages: dict[str, bytes] | None = None
                            ) -> AsyncIterator[ServerProcess]:
    """The reference server (``tidings.bench.reference``) in a process of its
    own, measured as the server is."""
    import msgspec

    from tidings.bench.reference import ReferenceConfig

    port = free_port()
    config = ReferenceConfig(port=port, chat_id=chat_id, tokens=tokens, pages={
        before: msgspec.Raw(body) for before, body in (pages or {}).items()})
    config_path = new_log(directory, "reference.json")
    config_path.write_bytes(msgspec.json.encode(config))
    log_path = new_log(directory, "reference.log")
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tidings.bench.reference", str(config_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=raise_nofile_limit)
    server = ServerProcess(proc, port, log_path)
    try:
        await server.wait_ready(session)
        yield server
    finally:
        await server.stop()
