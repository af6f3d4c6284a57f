"""Structured logs (issue 11, item 4): JSON lines in production, readable
lines with --dev, and a request id on every line a request causes, which an
INTERNAL error also hands to the client."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tidings.client import Client, TidingsClientError
from tidings.request_id import REQUEST_ID
from tidings.testing import running_server, test_settings

from .helpers import PASSWORD

SCRIPT = """
import logging, sys
from tidings.logs import setup_logging
from tidings.request_id import REQUEST_ID
setup_logging("info", dev=sys.argv[1] == "dev")
log = logging.getLogger("tidings.demo")
log.info("outside any request")
token = REQUEST_ID.set("abc-1")
log.warning("user %s did %s", 7, "something")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("it failed")
REQUEST_ID.reset(token)
log.debug("hidden at info")
"""


def run(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                          text=True, timeout=60, check=True)
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_production_lines_are_json_with_the_request_id() -> None:
    lines = [json.loads(line) for line in run("prod") if line.startswith("{")]
    assert [(r["level"], r["event"], r.get("request_id")) for r in lines] == [
        ("info", "outside any request", None),
        ("warning", "user 7 did something", "abc-1"),
        ("error", "it failed", "abc-1"),
    ]
    assert all(r["logger"] == "tidings.demo" and r["timestamp"].endswith("Z") for r in lines)
    assert "ZeroDivisionError" in lines[2]["exception"]


def test_dev_lines_are_readable() -> None:
    text = "\n".join(run("dev"))
    assert "user 7 did something" in text and "request_id=abc-1" in text
    assert not text.lstrip().startswith("{")
    assert "ZeroDivisionError" in text


class Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.ids.append(REQUEST_ID.get())


async def test_internal_error_names_the_request_id_it_was_logged_under(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = Seen()
    logging.getLogger("tidings.api.dispatcher").addHandler(seen)
    try:
        async with running_server(test_settings(tmp_path)) as srv, Client(srv.url) as alice:
            await alice.register("alice", PASSWORD)

            async def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("a bug")

            monkeypatch.setattr(srv.services.users, "get", broken)
            with pytest.raises(TidingsClientError) as err:
                await alice.call("user.get", {"user_ids": [1]})
    finally:
        logging.getLogger("tidings.api.dispatcher").removeHandler(seen)
    assert err.value.code == "INTERNAL"
    request_id = err.value.data["request_id"]
    assert isinstance(request_id, str) and request_id in seen.ids
