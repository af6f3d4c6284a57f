"""Administering in the browser: a channel where only admins post, pictures
for people and groups seen by the others, and the permission checkboxes
holding a quick double change."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, WebSocketRoute, expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
    People,
    Person,
    browser,
    create_group,
    people,
    screenshot,
    send_elsewhere,
    start_direct,
    web_server,
)


def png(tmp_path: Path, name: str, colour: tuple[int, int, int]) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), colour).save(out, "PNG")
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def create_channel(me: Person, title: str, *members: Person) -> None:
    me.page.get_by_role("button", name="New chat").click()
    me.page.get_by_label("Channel: only admins post").check()
    me.page.get_by_label("Channel name").fill(title)
    me.page.get_by_label("Members (usernames, separated by spaces)").fill(
        " ".join(m.name for m in members))
    me.page.get_by_role("button", name="Create channel").click()
    expect(me.page.locator(".chat-head h2")).to_have_text(title)


def test_in_a_channel_only_the_owner_and_admins_post(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_channel(alice, "News 新闻", bob)
    alice.send("first issue")
    bob.open_chat("News 新闻")
    expect(bob.message("first issue")).to_be_visible()
    expect(bob.composer()).to_be_disabled()
    expect(bob.composer()).to_have_attribute("placeholder",
                                             "Only admins can post in this channel.")
    screenshot(bob.page, "channel")
    assert send_elsewhere(people, bob, "News 新闻", "me too") == "FORBIDDEN"
    # made an admin, bob may post
    alice.page.get_by_role("button", name="Channel info").click()
    alice.page.get_by_label(f"Role of {bob.name}").select_option("admin")
    expect(bob.composer()).to_be_enabled()
    bob.send("second issue")
    alice.page.get_by_role("button", name="Back to the chat").click()
    expect(alice.message("second issue")).to_be_visible()


def test_pictures_reach_the_other_person(people: People, tmp_path: Path) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("hi")
    create_group(alice, "Painters", bob)
    bob.page.locator(".chat-list").get_by_text("Painters", exact=True).click()
    rows = bob.page.locator(".chat-list .dialog")
    direct, group = rows.filter(has_not_text="Painters"), rows.filter(has_text="Painters")
    # no pictures yet: initials
    expect(direct.locator(".avatar.initials")).to_have_text(alice.name[:1].upper())
    expect(group.locator(".avatar.initials")).to_have_text("P")

    # alice's own picture, from her profile: bob's list shows it on their direct chat
    alice.page.get_by_role("button", name="People", exact=True).click()
    alice.page.get_by_label("My picture").set_input_files(
        str(png(tmp_path, "me.png", (200, 30, 30))))
    expect(alice.page.locator(".picture img.avatar")).to_be_visible()
    picture = direct.locator("img.avatar")
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.naturalWidth") > 0

    # the group's picture, set by its owner, shows in bob's list, header and info
    alice.open_chat("Painters")
    alice.page.get_by_role("button", name="Group info").click()
    alice.page.get_by_label("Change the picture").set_input_files(
        str(png(tmp_path, "group.png", (30, 160, 60))))
    expect(alice.page.locator(".picture img.avatar")).to_be_visible()
    expect(group.locator("img.avatar")).to_be_visible()
    expect(bob.page.locator(".chat-head img.avatar")).to_be_visible()
    bob.page.get_by_role("button", name="Group info").click()
    # a plain member may not change it (change_info is off by default)
    expect(bob.page.get_by_label("Change the picture")).to_have_count(0)
    expect(bob.page.locator(".member", has_text=alice.name).locator("img.avatar")).to_be_visible()
    # removed: initials again
    alice.page.get_by_role("button", name="Remove the picture").click()
    expect(group.locator(".avatar.initials")).to_have_text("P")


class HeldSocket:
    """Routes a page's WebSocket through the test, which can hold back what
    the server sends (a slow link) and then let it through in order."""

    def __init__(self, page: Page) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.route: WebSocketRoute | None = None
        page.route_web_socket(re.compile(r"/ws$"), self._connect)

    def _connect(self, route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        self.route = route
        server.on_message(self._from_server)
        route.on_message(server.send)

    def _from_server(self, message: str | bytes) -> None:
        if self.holding:
            self.held.append(message)
        elif self.route is not None:
            self.route.send(message)

    def release(self) -> None:
        self.holding = False
        assert self.route is not None
        for message in self.held:
            self.route.send(message)
        self.held.clear()


def test_a_permission_changed_twice_on_a_slow_link_ends_as_clicked(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Switches", bob)
    link = HeldSocket(alice.page)
    alice.page.reload()  # the new connection goes through the test
    expect(alice.page.get_by_role("status").filter(has_text="Online")).to_be_visible()
    alice.page.get_by_role("button", name="Group info").click()
    pin = alice.page.get_by_label("Pin messages")
    expect(pin).not_to_be_checked()
    link.holding = True  # nothing from the server for now
    pin.click()
    expect(pin).to_be_checked()
    # the page re-renders (typing elsewhere) before the server answered: the
    # box keeps the click instead of the state read before it
    alice.page.get_by_label("Add people").fill("someone")
    expect(pin).to_be_checked()
    pin.click()
    pin.click()
    expect(pin).to_be_checked()
    link.release()
    expect(alice.page.locator(".permissions")).to_have_attribute("aria-busy", "false")
    expect(pin).to_be_checked()
    alice.page.reload()  # the page opens on the group info again, read afresh
    expect(alice.page.get_by_label("Pin messages")).to_be_checked()
    bob.open_chat("Switches")
    bob.page.get_by_role("button", name="Group info").click()
    expect(bob.page.get_by_label("Pin messages")).to_be_checked()
    expect(bob.page.get_by_label("Pin messages")).to_be_disabled()
