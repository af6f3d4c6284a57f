"""``Client``: the public face of the SDK.

It owns the aiohttp session, the current ``Connection``, the push-processing
task and the reconnect task, and wires them to the ``Synchronizer``.  Pushes go
from the connection's reader into a queue drained by one worker task, so the
reader is never blocked by gap filling (which needs the reader to get answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from tidings import wire
from tidings.client.backoff import backoff_delays
from tidings.client.connection import Connection
from tidings.client.errors import UNAUTHORIZED, ClientError, ConnectionLost, TidingsClientError
from tidings.client.events import UpdateCallback, UpdateHub, UpdateStream
from tidings.client.state import ChatView, SyncState
from tidings.client.sync import Synchronizer
from tidings.codecs import CODECS, Codec

log = logging.getLogger("tidings.client")


class Client:
    """An async tidings client; see the package docstring for the full API."""

    def __init__(
        self,
        url: str,
        *,
        fallback_urls: Sequence[str] = (),
        reconnect: bool = True,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        request_timeout: float = 30.0,
        heartbeat: float | None = 20.0,
        reload_limit: int = 100,
        codec: str = "json",
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; one of {', '.join(CODECS)}")
        self.url = url
        self.codec: Codec = CODECS[codec]
        # Where a reconnect goes when the current address refuses: the next one,
        # in turn (several nodes without a load balancer in front).
        self.urls = [url, *(u for u in fallback_urls if u != url)]
        self.reconnect = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self.heartbeat = heartbeat
        self.user_id: int | None = None
        self.device_id: int | None = None
        self.token: str | None = None
        # Why the client gave up for good (auth.token answered UNAUTHORIZED); None otherwise.
        self.closed_reason: ClientError | None = None
        # Successful reconnects (socket + auth.token + catch-up), for apps and tests.
        self.reconnects = 0
        # Why the server closed the last connection lost (close code), if it said.
        self.close_code: int | None = None
        self._state = SyncState()
        self._hub = UpdateHub()
        self._sync = Synchronizer(self._state, self.call, self._hub, reload_limit=reload_limit)
        self._session: aiohttp.ClientSession | None = None
        self._conn: Connection | None = None
        self._pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        # chat_id -> user_id -> (action, loop time it expires at), from typing pushes
        self._typing: dict[int, dict[int, tuple[str, float]]] = {}

    # -- state ---------------------------------------------------------------

    @property
    def seq(self) -> int:
        return self._state.seq

    @property
    def chats(self) -> dict[int, ChatView]:
        return self._state.chats

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def closed(self) -> bool:
        """True after ``close()`` or once the client gave up (``closed_reason``)."""
        return self._closing or self.closed_reason is not None

    # -- lifecycle -------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket (no-op when already open).  Authenticate next."""
        if self.closed:
            raise ConnectionLost(f"client is closed ({self.closed_reason or 'close() called'})")
        if self.connected:
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._process_pushes())
        self._conn = await self._open()
        self._hub.changed()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        for task in (self._reconnect_task, self._worker):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
        if self._session is not None:
            await self._session.close()
        self._hub.close()

    async def disconnect(self) -> None:
        """Go offline on purpose: close the socket, keep the sync state, do not
        reconnect.  ``resume(client.token)`` comes back and catches up."""
        conn, self._conn = self._conn, None  # _on_lost ignores a connection not current
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            await asyncio.gather(self._reconnect_task, return_exceptions=True)
            self._reconnect_task = None
        if conn is not None:
            await conn.close()
        self._hub.changed()

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- requests --------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request on the current connection.  Fails fast with ``ConnectionLost``
        while disconnected (also during a reconnect) instead of queueing, so that
        nothing is sent ahead of the reconnect's auth.token."""
        conn = self._conn
        if conn is None or conn.closed:
            raise ConnectionLost(
                f"not connected ({self.closed_reason})" if self.closed_reason else "not connected"
            )
        return await conn.call(method, params)

    # -- auth --------------------------------------------------------------------

    async def register(
        self, username: str, password: str, device_name: str | None = None
    ) -> dict[str, Any]:
        return await self._authenticate("auth.register", username, password, device_name)

    async def login(
        self, username: str, password: str, device_name: str | None = None
    ) -> dict[str, Any]:
        return await self._authenticate("auth.login", username, password, device_name)

    async def resume(self, token: str) -> dict[str, Any]:
        """Authenticate an existing device with its token (``auth.token``)."""
        await self.connect()
        result = await self.call("auth.token", {"token": token})
        self._remember(result, token)
        await self.catch_up()
        return result

    async def _authenticate(
        self, method: str, username: str, password: str, device_name: str | None
    ) -> dict[str, Any]:
        await self.connect()
        params: dict[str, Any] = {"username": username, "password": password}
        if device_name is not None:
            params["device_name"] = device_name
        result = await self.call(method, params)
        self._remember(result, result.get("token"))
        await self.catch_up()
        return result

    def _remember(self, result: dict[str, Any], token: object) -> None:
        user_id = result.get("user_id")
        if self.user_id is not None and user_id != self.user_id:
            self._state.reset()  # another account: the old mirror is not ours
        self.user_id = user_id if isinstance(user_id, int) else None
        device_id = result.get("device_id")
        self.device_id = device_id if isinstance(device_id, int) else None
        if isinstance(token, str):
            self.token = token

    # -- sync --------------------------------------------------------------------

    async def catch_up(self) -> None:
        """``sync.get_state`` on first use, then ``sync.get_difference`` until done."""
        await self._sync.catch_up()

    async def load_history(self, chat_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """Page up to ``limit`` messages older than the oldest held into the chat's
        view (newest first when it holds none); returns them ascending."""
        return await self._sync.load_history(chat_id, limit)

    # -- hooks -------------------------------------------------------------------

    def on_update(self, callback: UpdateCallback) -> Callable[[], None]:
        """Call ``callback(update)`` after each applied update; returns a remover."""
        return self._hub.add_callback(callback)

    def updates(self) -> UpdateStream:
        """An async iterator of the updates applied from now on."""
        return self._hub.stream()

    async def wait_for(
        self,
        predicate: Callable[[Client], object],
        timeout: float | None = 10.0,  # noqa: ASYNC109 - part of the documented API
    ) -> None:
        """Wait until ``predicate(client)`` is true (``TimeoutError`` otherwise)."""
        async with asyncio.timeout(timeout):
            await self._hub.wait_for(lambda: bool(predicate(self)))

    # -- conveniences -------------------------------------------------------------

    async def send(
        self, chat_id: int, *, local_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """``message.send``; pass the same ``local_id`` to retry idempotently."""
        params = {k: v for k, v in fields.items() if v is not None}
        params["chat_id"] = chat_id
        params["local_id"] = local_id or uuid.uuid4().hex
        result = await self.call("message.send", params)
        message = wire.with_message_defaults(result["message"])
        await self._sync.record_sent(message)
        return message

    async def send_text(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        return await self.send(chat_id, text=text, **kw)

    async def direct(self, user_id: int) -> dict[str, Any]:
        chat: dict[str, Any] = (await self.call("chat.direct", {"user_id": user_id}))["chat"]
        await self._ensure_view(chat)
        return chat

    async def create_group(
        self, title: str, member_ids: list[int], kind: str = "group"
    ) -> dict[str, Any]:
        params = {"kind": kind, "title": title, "member_ids": list(member_ids)}
        chat: dict[str, Any] = (await self.call("chat.create", params))["chat"]
        await self._ensure_view(chat)
        return chat

    async def add_members(self, chat_id: int, user_ids: list[int]) -> int:
        result = await self.call("chat.add_members", {"chat_id": chat_id, "user_ids": user_ids})
        return await self._reached(chat_id, result)

    async def remove_member(self, chat_id: int, user_id: int) -> int:
        result = await self.call("chat.remove_member", {"chat_id": chat_id, "user_id": user_id})
        return await self._reached(chat_id, result)

    async def recall(self, chat_id: int, msg_id: int) -> int:
        result = await self.call("message.recall", {"chat_id": chat_id, "msg_id": msg_id})
        return await self._reached(chat_id, result)

    async def leave(self, chat_id: int) -> int:
        result = await self.call("chat.leave", {"chat_id": chat_id})
        pts = await self._reached(chat_id, result)
        await self._quiet_catch_up()  # picks up our own chat.left user update
        return pts

    async def history(
        self,
        chat_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """One ``message.history`` page (ascending; every message with all its
        fields); the views are not touched."""
        params: dict[str, Any] = {"chat_id": chat_id}
        for key, value in (("before", before), ("after", after), ("limit", limit)):
            if value is not None:
                params[key] = value
        page = await self.call("message.history", params)
        return [wire.with_message_defaults(m) for m in page["messages"]]

    async def send_typing(self, chat_id: int, action: str = "typing") -> bool:
        """``typing.send``; True when the server relayed it (not throttled)."""
        result = await self.call("typing.send", {"chat_id": chat_id, "action": action})
        return bool(result.get("relayed"))

    def typing_in(self, chat_id: int) -> dict[int, str]:
        """Who is typing in a chat now (user_id -> ``typing`` or ``uploading``), from
        the ``typing`` pushes, each dropped ``expires_in`` seconds after it came."""
        now = asyncio.get_running_loop().time()
        return {user_id: action for user_id, (action, until)
                in self._typing.get(chat_id, {}).items() if until > now}

    async def members(self, chat_id: int, *, limit: int | None = None,
                      cursor: str | None = None, query: str | None = None,
                      role: str | None = None) -> dict[str, Any]:
        """One ``chat.members`` page: ``{members, next_cursor}``."""
        params: dict[str, Any] = {"chat_id": chat_id}
        for key, value in (("limit", limit), ("cursor", cursor), ("query", query),
                           ("role", role)):
            if value is not None:
                params[key] = value
        return await self.call("chat.members", params)

    def _on_typing(self, push: dict[str, Any]) -> None:
        chat_id, user_id = push.get("chat_id"), push.get("user_id")
        action, expires_in = push.get("action"), push.get("expires_in")
        if not isinstance(chat_id, int) or not isinstance(user_id, int):
            return
        now = asyncio.get_running_loop().time()
        in_chat = {u: entry for u, entry in self._typing.get(chat_id, {}).items()
                   if entry[1] > now}  # expired ones are dropped here
        self._typing[chat_id] = in_chat
        if action == "cancel" or not isinstance(expires_in, int | float) or expires_in <= 0:
            in_chat.pop(user_id, None)
        else:
            until = now + float(expires_in)
            in_chat[user_id] = (str(action), until)
            asyncio.get_running_loop().call_at(until, self._hub.changed)  # wait_for sees it
        self._hub.changed()

    async def mark_read(self, chat_id: int, pts: int) -> int:
        result = await self.call("read.mark", {"chat_id": chat_id, "pts": pts})
        read_pts = result.get("read_pts")
        if isinstance(read_pts, int):
            await self._sync.set_read(chat_id, read_pts)
            return read_pts
        return pts

    async def _reached(self, chat_id: int, result: dict[str, Any]) -> int:
        # Our own change may not be pushed back to us: fetch up to its pts.
        pts = result.get("pts")
        if not isinstance(pts, int):
            return 0
        await self._sync.ensure_pts(chat_id, pts)
        return pts

    async def _ensure_view(self, chat: dict[str, Any]) -> None:
        # The chat.joined user update may not be pushed to the device that created
        # the chat; a catch-up fetches it so the view exists on return.
        view = self._state.find(chat.get("chat_id"))
        if view is None or view.left:
            await self._quiet_catch_up()

    async def _quiet_catch_up(self) -> None:
        try:
            await self.catch_up()
        except ClientError as exc:  # the request itself succeeded; a reconnect syncs later
            log.debug("tidings client: catch-up after a mutation failed: %s", exc)

    # -- internals ----------------------------------------------------------------

    async def _open(self) -> Connection:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await Connection.open(
            self._session,
            self.url,
            on_push=self._pushes.put_nowait,
            on_lost=self._on_lost,
            request_timeout=self.request_timeout,
            heartbeat=self.heartbeat,
            codec=self.codec,
        )

    def _next_url(self) -> None:
        if len(self.urls) > 1:
            at = self.urls.index(self.url) if self.url in self.urls else -1
            self.url = self.urls[(at + 1) % len(self.urls)]
            log.info("tidings client: trying %s next", self.url)

    async def _process_pushes(self) -> None:
        while True:
            push = await self._pushes.get()
            if push.get("push") == "typing":  # ephemeral: no state to sync
                self._on_typing(push)
                continue
            try:
                await self._sync.handle_push(push)
            except ClientError as exc:
                # Usually the socket dropped mid gap-fill; the local pts did not move,
                # so the next push or the reconnect's catch-up refetches the same range.
                log.debug("tidings client: push not fully applied: %s", exc)
            except Exception:  # never let one bad push stop synchronisation
                log.exception("tidings client: applying a push failed")

    def _on_lost(self, conn: Connection, reason: BaseException | None) -> None:
        if conn is not self._conn:
            return  # an attempt inside the reconnect loop: the loop handles it
        self.close_code = conn.close_code
        log.info("tidings client: connection lost (%r, close code %s)", reason,
                 self.close_code)
        self._hub.changed()
        if self.closed or not self.reconnect or self.token is None:
            return
        if self._reconnect_task is not None and not self._reconnect_task.done():
            return  # the running loop sees the failure and retries
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        for delay in backoff_delays(self.backoff_initial, self.backoff_max):
            await asyncio.sleep(delay)
            if self.closed:
                return
            if await self._reconnect_once():
                self.reconnects += 1
                self._hub.changed()
                return
            if self.closed:
                return

    async def _reconnect_once(self) -> bool:
        """One attempt: True when connected, authenticated and caught up."""
        try:
            conn = await self._open()
        except ConnectionLost as exc:
            log.debug("tidings client: reconnect failed: %s", exc)
            self._next_url()
            return False
        try:
            result = await conn.call("auth.token", {"token": self.token})
            self._conn = conn
            self._remember(result, self.token)
            await self.catch_up()
        except TidingsClientError as exc:
            await conn.close()
            if exc.code == UNAUTHORIZED:
                # Token revoked (device removed, password changed): retrying is futile.
                self.closed_reason = exc
                self._hub.changed()
                log.warning("tidings client: token rejected, not reconnecting: %s", exc)
            return False
        except ClientError as exc:
            await conn.close()
            log.debug("tidings client: reconnect attempt failed: %s", exc)
            return False
        except BaseException:  # cancelled by close(): do not leak the socket
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        # A drop after catch-up returned was ignored by _on_lost (this task was
        # still running), so look once more instead of ending with a dead socket.
        return not conn.closed
