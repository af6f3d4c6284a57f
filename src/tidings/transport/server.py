"""One node: the aiohttp application serving WebSocket, health and metrics on
one port, the connections of the TCP listener (``tcp_port``), and the orderly
shutdown of both (stop accepting, let requests in flight finish, close sockets
with 1001, commit what is queued, close the database)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from tidings.api import http
from tidings.api.dispatcher import Dispatcher
from tidings.codecs import SUBPROTOCOLS
from tidings.config import Settings
from tidings.services.container import Services
from tidings.transport import web as web_client
from tidings.transport.connection import CLOSE_FORBIDDEN, CLOSE_GOING_AWAY, Connection
from tidings.transport.edge import allow_cors, edge_middleware, is_blocked, networks
from tidings.transport.ratelimit import AddressLimits
from tidings.transport.tcp import CLOSE_TIMEOUT as TCP_CLOSE_TIMEOUT
from tidings.transport.tcp import TcpConnection
from tidings.transport.ws import WsConnection

log = logging.getLogger(__name__)

CONNECTIONS = Gauge("tidings_connections", "Open client connections, by transport",
                    ["transport"])


class Node:
    def __init__(self, settings: Settings, services: Services, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.services = services
        self.dispatcher = dispatcher
        self.connections: set[Connection] = set()
        self._tcp_handlers: set[asyncio.Task[Any]] = set()  # asyncio.start_server's tasks
        self._blocked = networks(settings.blocked_networks)
        self.ready = False
        self._background: set[asyncio.Task[Any]] = set()
        self.address_limits = AddressLimits(settings.rate_limit_per_address_per_second,
                                            settings.rate_limit_per_address_burst,
                                            services.clock.monotonic)
        self.app = web.Application(middlewares=[
            edge_middleware(settings.trusted_proxies, settings.blocked_networks)])
        self.app.router.add_get("/ws", self.handle_ws)
        self.app.router.add_get("/healthz", self.handle_health)
        self.app.router.add_get("/readyz", self.handle_ready)
        self.app.router.add_get("/metrics", self.handle_metrics)
        self.app.add_routes(http.routes(services))  # REST: /exports/{job_id}
        if settings.web_client:
            self.app.add_routes(web_client.routes())  # the browser client at /
        if settings.cors_origins:
            allow_cors(self.app, settings.cors_origins)

    def background(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        if not self.ready:
            raise web.HTTPServiceUnavailable(text="shutting down")
        # aiohttp closes with 1009 beyond max_msg_size; frames between the limit and
        # this ceiling get a TOO_LARGE error and the connection stays open.
        # The subprotocol picks the codec: tidings.msgpack, else JSON.
        ws = web.WebSocketResponse(max_msg_size=self.settings.max_frame_bytes * 4,
                                   heartbeat=30.0, compress=False, decode_text=False,
                                   protocols=SUBPROTOCOLS)
        await ws.prepare(request)
        await self._serve(WsConnection(self, ws, request))
        return ws

    async def handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> None:
        """One TCP client (``asyncio.start_server``); see ``transport.tcp``."""
        peer = writer.get_extra_info("peername")
        remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        conn = TcpConnection(self, reader, writer, remote)
        task = asyncio.current_task()
        if task is not None:  # aiohttp waits for its WebSocket handlers; TCP ones are ours
            self._tcp_handlers.add(task)
            task.add_done_callback(self._tcp_handlers.discard)
        if not self.ready or is_blocked(remote, self._blocked):
            # Told why in a close frame, as a WebSocket client would be by its status.
            conn.close_soon(CLOSE_GOING_AWAY if not self.ready else CLOSE_FORBIDDEN,
                            "shutting down" if not self.ready
                            else "connections from your network are not accepted")
        await self._serve(conn)

    async def _serve(self, conn: Connection) -> None:
        self.connections.add(conn)
        gauge = CONNECTIONS.labels(conn.transport)
        gauge.inc()
        try:
            await conn.run()
        finally:
            gauge.dec()
            self.connections.discard(conn)

    async def handle_health(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "ok"})

    async def handle_ready(self, request: web.Request) -> web.Response:
        """200 only while this node can serve: not stopping, and the database and
        the bus answer (a load balancer takes it out of rotation otherwise)."""
        if not self.ready:
            return web.json_response({"status": "stopping"}, status=503)
        failed = await self.services.unreachable(self.settings.readiness_timeout_seconds)
        if failed:
            return web.json_response({"status": "unavailable", "failed": failed}, status=503)
        return web.json_response({"status": "ready"})

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type":
                                                             CONTENT_TYPE_LATEST})

    async def shutdown(self) -> None:
        self.ready = False
        grace = self.settings.shutdown_grace_seconds
        connections = tuple(self.connections)
        if connections and grace:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(c.drain() for c in connections), return_exceptions=True),
                    timeout=grace)
            except TimeoutError:
                log.warning("requests still running after %.1f s; closing anyway", grace)
        for conn in connections:
            conn.close_soon(CLOSE_GOING_AWAY, "server shutting down")
        if self._background:
            await asyncio.gather(*tuple(self._background), return_exceptions=True)
        if self._tcp_handlers:  # their sockets are closed: they only clean up now
            await asyncio.wait(tuple(self._tcp_handlers), timeout=TCP_CLOSE_TIMEOUT)
