"""Setting a run up over the protocol, before any clock starts: accounts (one
device and token each), groups, and chats filled with messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from tidings.bench import plan as p
from tidings.bench.rpc import RpcSocket
from tidings.bench.ws_ingest import create_group

SETUP_CONCURRENCY = 16
FILL_WINDOW = 128
FILL_TEXT = ("history " * 13)[:100]  # ~100 bytes, like a short chat message


@dataclass(frozen=True)
class Account:
    user_id: int
    device_id: int
    token: str


async def register_account(session: aiohttp.ClientSession, url: str, name: str) -> Account:
    sock = await RpcSocket.connect(session, url)
    try:
        result = await sock.call("auth.register", {"username": name, "password": p.PASSWORD,
                                                   "device_name": "bench"})
    finally:
        await sock.close()
    return Account(int(result["user_id"]), int(result["device_id"]), str(result["token"]))


async def login_device(session: aiohttp.ClientSession, url: str, name: str,
                       device_name: str) -> Account:
    """A second device of an existing user (``auth.login`` creates a device)."""
    sock = await RpcSocket.connect(session, url)
    try:
        result = await sock.call("auth.login", {"username": name, "password": p.PASSWORD,
                                                "device_name": device_name})
    finally:
        await sock.close()
    return Account(int(result["user_id"]), int(result["device_id"]), str(result["token"]))


async def register_accounts(session: aiohttp.ClientSession, url: str, names: list[str]
                            ) -> list[Account]:
    limit = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(name: str) -> Account:
        async with limit:
            return await register_account(session, url, name)

    return list(await asyncio.gather(*(one(name) for name in names)))


@contextlib.asynccontextmanager
async def signed_in(session: aiohttp.ClientSession, url: str, account: Account
                    ) -> AsyncIterator[RpcSocket]:
    """A setup connection of an account's device, closed after the block."""
    sock = await RpcSocket.connect(session, url)
    try:
        await sock.call("auth.token", {"token": account.token})
        yield sock
    finally:
        await sock.close()


async def group_of(session: aiohttp.ClientSession, url: str, owner: Account,
                   members: list[Account], title: str) -> int:
    async with signed_in(session, url, owner) as sock:
        return await create_group(sock, title, [m.user_id for m in members])


async def fill(sock: RpcSocket, chat_id: int, count: int, tag: str,
               window: int = FILL_WINDOW) -> list[int]:
    """Send ``count`` messages with ``window`` in flight; their msg_ids, ascending."""
    limit = asyncio.Semaphore(window)

    async def one(i: int) -> int:
        async with limit:
            result = await sock.call("message.send", {
                "chat_id": chat_id, "local_id": f"{tag}.{i}", "text": FILL_TEXT})
            return int(result["message"]["msg_id"])

    return sorted(await asyncio.gather(*(one(i) for i in range(count))))
