"""Media and chat settings in the browser, as seed 000 draws them: images
inline, an expired file as its placeholder card with this viewer's actions,
renewing it from the group pool, the retention setting, and an expired chat."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
    FILE_TTL_SECONDS,
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


def attach(person: Person, path: Path) -> None:
    person.page.get_by_label("Files to send").set_input_files(str(path))


def png(tmp_path: Path, name: str) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 120, 200)).save(out, "PNG")
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def test_an_image_shows_inline_on_both_sides(people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    attach(alice, png(tmp_path, "lake.png"))
    for person in (alice, bob):
        if person is bob:
            bob.open_chat(alice.name)
        image = person.timeline().get_by_role("img", name="lake.png")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") > 0
    expect(bob.page.locator(".dialog", has_text=alice.name).locator(".preview")).to_contain_text(
        "photo")


def test_upload_shows_its_progress_then_the_file(people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    # A slow uplink, so the upload takes long enough to watch.
    cdp = alice.context.new_cdp_session(alice.page)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 256 * 1024})
    big = tmp_path / "noise.png"  # an image: it does not expire during the test
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(big, "PNG")
    attach(alice, big)
    progress = alice.page.get_by_role("progressbar", name="Uploading noise.png")
    expect(progress).to_be_visible()
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    expect(progress).to_have_count(0, timeout=30000)
    bob.open_chat(alice.name)
    expect(bob.timeline().get_by_role("img", name="noise.png")).to_be_visible()


def test_expired_file_shows_the_placeholder_and_renewing_from_the_pool_brings_it_back(
        people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Film night", bob)
    alice.page.get_by_role("button", name="Storage pool").click()
    alice.page.get_by_role("button", name="Turn the pool on (5 GB)").click()
    expect(alice.page.locator(".pool")).to_contain_text("5 GB")
    screenshot(alice.page, "pool")
    alice.page.get_by_role("button", name="Back to the chat").click()
    notes = tmp_path / "notes.txt"
    notes.write_text("the plan for the film night\n")
    attach(alice, notes)
    bob.open_chat("Film night")
    expect(bob.timeline().locator(".file-card", has_text="notes.txt")).to_be_visible()

    # The file's lifetime is FILE_TTL_SECONDS: the expiry job's update arrives live.
    placeholder = f"This file expired · sent on {time.strftime('%Y-%m-%d')} · by @{alice.name}"
    timeout = (FILE_TTL_SECONDS + 10) * 1000
    for person in (alice, bob):
        expect(person.timeline().locator(".expired-card")).to_contain_text(placeholder,
                                                                           timeout=timeout)
    # Each sees the actions the server lists for them: the owner-sender renews or
    # keeps it; a member asks.
    card = alice.timeline().locator(".expired-card")
    expect(card.get_by_role("button")).to_have_text(["Renew 30 days from the group pool",
                                                     "Move to my custody"])
    expect(bob.timeline().locator(".expired-card").get_by_role("button")).to_have_text(
        ["Ask to keep it"])
    screenshot(alice.page, "expired-file")

    card.get_by_role("button", name="Renew 30 days from the group pool").click()
    dialog = alice.page.get_by_role("dialog", name="Renew for 30 days from the group pool")
    expect(dialog).to_contain_text("Pool remaining")
    expect(dialog).to_contain_text("5 GB")
    expect(dialog).to_contain_text("28 B")
    expected = time.strftime("%Y-%m-%d", time.localtime(time.time() + 30 * 86400))
    expect(dialog).to_contain_text(expected)
    screenshot(alice.page, "renew-dialog")
    dialog.get_by_role("button", name="Renew 30 days").click()
    for person in (alice, bob):
        expect(person.timeline().locator(".expired-card")).to_have_count(0)
        expect(person.timeline().locator(".file-card", has_text="notes.txt")).to_be_visible()
    # the file now takes room in the pool; a member sponsors more
    bob.page.get_by_role("button", name="Storage pool").click()
    pool = bob.page.locator(".pool")
    expect(pool).to_contain_text("1 files")
    bob.page.get_by_label("GB to add").fill("1")
    bob.page.get_by_role("button", name="Sponsor").click()
    expect(pool.locator("dd").first).to_have_text("6 GB")
    expect(pool).to_contain_text(f"{bob.name} · 1 GB")


def test_the_sender_moves_an_expired_file_into_custody(people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    memo = tmp_path / "memo.txt"
    memo.write_text("keep me\n")
    attach(alice, memo)
    card = alice.timeline().locator(".expired-card")
    expect(card).to_be_visible(timeout=(FILE_TTL_SECONDS + 10) * 1000)
    card.get_by_role("button", name="Move to my custody").click()
    dialog = alice.page.get_by_role("dialog", name="Move to my custody")
    expect(dialog).to_contain_text("Your space remaining")
    expect(dialog).to_contain_text("1 GB of 1 GB")
    expect(dialog).to_contain_text("8 B")
    dialog.get_by_role("button", name="Move to my custody").click()
    expect(alice.timeline().locator(".file-card", has_text="memo.txt")).to_be_visible()
    expect(card).to_have_count(0)
    bob.open_chat(alice.name)
    expect(bob.timeline().locator(".file-card", has_text="memo.txt")).to_be_visible()


def test_retention_setting_changes_and_the_timeline_says_so(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Photos 相册", bob)
    bob.open_chat("Photos 相册")
    alice.page.get_by_role("button", name="Settings", exact=True).click()
    group = alice.page.get_by_role("group", name="Message retention")
    expect(group.get_by_role("radio", name="Forever — recommended")).to_be_checked()
    expect(group).to_contain_text("Text and conversation structure are always kept")
    group.get_by_role("radio", name="7 days").check()
    screenshot(alice.page, "retention")
    group.get_by_role("button", name="Save").click()
    saved = alice.page.get_by_role("status").filter(has_text="retention is now 7 days")
    expect(saved).to_be_visible()
    alice.page.get_by_role("button", name="Back to the chat").click()
    line = f"{alice.name} set message retention to 7 days"
    for person in (alice, bob):
        expect(person.timeline().locator("li.system", has_text=line)).to_be_visible()
    # a plain member sees the setting but may not change it
    bob.page.get_by_role("button", name="Settings", exact=True).click()
    expect(bob.page.get_by_role("radio", name="7 days")).to_be_checked()
    expect(bob.page.get_by_role("radio", name="7 days")).to_be_disabled()


def test_expired_chat_shows_a_banner_and_disables_the_composer(
        people: People, web_server: WebServer) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Trip 2026", bob)
    alice.send("see you in Lisbon")
    bob.open_chat("Trip 2026")

    async def expire_soon(client: Any) -> None:
        chat_id = (await client.call("chat.list"))["chats"][0]["chat"]["chat_id"]
        soon = int(time.time()) + 2
        await client.call("chat.set_expire", {"chat_id": chat_id, "expire_at": soon})

    as_device(web_server, alice, expire_soon)
    for person in (alice, bob):
        banner = person.page.get_by_role("status").filter(has_text="This chat expired")
        expect(banner).to_be_visible(timeout=15000)
        expect(person.composer()).to_be_disabled()
        # the history stays readable
        expect(person.timeline()).to_contain_text("see you in Lisbon")
    expect(bob.timeline().locator("li.system", has_text="This chat expired")).to_be_visible()
    screenshot(bob.page, "expired-chat")


def test_phone_sized_viewport_shows_one_pane_at_a_time(people: People) -> None:
    alice = people.sign_up("alice")
    bob = people.sign_up("bob", viewport={"width": 390, "height": 844}, is_mobile=True,
                         has_touch=True)
    start_direct(alice, bob)
    alice.send("在手机上也能看吗 Can you read this on a phone?")
    expect(bob.page.locator(".chat-list")).to_be_visible()
    bob.open_chat(alice.name)
    expect(bob.page.locator(".chat-list")).to_be_hidden()
    expect(bob.message("在手机上也能看吗")).to_be_visible()
    screenshot(bob.page, "phone")
    bob.page.get_by_role("button", name="Back to conversations").click()
    expect(bob.page.locator(".chat-list")).to_be_visible()


def test_a_member_asks_to_keep_a_file_and_the_owner_approves(
        people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Archive", bob)
    alice.page.get_by_role("button", name="Storage pool").click()
    alice.page.get_by_role("button", name="Turn the pool on (5 GB)").click()
    expect(alice.page.locator(".pool")).to_contain_text("5 GB")
    alice.page.get_by_role("button", name="Back to the chat").click()
    minutes = tmp_path / "minutes.txt"
    minutes.write_text("decisions\n")
    attach(alice, minutes)
    bob.open_chat("Archive")
    card = bob.timeline().locator(".expired-card")
    expect(card).to_be_visible(timeout=(FILE_TTL_SECONDS + 10) * 1000)
    card.get_by_role("button", name="Ask to keep it").click()
    bob.page.get_by_role("dialog", name="Ask to keep this file").get_by_role(
        "button", name="Ask to keep it").click()
    expect(bob.page.get_by_role("status").filter(has_text="Asked the owners")).to_be_visible()

    alice.page.get_by_role("button", name="Storage pool").click()
    request = alice.page.locator(".member", has_text=f"{bob.name} asks to keep a file")
    request.get_by_role("button", name="Renew 30 days").click()
    expect(request).to_have_count(0)
    expect(alice.page.locator(".pool")).to_contain_text("1 files")
    expect(bob.timeline().locator(".file-card", has_text="minutes.txt")).to_be_visible()
