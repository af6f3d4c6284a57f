"""The child side of the load-generator protocol (see ``tidings.bench.loader``),
plus what every generator needs: a connection with no pool limit, ``auth.token``
on it, and the descriptor limit raised. Imports only aiohttp and msgspec, so a
generator process stays lean."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec

from tidings.bench.frames import PUSH_PREFIX, Wire, reply_decoder, request
from tidings.bench.links import FrameLink, open_frames
from tidings.bench.procstat import raise_nofile_limit
from tidings.bench.rpc import RawSocket


class AuthFailed(Exception):
    pass


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def emit(data: bytes) -> None:
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.buffer.flush()


def save(path: str, result: Any) -> None:
    with open(path, "wb") as f:
        f.write(msgspec.json.encode(result))


def session() -> aiohttp.ClientSession:
    """A session whose pool does not cap the number of open WebSockets (the
    default connector allows 100)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def connect_token(http: aiohttp.ClientSession, url: str, token: str) -> RawSocket:
    """A WebSocket authenticated with ``auth.token`` (pushes before the reply are skipped)."""
    ws = await http.ws_connect(url, max_msg_size=0, decode_text=False)
    try:
        await ws.send_bytes(request(0, "auth.token", {"token": token}))
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            data: bytes = msg.data
            if data.startswith(PUSH_PREFIX):
                continue
            reply = reply_decoder.decode(data)
            if reply.error is not None:
                raise AuthFailed(f"auth.token: {reply.error.code}: {reply.error.message}")
            return ws
        raise AuthFailed("the connection closed during auth.token")
    except BaseException:
        await ws.close()
        raise


async def signed_in_link(http: aiohttp.ClientSession, url: str, wire: Wire, method: str,
                         params: dict[str, Any]) -> FrameLink:
    """A WebSocket or TCP link in ``wire``'s codec, authenticated by ``method``
    (``auth.token`` or ``auth.login``; pushes before the reply are skipped)."""
    link = await open_frames(http, url, wire.codec)
    try:
        await link.send(wire.request(0, method, params))
        while (data := await link.receive()) is not None:
            if wire.is_push(data):
                continue
            reply = wire.reply(data)
            if reply.error is not None:
                raise AuthFailed(f"{method}: {reply.error.code}: {reply.error.message}")
            return link
        raise AuthFailed(f"the connection closed during {method}")
    except BaseException:
        await link.close()
        raise


async def wait_go() -> bool:
    return (await read_line()).strip() == "go"


def run_main(main: Callable[[], Awaitable[None]]) -> None:
    raise_nofile_limit()

    async def wrapped() -> None:
        await main()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        asyncio.run(wrapped())
    else:
        uvloop.run(wrapped())
