"""Async Python client SDK for tidings (DESIGN.md §3 and §11): WebSocket or TCP,
JSON or MessagePack frames, the same API over each.

Imports nothing from the server but ``tidings.wire`` (shapes) and ``tidings.codecs``.

Quick start::

    async with Client("ws://127.0.0.1:8080/ws") as c:        # connect()
        await c.register("alice", "pw")                       # or login(...) / resume(token)
        bob = (await c.call("user.resolve", {"username": "bob"}))["user"]["user_id"]
        chat = await c.create_group("team", [bob])
        msg = await c.send_text(chat["chat_id"], "hi")
        await c.wait_for(lambda c: msg["msg_id"] in c.chats[chat["chat_id"]].messages)

Client(url, *, fallback_urls=(), reconnect=True, backoff_initial=0.2, backoff_max=10.0,
       request_timeout=30.0, heartbeat=20.0, reload_limit=100, codec="json")
    url: ``ws://HOST:PORT/ws`` (or ``wss://``) or ``tcp://HOST:TCP_PORT`` (the
    server's ``tcp_port``); codec: ``"json"`` or ``"msgpack"`` (WebSocket
    subprotocol ``tidings.msgpack``, or the TCP hello). Frames decode to the
    same dicts whatever the transport and codec.
    ``fallback_urls``: other nodes of the same deployment; a reconnect whose
    address refuses the connection tries the next one in turn (``url`` says
    which one the client uses now).

Connection and auth
    await connect()            open the socket (``async with`` does it); no-op if open
    await register(username, password, device_name=None) -> {user_id, device_id, token}
    await login(username, password, device_name=None)    -> {user_id, device_id, token}
    await resume(token)                                  -> {user_id, device_id}  (auth.token)
        each connects if needed, stores ``user_id``, ``device_id``, ``token`` and then
        runs ``catch_up()``.
    await close()              idempotent; ends ``updates()`` streams
    await disconnect()         go offline on purpose: socket closed, sync state kept,
                               no reconnect; ``resume(token)`` comes back and catches up
    await call(method, params=None) -> dict
        one request with a fresh id; many may be in flight at once.  Raises
        ``TidingsClientError(code, message, data)`` on an error frame,
        ``ConnectionLost`` when the socket closes first (or is not open: calls fail
        fast during a reconnect), ``RequestTimeout`` after ``request_timeout``.
    connected: bool, closed: bool, closed_reason: ClientError | None,
    reconnects: int (successful reconnects so far),
    close_code: int | None (why the server closed the last connection lost: the
        WebSocket close code or a TCP close frame's; 4001 revoked, 4008 too slow)

Reconnect (``reconnect=True``, once authenticated)
    An unexpected drop fails pending calls with ``ConnectionLost``, then retries
    with exponential backoff and jitter: new socket, ``auth.token`` with the stored
    token, ``catch_up()``.  If ``auth.token`` answers ``UNAUTHORIZED`` (device
    revoked) it stops for good: ``closed_reason`` is that ``TidingsClientError``.

Sync state (mirror of the server, updated only by applied updates)
    seq: int                                    the user's update seq
    chats: dict[int, ChatView]                  one view per chat
    ChatView: chat_id, pts, chat (dict | None), messages (msg_id -> latest message
              dict), members (set[int], known from updates only), roles
              (user_id -> role, same caveat), left (bool), read_pts (int),
              pinned (set of pinned msg_ids), dialog_pinned / dialog_hidden /
              muted_until (this user's dialog settings, from dialog.* updates),
              expired (a chat.expired update arrived and no chat.expire_set
              since: show the chat read-only).
              Deleted, hidden and cleared messages leave ``messages``; reactions,
              attributes, tags and ttl_expires_at follow their updates.
    await catch_up()     first time ``sync.get_state`` (no old messages are loaded),
                         afterwards ``sync.get_difference`` until ``more`` is false
    await load_history(chat_id, limit=100) -> messages
                         page older messages (``message.history``, ``before``) into
                         the view; returns them ascending
    Rules: a chat update with pts <= local is ignored; pts > local + 1 fills the gap
    with ``sync.get_chat_difference`` first; ``too_long`` drops the view's messages
    and reloads the newest ``reload_limit`` from history.  Chat updates of a chat
    without a view are ignored: its ``chat.joined`` user update creates the view at
    ``joined_pts - 1`` and fetches from there.  User updates follow the same rule
    with seq (a gap runs ``sync.get_difference``).  Pushes and catch-ups are applied
    under one lock, by a worker task separate from the socket reader.

Hooks
    on_update(callback) -> remove()      ``callback(Update)`` after each applied update
    updates() -> UpdateStream            ``async for upd in client.updates(): ...``
                                         (ends at close(); ``aclose()`` it when done)
    await wait_for(predicate, timeout=10.0)
        until ``predicate(client)`` is true, re-checked after every change; a
        ``LookupError`` inside it counts as false; ``TimeoutError`` on timeout.
    Update: scope ("chat" | "user"), kind, data (the wire dict), chat_id, .pts, .seq.
    Kind ``"chat.reloaded"`` (scope chat, data {pts, updates}) announces a too_long
    reload: re-read the whole view.

Conveniences (thin wrappers over ``call``)
    send(chat_id, *, local_id=None, **fields) -> message   (uuid4 hex local_id;
                              the result is folded into the view right away)
    send_text(chat_id, text, **kw) -> message
    direct(user_id) -> chat;  create_group(title, member_ids, kind="group") -> chat
                              (the chat's view exists when they return)
    add_members(chat_id, user_ids) / remove_member(chat_id, user_id) /
    recall(chat_id, msg_id) / leave(chat_id) -> pts   (view synced up to that pts)
    history(chat_id, *, before=None, after=None, limit=None) -> messages (raw page)
    mark_read(chat_id, pts) -> read_pts
    members(chat_id, *, limit=None, cursor=None, query=None, role=None)
                              -> {members, next_cursor} (one ``chat.members`` page)
    send_typing(chat_id, action="typing") -> relayed (bool)
    typing_in(chat_id) -> {user_id: action}   who is typing now, from ``typing``
                              pushes, each dropped after its ``expires_in``

Errors: ClientError > TidingsClientError (.code, .message, .data), ConnectionLost,
RequestTimeout (also a TimeoutError).
"""

from tidings.client.client import Client
from tidings.client.errors import ClientError, ConnectionLost, RequestTimeout, TidingsClientError
from tidings.client.events import CHAT_RELOADED, Update, UpdateStream
from tidings.client.state import ChatView

__all__ = [
    "CHAT_RELOADED",
    "ChatView",
    "Client",
    "ClientError",
    "ConnectionLost",
    "RequestTimeout",
    "TidingsClientError",
    "Update",
    "UpdateStream",
]
