"""Presence: who is online, and when they were last seen. Ephemeral: pushed,
never written to an update log.

A user is online while any of their devices is connected to any node. Each
node counts its own connections per user and tells the other nodes (the bus)
when a user's first device here connects or the last one leaves
(``PresenceEvent``); every node keeps, per other node, the users online there.
A node that starts asks the others for theirs (``hello``; each answers with its
whole ``state``). When the last device leaves, its ``devices.last_seen_at`` is
written, so last seen survives restarts.

The bus loses what is published while its server is down, and a node killed
without closing says nothing, so each node also sends a ``heartbeat`` every
``presence_heartbeat_seconds`` carrying ``seq``, the count of presence events
it published. A receiver that finds a gap in a node's ``seq`` asks again
(``hello``, at most once per heartbeat interval); a node not heard from within
``presence_node_timeout_seconds`` is taken for dead and its users go offline
here (their last seen: when that was noticed). A node taken for dead that
speaks again is asked for its state, and its users come back.

A connection follows users with ``presence.subscribe`` (at most
``presence_max_subscriptions``); a change is pushed to it only after it held
``presence_debounce_seconds``, so a flapping connection pushes nothing, and
only when the status this viewer may see changed:

    {"push": "presence", "user_id": 2, "status": "offline", "last_seen": 1796058700}

What a viewer sees follows the user's ``last_seen`` setting: allowed, the
exact ``online`` / ``offline`` with ``last_seen``; not allowed (or blocked by
the user), the Telegram-style rounding with no time: ``recently`` (online, or
seen within 3 days), ``within_week``, ``within_month``, ``long_ago``. A
viewer's subscription keeps the relation it had when made: subscribe again
after a privacy change."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any, Protocol

from tidings.bus.base import Bus, PresenceEvent
from tidings.clock import Clock
from tidings.codecs import Codec
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import privacy
from tidings.services.webhook_events import WebhookEvents
from tidings.store import presence as store
from tidings.store import privacy as privacy_store
from tidings.store import users as user_store

log = logging.getLogger(__name__)

DAY = 86400
ROUNDING = ((3 * DAY, "recently"), (7 * DAY, "within_week"), (30 * DAY, "within_month"))


class Watcher(Protocol):
    """A connection following presence (the transport's connection)."""

    codec: Codec  # what its frames are encoded in

    def push(self, frame: bytes) -> None: ...


class _Watch:
    __slots__ = ("exact", "shown", "viewer")

    def __init__(self, viewer: int, exact: bool) -> None:
        self.viewer = viewer
        self.exact = exact
        self.shown: dict[str, Any] | None = None


class PresenceService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 webhooks: WebhookEvents | None = None) -> None:
        self._db = db
        self._webhooks = webhooks
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.node = uuid.uuid4().hex
        self._local: dict[int, int] = defaultdict(int)  # user -> devices connected here
        self._devices: dict[Watcher, tuple[int, int]] = {}  # connection -> (user, device)
        self._online_on: dict[int, set[str]] = {}  # user -> other nodes with a device of theirs
        self._users_on: dict[str, set[int]] = {}  # other node -> its online users
        self._peers: dict[str, tuple[int, float]] = {}  # other node -> (seq, heard at)
        self._seq = 0  # presence events this node published (online, offline)
        self._asked_at: float | None = None  # when this node last sent hello
        self._heartbeat: asyncio.Task[None] | None = None
        # Only for users someone here follows (their pushes need it at once);
        # everyone else's comes from devices.last_seen_at, so this stays bounded.
        self._last_seen: dict[int, int] = {}
        self._watches: dict[int, dict[Watcher, _Watch]] = {}  # target -> watchers
        self._following: dict[Watcher, set[int]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- connections (called by the transport)
    def start(self) -> None:
        self._ask()
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._heartbeat_loop(), name="presence-heartbeat")

    def attach(self, conn: Watcher, user_id: int, device_id: int) -> None:
        self._devices[conn] = (user_id, device_id)
        self._local[user_id] += 1
        if self._local[user_id] == 1:
            self._announce("online", [user_id])
            self._changed(user_id)
            self._tell_webhook(user_id, True, self._clock.now())

    def detach(self, conn: Watcher) -> None:
        for target in self._following.pop(conn, set()):
            self._unwatch(target, conn)
        identity = self._devices.pop(conn, None)
        if identity is None:
            return
        user_id, device_id = identity
        self._local[user_id] -= 1
        if self._local[user_id] > 0:
            return
        del self._local[user_id]
        now = self._clock.now()
        self._announce("offline", [user_id], now)
        self._went_offline(user_id, now)
        self._spawn(self._record(device_id, now))
        self._tell_webhook(user_id, False, now)

    def _tell_webhook(self, user_id: int, online: bool, now: int) -> None:
        """``user.online`` / ``user.offline`` for the cluster: only when no other
        node has a device of the user (as far as the bus told this one)."""
        if self._webhooks is None or self._online_on.get(user_id, set()) - {self.node}:
            return
        self._spawn(self._webhooks.presence_changed(user_id, online, now))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, device_id: int, now: int) -> None:
        try:
            await self._db.write("presence_last_seen",
                                 lambda txn: user_store.touch_device_txn(txn, device_id, now))
        except Exception:
            log.exception("presence: could not record last seen of device %s", device_id)

    async def stop(self) -> None:
        """Tell the other nodes this node's users are gone."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.wait({self._heartbeat})
            self._heartbeat = None
        if self._local:
            self._announce("offline", sorted(self._local), self._clock.now())
        for timer in self._timers.values():
            timer.cancel()
        if self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    # -- the bus
    def _announce(self, kind: str, user_ids: list[int], at: int = 0) -> None:
        self._seq += 1
        self._bus.publish(PresenceEvent(node=self.node, kind=kind, user_ids=user_ids, at=at,
                                        seq=self._seq))

    def _ask(self) -> None:
        """Ask every node for its state (answered by ``state`` events)."""
        self._asked_at = self._clock.monotonic()
        self._bus.publish(PresenceEvent(node=self.node, kind="hello", seq=self._seq))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.presence_heartbeat_seconds)
            try:
                self._bus.publish(PresenceEvent(node=self.node, kind="heartbeat",
                                                seq=self._seq))
                self.sweep()
            except Exception:
                log.exception("presence: heartbeat failed")

    def sweep(self) -> None:
        """Take the nodes not heard from within the timeout for dead."""
        deadline = self._clock.monotonic() - self._settings.presence_node_timeout_seconds
        for node in [n for n, (_, heard) in self._peers.items() if heard < deadline]:
            log.warning("presence: node %s not heard from for %gs; its users go offline",
                        node, self._settings.presence_node_timeout_seconds)
            del self._peers[node]
            self._replace(node, set(), self._clock.now())

    def on_event(self, event: PresenceEvent) -> None:
        if event.node == self.node:
            return  # this node's own users are counted in _local
        known = self._peers.get(event.node)
        seq = known[0] if known is not None else 0
        if event.kind == "state":
            seq = event.seq
            self._replace(event.node, set(event.user_ids), event.at)
        elif event.kind in ("online", "offline"):
            if event.seq != seq + 1:
                self._ask_again(event.node)
            seq = event.seq
            self._apply(event)
        else:  # hello, heartbeat
            if event.kind == "hello":
                self._bus.publish(PresenceEvent(node=self.node, kind="state",
                                                user_ids=sorted(self._local),
                                                at=self._clock.now(), seq=self._seq))
            if event.seq != seq:
                self._ask_again(event.node)
        self._peers[event.node] = (seq, self._clock.monotonic())

    def _ask_again(self, node: str) -> None:
        """Events of ``node`` were missed: ask for states, at most once per heartbeat."""
        now = self._clock.monotonic()
        if self._asked_at is not None and (
                now - self._asked_at < self._settings.presence_heartbeat_seconds):
            return
        log.info("presence: missed events of node %s; asking every node for its state", node)
        self._ask()

    def _apply(self, event: PresenceEvent) -> None:
        users = self._users_on.setdefault(event.node, set())
        for user_id in event.user_ids:
            if event.kind == "online":
                users.add(user_id)
                self._online_on.setdefault(user_id, set()).add(event.node)
                self._changed(user_id)
            else:
                users.discard(user_id)
                self._leave(user_id, event.node, event.at)
        if not users:
            del self._users_on[event.node]

    def _replace(self, node: str, users: set[int], at: int) -> None:
        """``node``'s online users are now ``users``."""
        before = self._users_on.pop(node, set())
        if users:
            self._users_on[node] = users
        for user_id in users - before:
            self._online_on.setdefault(user_id, set()).add(node)
            self._changed(user_id)
        for user_id in before - users:
            self._leave(user_id, node, at)

    def _leave(self, user_id: int, node: str, at: int) -> None:
        nodes = self._online_on.get(user_id)
        if nodes is not None:
            nodes.discard(node)
            if not nodes:
                del self._online_on[user_id]
        self._went_offline(user_id, at)

    def _went_offline(self, user_id: int, at: int) -> None:
        if user_id in self._watches:
            self._last_seen[user_id] = max(at, self._last_seen.get(user_id, 0))
            self._schedule(user_id)

    def _changed(self, user_id: int) -> None:
        if user_id in self._watches:
            self._schedule(user_id)

    def _unwatch(self, target: int, conn: Watcher) -> None:
        watches = self._watches.get(target)
        if watches is not None:
            watches.pop(conn, None)
            if not watches:
                del self._watches[target]
                self._last_seen.pop(target, None)

    def _schedule(self, user_id: int) -> None:
        timer = self._timers.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        self._timers[user_id] = asyncio.get_running_loop().call_later(
            self._settings.presence_debounce_seconds, self._fire, user_id)

    def _fire(self, user_id: int) -> None:
        self._timers.pop(user_id, None)
        now = self._clock.now()
        for conn, watch in tuple(self._watches.get(user_id, {}).items()):
            view = self._view(user_id, watch.exact, now, self._last_seen.get(user_id))
            if watch.shown is None or view["status"] != watch.shown["status"]:
                watch.shown = view
                conn.push(conn.codec.encode({"push": "presence", **view}))

    # -- views
    def is_online(self, user_id: int) -> bool:
        return user_id in self._local or user_id in self._online_on

    def online_nodes(self, user_id: int) -> int:
        """How many nodes have a device of this user: this one by its own count,
        the others as the bus told it."""
        others = self._online_on.get(user_id, set()) - {self.node}
        return len(others) + (1 if user_id in self._local else 0)

    def _view(self, user_id: int, exact: bool, now: int, last_seen: int | None
              ) -> dict[str, Any]:
        online = self.is_online(user_id)
        if exact:
            return {"user_id": user_id, "status": "online" if online else "offline",
                    "last_seen": None if online else last_seen}
        status = "long_ago"
        if online:
            status = "recently"
        elif last_seen is not None:
            status = next((name for limit, name in ROUNDING if now - last_seen <= limit),
                          "long_ago")
        return {"user_id": user_id, "status": status, "last_seen": None}

    async def _views_txn(self, txn: Txn, viewer: int, user_ids: list[int]
                         ) -> dict[int, tuple[bool, dict[str, Any]]]:
        """user -> (exact, view) for the existing users among ``user_ids``."""
        rels = await privacy_store.relations_txn(txn, [(u, viewer) for u in user_ids])
        stored = await store.last_seen_txn(
            txn, [u for u in user_ids if u not in self._last_seen and not self.is_online(u)])
        now = self._clock.now()
        found: dict[int, tuple[bool, dict[str, Any]]] = {}
        for u in user_ids:
            rel = rels.get((u, viewer))
            if rel is None:
                continue
            exact = u == viewer or (not rel.blocks
                                    and privacy.allows(rel.settings.last_seen, rel.contact))
            found[u] = exact, self._view(u, exact, now,
                                         self._last_seen.get(u, stored.get(u)))
        return found

    def _check_ids(self, user_ids: list[int], limit: int) -> list[int]:
        ids = sorted(set(user_ids))
        if not 1 <= len(ids) <= limit:
            raise invalid(f"user_ids must hold 1 to {limit} ids", field="user_ids",
                          limit=limit)
        return ids

    # -- methods
    async def query(self, viewer: int, user_ids: list[int]) -> list[dict[str, Any]]:
        ids = self._check_ids(user_ids, self._settings.max_user_ids_per_call)
        found = await self._db.read("presence_query",
                                    lambda txn: self._views_txn(txn, viewer, ids))
        return [view for _, view in found.values()]

    async def subscribe(self, conn: Watcher, viewer: int, user_ids: list[int]
                        ) -> list[dict[str, Any]]:
        limit = self._settings.presence_max_subscriptions
        ids = self._check_ids(user_ids, limit)
        following = self._following.get(conn, set())
        if len(following | set(ids)) > limit:
            raise invalid(f"a connection follows at most {limit} users; unsubscribe some",
                          field="user_ids", limit=limit)
        found = await self._db.read("presence_subscribe",
                                    lambda txn: self._views_txn(txn, viewer, ids))
        if conn not in self._devices:  # the connection closed meanwhile
            return [view for _, view in found.values()]
        for u, (exact, view) in found.items():
            watch = _Watch(viewer, exact)
            watch.shown = view
            self._watches.setdefault(u, {})[conn] = watch
            self._following.setdefault(conn, set()).add(u)
        return [view for _, view in found.values()]

    def unsubscribe(self, conn: Watcher, user_ids: list[int] | None) -> None:
        following = self._following.get(conn, set())
        for u in list(following) if user_ids is None else user_ids:
            following.discard(u)
            self._unwatch(u, conn)
        if not following:
            self._following.pop(conn, None)
