"""The account and message tools in the browser: my devices (rename, sign one
out, sign out the others: that page returns to the sign-in form), the
auto-delete setting, message tags, exporting a chat, search across every
chat, the "expires soon" hint on media, and a conversation list longer than
one page of chat.list."""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import WebSocket, expect

from tidings.client import Client, TidingsClientError

from .web_helpers import (  # fixtures by name: browser, people, web_server
    PASSWORD,
    People,
    Person,
    WebServer,
    as_device,
    browser,
    create_group,
    people,
    screenshot,
    start_direct,
    web_server,
)


def sign_in_again(people: People, person: Person) -> Person:
    """``person`` on a second browser (a new context signs in: a new device)."""
    context = people.browser.new_context()
    page = context.new_page()
    again = Person(person.name, context, page)
    page.on("console", lambda m: again.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: again.errors.append(str(e)))
    local = (people.server.url, people.server.ws_url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(local) else again.foreign.append(r.url))
    page.goto(people.server.url)
    page.get_by_label("Username").fill(person.name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Online")).to_be_visible()
    people.people.append(again)
    return again


async def send_patiently(client: Client, chat_id: int, text: str) -> None:
    """Send, waiting out the send rate limit (its burst is 50)."""
    while True:
        try:
            await client.send_text(chat_id, text)
            return
        except TidingsClientError as error:
            if error.code != "RATE_LIMITED":
                raise
            await asyncio.sleep(float(error.data.get("retry_after", 1)))


def hover_action(message: Any, name: str) -> None:
    message.hover()
    message.get_by_role("button", name=name, exact=True).click()


def test_devices_rename_sign_one_out_and_all_others(people: People,
                                                    web_server: WebServer) -> None:
    alice = people.sign_up("alice")
    laptop = sign_in_again(people, alice)
    alice.page.get_by_role("button", name="Devices").click()
    devices = alice.page.get_by_role("list", name="My devices")
    expect(devices.locator("li.device")).to_have_count(2)
    current = devices.locator("li.device", has_text="This device")
    expect(current).to_have_count(1)
    other = devices.locator("li.device").filter(has_not_text="This device")
    expect(other.get_by_role("button", name="Sign out web browser")).to_be_visible()
    expect(current.get_by_role("button", name="Sign out web browser")).to_have_count(0)

    other.get_by_role("button", name="Rename web browser").click()
    other.get_by_label("New name for web browser").fill("old laptop")
    other.get_by_role("button", name="Save").click()
    expect(devices).to_contain_text("old laptop")
    screenshot(alice.page, "devices")

    devices.get_by_role("button", name="Sign out old laptop").click()
    expect(devices.locator("li.device")).to_have_count(1)
    # the laptop's page is closed by the server and goes back to signing in
    expect(laptop.page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(laptop.page.get_by_role("status").filter(has_text="Online")).to_have_count(0)

    as_device(web_server, alice, lambda client: client.call("device.list"))  # a third device
    alice.page.get_by_role("button", name="Back to conversations").click()
    alice.page.get_by_role("button", name="Devices").click()
    expect(devices.locator("li.device")).to_have_count(2)
    alice.page.get_by_role("button", name="Sign out all other devices").click()
    expect(alice.page.get_by_role("status").filter(
        has_text="Signed out 1 other device")).to_be_visible()
    expect(devices.locator("li.device")).to_have_count(1)
    expect(alice.page.get_by_role("button", name="Sign out all other devices")).to_be_disabled()


def test_auto_delete_setting_shows_in_the_timeline_and_on_messages(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("kept forever")
    alice.page.get_by_role("button", name="Settings", exact=True).click()
    group = alice.page.get_by_role("group", name="Auto-delete messages")
    expect(group.get_by_role("radio", name="Off")).to_be_checked()
    group.get_by_role("radio", name="1 day").check()
    expect(group.get_by_role("radio", name="1 day")).to_be_checked()
    alice.page.get_by_role("button", name="Back to the chat").click()
    line = f"{alice.name} turned on auto-delete after 1 day"
    bob.open_chat(alice.name)
    for person in (alice, bob):
        expect(person.timeline().locator("li.system", has_text=line)).to_be_visible()
    alice.send("gone tomorrow")
    for person in (alice, bob):
        expect(person.message("gone tomorrow").locator(".ttl")).to_have_text(
            "⏱ disappears in 24 hours")
        expect(person.message("kept forever").locator(".ttl")).to_have_count(0)
    # the other member sees the setting as it is now, and may change it back
    bob.page.get_by_role("button", name="Settings", exact=True).click()
    setting = bob.page.get_by_role("group", name="Auto-delete messages")
    expect(setting.get_by_role("radio", name="1 day")).to_be_checked()
    setting.get_by_role("radio", name="Off").check()
    expect(alice.timeline().locator(
        "li.system", has_text=f"{bob.name} turned off auto-delete")).to_be_visible()


def test_tags_show_as_chips_survive_a_reload_and_filter_the_chat(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Kitchen", bob)
    alice.send("lunch at noon")
    alice.send("unrelated note")
    bob.open_chat("Kitchen")
    lunch = alice.message("lunch at noon")
    hover_action(lunch, "Tags")
    lunch.get_by_label("Add a tag").fill("  Lunch ")
    lunch.get_by_role("button", name="Add", exact=True).click()
    lunch.get_by_label("Add a tag").fill("team")
    lunch.get_by_role("button", name="Add", exact=True).click()
    for person in (alice, bob):
        chips = person.message("lunch at noon").get_by_role("list", name="Tags")
        expect(chips.locator("li")).to_have_text(["#lunch", "#team"])
    # a plain member may not tag someone else's message
    bob.message("lunch at noon").hover()
    expect(bob.message("lunch at noon").get_by_role("button", name="Tags")).to_have_count(0)

    lunch.get_by_role("button", name="Remove tag team").click()
    expect(bob.message("lunch at noon").get_by_role("list", name="Tags").locator("li")
           ).to_have_text(["#lunch"])
    alice.page.reload()
    alice.open_chat("Kitchen")
    expect(alice.message("lunch at noon").get_by_role("list", name="Tags").locator("li")
           ).to_have_text(["#lunch"])

    bob.page.get_by_role("button", name="Search", exact=True).click()
    bob.page.get_by_role("group", name="Filter by tag").get_by_role(
        "button", name="#lunch").click()
    results = bob.page.get_by_role("list", name="Search results")
    expect(results.locator("li")).to_have_count(1)
    expect(results).to_contain_text("lunch at noon")
    results.get_by_role("button").click()
    expect(bob.message("lunch at noon")).to_be_focused()


def test_export_downloads_a_file_with_the_chats_text(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("export me <b>please</b> 导出")
    bob.open_chat(alice.name)
    bob.send("and my reply")
    bob.page.get_by_role("button", name="Settings", exact=True).click()
    panel = bob.page.get_by_role("group", name="Export the history")
    panel.get_by_role("radio", name="JSON Lines").check()
    panel.get_by_role("button", name="Export").click()
    download_button = panel.get_by_role("button", name="Download")
    expect(download_button).to_be_visible(timeout=30000)
    expect(panel.get_by_role("status")).to_have_text("Ready: 2 messages")
    with bob.page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename.endswith(".jsonl")
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == [
        "export me <b>please</b> 导出", "and my reply"]


def test_search_across_chats_opens_the_chat_at_the_message(
        people: People, web_server: WebServer) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    start_direct(alice, bob)
    alice.send("pineapple belongs on nothing")
    start_direct(carol, alice)
    carol.send("pineapple pizza tonight? 菠萝披萨")

    async def bury(client: Client) -> None:  # the match is above the newest page
        chat_id = (await client.call("chat.list", {}))["chats"][0]["chat"]["chat_id"]
        for i in range(55):
            await send_patiently(client, chat_id, f"filler {i}")
    as_device(web_server, carol, bury)

    alice.page.get_by_role("button", name="Search all chats").click()
    alice.page.get_by_role("searchbox", name="Search all chats").fill("pineapple")
    alice.page.locator("form[role=search]").get_by_role("button", name="Search").click()
    with_carol = alice.page.get_by_role("region", name=f"In {carol.name}")
    with_bob = alice.page.get_by_role("region", name=f"In {bob.name}")
    expect(with_carol).to_contain_text("pineapple pizza tonight?")
    expect(with_bob).to_contain_text("pineapple belongs on nothing")
    expect(with_carol.locator("mark")).to_have_text("pineapple")
    screenshot(alice.page, "search")
    with_carol.get_by_role("button").click()
    expect(alice.page.locator(".chat-head h2")).to_have_text(carol.name)
    expect(alice.message("pineapple pizza tonight?")).to_be_in_viewport()
    expect(alice.message("pineapple pizza tonight?")).to_be_focused()


def test_media_near_its_expiry_shows_the_expires_soon_hint(people: People,
                                                           tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    # one day of retention: well inside the server's "expiring soon" week
    alice.page.get_by_role("button", name="Settings", exact=True).click()
    group = alice.page.get_by_role("group", name="Message retention")
    group.get_by_role("radio", name="1 day").check()
    group.get_by_role("button", name="Save").click()
    alice.page.get_by_role("button", name="Back to the chat").click()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 30)).save(out, "PNG")
    picture = tmp_path / "sunset.png"
    picture.write_bytes(out.getvalue())
    alice.page.get_by_label("Files to send").set_input_files(str(picture))
    bob.open_chat(alice.name)
    for person in (alice, bob):
        media = person.timeline().locator(".media", has=person.page.get_by_role(
            "img", name="sunset.png"))
        expect(media.locator(".expiring")).to_contain_text("⏳ Expires on ")


def test_a_long_conversation_list_pages_to_the_oldest_without_a_chat_get_each(
        people: People, web_server: WebServer) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)  # a direct chat: named from chat.list alone

    async def many(client: Client) -> int:
        oldest = await client.create_group("the oldest group", [])
        for i in range(230):
            await client.create_group(f"group {i:03}", [])
        return int(oldest["chat_id"])
    oldest_id = as_device(web_server, alice, many)
    created = math.floor(time.time())

    methods: list[str] = []

    def watch(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            if isinstance(payload, str) and payload.startswith("{"):
                methods.append(json.loads(payload).get("method", ""))
        ws.on("framesent", sent)
    alice.page.on("websocket", watch)
    alice.page.goto(web_server.url)  # opened again, with no chat open: the list alone
    chat_list = alice.page.locator(".chat-list")
    expect(chat_list.locator("li.dialog").first).to_contain_text("group 229")
    expect(chat_list.locator("li.dialog", has_text=bob.name)).to_have_count(0)
    rows = chat_list.locator("li.dialog")
    expect(rows).to_have_count(100)  # one page of chat.list
    # a message in a chat below the loaded page brings it to the top. chat.list
    # orders by last activity in whole seconds, ties by chat id: the message
    # goes out in a later second than the newest group's creation.
    time.sleep(max(0.0, created + 1.05 - time.time()))
    as_device(web_server, alice, lambda client: client.send_text(oldest_id, "back on top"))
    expect(rows.first).to_contain_text("the oldest group")
    expect(rows.first).to_contain_text("back on top")
    expect(rows).to_have_count(100)
    for shown in (200, 232):  # scrolled to its end, the list pages in the next
        chat_list.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        expect(rows).to_have_count(shown)
    expect(chat_list.locator(".more")).to_have_count(0)
    expect(rows.nth(230)).to_contain_text("group 000")
    expect(rows.nth(231)).to_contain_text(bob.name)
    rows.nth(231).scroll_into_view_if_needed()
    expect(rows.nth(231)).to_be_in_viewport()
    expect(chat_list.locator("li.dialog", has_text="the oldest group")).to_have_count(1)
    assert "chat.get" not in methods, methods
