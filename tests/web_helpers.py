"""The browser tests' harness: a real ``tidings serve`` process, Debian's
Chromium driven by Playwright, pages that sign up through the UI, and a check
that no page logged a console error or sent a request off the server's origin.

Chromium is ``/usr/bin/chromium`` (``.ci/run`` installs it); without it these
tests fail, never skip. The server and the browser live for one test module:
Playwright's sync API must not be running while another module's asyncio
tests run. Screenshots go to ``TIDINGS_SCREENSHOT_DIR`` when it is
set (``docs/screenshots`` holds the committed ones).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tidings.client import Client, TidingsClientError
from tidings.testing import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse"
# Files of kind "file" expire a few seconds after upload, and the job runner
# looks twice a second, so the expired placeholder shows up within the test.
FILE_TTL_SECONDS = 4
SERVER_ENV = {
    "TIDINGS_ARGON2_TIME_COST": "1",
    "TIDINGS_ARGON2_MEMORY_COST_KIB": "64",
    "TIDINGS_JOBS_INTERVAL_SECONDS": "0.5",
    "TIDINGS_MEDIA_TTL_FILE_SECONDS": str(FILE_TTL_SECONDS),
}
_names = itertools.count(1)


@dataclass
class WebServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "ws"


def start_server(data_dir: Path) -> WebServer:
    port = free_port()
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidings", "serve", "--port", str(port), "--data-dir",
             str(data_dir / "data")], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **SERVER_ENV})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1) as response:
                if response.status == 200:
                    return WebServer(url, process, log)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tidings serve did not start: {log.read_text()}")


def stop_server(server: WebServer) -> str:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    return server.log.read_text()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = start_server(tmp_path_factory.mktemp("web"))
    yield server
    log = stop_server(server)
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Person:
    """One user in one browser context, signed up through the page."""

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def composer(self) -> Any:
        return self.page.get_by_role("textbox", name="Message", exact=True)

    def send(self, text: str) -> None:
        self.composer().fill(text)
        self.composer().press("Enter")
        expect(self.timeline()).to_contain_text(text)

    def timeline(self) -> Any:
        return self.page.locator("ol.timeline")

    def open_chat(self, title: str) -> None:
        self.page.locator(".chat-list").get_by_text(title, exact=True).click()
        expect(self.page.locator(".chat-head h2")).to_have_text(title)

    def message(self, text: str) -> Any:
        return self.timeline().locator("li.message", has_text=text)


class People:
    def __init__(self, server: WebServer, browser: Browser) -> None:
        self.server = server
        self.browser = browser
        self.people: list[Person] = []

    def sign_up(self, stem: str, **context_options: Any) -> Person:
        name = f"{stem}{next(_names)}"
        context = self.browser.new_context(**context_options)
        page = context.new_page()
        person = Person(name, context, page)
        page.on("console", lambda m: person.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: person.errors.append(str(e)))
        local = (self.server.url, self.server.ws_url, "data:", "blob:")
        page.on("request", lambda r: None if r.url.startswith(local)
                else person.foreign.append(r.url))
        page.goto(self.server.url)
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("status").filter(has_text="Online")).to_be_visible()
        self.people.append(person)
        return person

    def check_clean(self) -> None:
        for person in self.people:
            assert person.errors == [], f"{person.name}'s console: {person.errors}"
            assert person.foreign == [], f"{person.name} left the origin: {person.foreign}"

    def close(self) -> None:
        for person in self.people:
            person.context.close()


@pytest.fixture
def people(web_server: WebServer, browser: Browser) -> Iterator[People]:
    crowd = People(web_server, browser)
    yield crowd
    try:
        crowd.check_clean()
    finally:
        crowd.close()


def start_direct(me: Person, other: Person) -> None:
    me.page.get_by_role("button", name="New chat").click()
    me.page.get_by_label("Username", exact=True).fill(other.name)
    me.page.get_by_role("button", name="Start chat").click()
    expect(me.page.locator(".chat-head h2")).to_have_text(other.name)


def create_group(me: Person, title: str, *members: Person) -> None:
    me.page.get_by_role("button", name="New chat").click()
    me.page.get_by_label("Group name").fill(title)
    me.page.get_by_label("Members (usernames, separated by spaces)").fill(
        " ".join(m.name for m in members))
    me.page.get_by_role("button", name="Create group").click()
    expect(me.page.locator(".chat-head h2")).to_have_text(title)


def as_device(server: WebServer, person: Person,
              work: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run ``work`` on a second device of ``person`` (the Python SDK over the
    wire): how a test sets up what the UI of this part does not offer."""
    async def run() -> Any:
        async with Client(server.ws_url, reconnect=False) as client:
            await client.login(person.name, PASSWORD, "test device")
            return await work(client)
    # Playwright's sync API runs its own event loop in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run())).result()


def send_elsewhere(people: People, person: Person, title: str, text: str) -> str:
    """Send from the person's second device (the SDK): "sent" or the error code."""
    async def work(client: Client) -> str:
        rows = (await client.call("chat.list", {"limit": 50}))["chats"]
        chat_id = next(r["chat"]["chat_id"] for r in rows if r["chat"]["title"] == title)
        try:
            await client.call("message.send", {"chat_id": chat_id, "local_id": text,
                                               "text": text})
        except TidingsClientError as error:
            return error.code
        return "sent"
    return str(as_device(people.server, person, work))


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("TIDINGS_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
