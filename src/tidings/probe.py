"""``tidings admin probe``: the end-to-end check a monitor runs (after
Zulip's ``check_send_receive_time``).

Two probe users, ``{probe_username_prefix}_a`` and ``_b``, log in over
WebSocket with the client SDK (each is registered the first time, so the
probe is idempotent); each revokes its devices from earlier runs, so they do
not pile up. ``_a`` sends ``_b`` a direct message and the probe measures the
time from the send until ``_b`` receives it as a pushed update.

Exit status, as Nagios-style monitors read it:

- 0 OK: delivered within ``--warn`` (or within ``--timeout`` without ``--warn``);
- 1 WARNING: delivered, slower than ``--warn``;
- 2 CRITICAL: not delivered within ``--timeout``, or a step failed (server
  unreachable, a refused login, an error answer); also a usage error;
- 3 UNKNOWN: the probe is not configured (no ``probe_password``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@dataclass(frozen=True)
class ProbeResult:
    status: int
    summary: str
    seconds: float | None = None  # send -> push received


class ProbeFailed(Exception):
    pass


def ws_url(url: str) -> str:
    """``http://host:port`` (or ``ws://``, with or without ``/ws``) -> the WebSocket URL."""
    base = url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base.removeprefix("http")
    if not base.startswith(("ws://", "wss://")):
        raise click.BadParameter("must be http(s)://host:port", param_hint="--url")
    return base if base.endswith("/ws") else base + "/ws"


async def _sign_in(client: Any, username: str, password: str) -> int:
    """Log in, registering the user the first time; drop earlier probe devices."""
    from tidings.client import TidingsClientError

    try:
        result = await client.login(username, password, "probe")
    except TidingsClientError as exc:
        if exc.code != "INVALID_CREDENTIALS":
            raise
        try:
            result = await client.register(username, password, "probe")
        except TidingsClientError as again:
            if again.code == "USERNAME_TAKEN":  # the user exists: the password is wrong
                raise ProbeFailed(f"{username}: wrong probe_password") from exc
            raise
    await client.call("device.revoke_others")
    return int(result["user_id"])


async def run_probe(url: str, prefix: str, password: str, wait: float) -> float:
    """Seconds from the send until the receiver got the message."""
    from tidings.client import Client

    target = ws_url(url)
    # Closed in ``finally``, not ``async with``: a refused connect would leave the
    # session of a client whose ``__aenter__`` failed open.
    sender = Client(target, reconnect=False, request_timeout=wait)
    receiver = Client(target, reconnect=False, request_timeout=wait)
    try:
        await _sign_in(sender, f"{prefix}_a", password)
        receiver_id = await _sign_in(receiver, f"{prefix}_b", password)
        chat_id = int((await sender.direct(receiver_id))["chat_id"])
        await receiver.direct(int(sender.user_id or 0))  # the chat is in its view
        local_id = f"probe-{uuid.uuid4().hex}"
        got = asyncio.get_running_loop().create_future()

        def seen(update: Any) -> None:
            message = update.data.get("message") or {}
            if (update.chat_id == chat_id and update.kind == "message.new"
                    and message.get("local_id") == local_id and not got.done()):
                got.set_result(time.perf_counter())

        receiver.on_update(seen)
        start = time.perf_counter()
        await sender.send_text(chat_id, f"probe {time.time():.3f}", local_id=local_id)
        try:
            arrived: float = await asyncio.wait_for(got, wait)
        except TimeoutError:
            raise TimeoutError(f"the message was not delivered within {wait:g} s") from None
        return arrived - start
    finally:
        await sender.close()
        await receiver.close()


async def probe_once(url: str, prefix: str, password: str, wait: float,
                     warn: float | None) -> ProbeResult:
    """The probe's verdict; ``wait`` bounds each answer and the delivery."""
    from tidings.client import ClientError

    try:
        async with asyncio.timeout(wait * 3):  # logins, the chat, the send, the push
            seconds = await run_probe(url, prefix, password, wait)
    except TimeoutError as exc:
        return ProbeResult(CRITICAL, f"CRITICAL: {exc or 'no answer in time'}")
    except (ClientError, ProbeFailed, OSError) as exc:
        return ProbeResult(CRITICAL, f"CRITICAL: {type(exc).__name__}: {exc}")
    ms = seconds * 1000
    if warn is not None and seconds > warn:
        return ProbeResult(WARNING, f"WARNING: delivered in {ms:.1f} ms (over {warn:g} s)",
                           seconds)
    return ProbeResult(OK, f"OK: delivered in {ms:.1f} ms", seconds)


@click.command("probe")
@click.option("--url", required=True, help="the server, http://host:port")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="seconds to wait for the delivery (and for each answer)")
@click.option("--warn", type=click.FloatRange(min=0, min_open=True), default=None,
              help="seconds above which a delivery is a WARNING (exit 1)")
@click.option("--password", default=None, help="probe_password (else from the settings)")
@click.option("--username-prefix", "probe_username_prefix", default=None,
              help="probe_username_prefix (else from the settings)")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="TOML settings file")
def probe(url: str, timeout: float, warn: float | None, password: str | None,
          probe_username_prefix: str | None, config_file: Path | None) -> None:
    """Send a message between two probe users over WebSocket and report the
    end-to-end time; exit 0 OK, 1 WARNING (slower than --warn), 2 CRITICAL
    (not delivered, or failed), 3 UNKNOWN (no probe_password)."""
    from tidings.cli import settings_from

    settings = settings_from(config_file, probe_password=password,
                             probe_username_prefix=probe_username_prefix)
    if not settings.probe_password:
        click.echo("UNKNOWN: no probe password: pass --password or set TIDINGS_PROBE_PASSWORD")
        raise SystemExit(UNKNOWN)
    result = asyncio.run(probe_once(url, settings.probe_username_prefix,
                                    settings.probe_password, timeout, warn))
    click.echo(result.summary)
    raise SystemExit(result.status)
