"""The web client in a real Chromium against a real server: two people chat
live, recall, reply and jump to the original, and a device that went offline
catches up to exactly what the other side shows."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.sync_api import expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
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


def texts(person: Person) -> list[str]:
    return [t.strip() for t in person.timeline().locator("li.message .text").all_inner_texts()]


def test_two_people_chat_live_and_the_list_follows(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("hello bob, 你好")
    # bob's conversation list shows the new chat, its preview and an unread badge live
    row = bob.page.locator(".dialog", has_text=alice.name)
    expect(row.locator(".preview")).to_have_text("hello bob, 你好")
    expect(row.locator(".badge.unread")).to_have_text("1")
    bob.open_chat(alice.name)
    expect(bob.message("hello bob, 你好")).to_be_visible()
    expect(row.locator(".badge.unread")).to_have_count(0)
    bob.send("hi alice 👋")
    expect(alice.message("hi alice 👋")).to_be_visible()
    # bob read alice's message: her direct chat shows it as read
    expect(alice.message("hello bob").locator(".ticks")).to_have_attribute("aria-label", "read")
    screenshot(alice.page, "chat")


def test_recall_shows_the_marker_on_both_sides(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("wrong account number")
    bob.open_chat(alice.name)
    expect(bob.message("wrong account number")).to_be_visible()
    alice.message("wrong account number").hover()
    alice.message("wrong account number").get_by_role("button", name="Recall").click()
    expect(alice.timeline().locator("li.recalled")).to_have_text("You recalled a message")
    expect(bob.timeline().locator("li.recalled")).to_have_text(f"{alice.name} recalled a message")
    expect(bob.timeline()).not_to_contain_text("wrong account number")
    expect(bob.page.locator(".dialog", has_text=alice.name).locator(".preview")).to_have_text(
        f"{alice.name} recalled a message")


def test_reply_jumps_to_its_original_beyond_the_loaded_page(
        people: People, web_server: WebServer) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Reading club", bob)
    alice.send("the original question")

    async def chatter(client: Any) -> None:
        chat_id = (await client.call("chat.list"))["chats"][0]["chat"]["chat_id"]
        original = next(m["msg_id"] for m in await client.history(chat_id)
                        if m["text"] == "the original question")
        for i in range(70):
            await client.send_text(chat_id, f"filler {i}")
        await client.send_text(chat_id, "the answer", reply_to=original)

    as_device(web_server, alice, chatter)
    bob.open_chat("Reading club")
    answer = bob.message("the answer")
    expect(answer.locator(".reply-preview")).to_contain_text("the original question")
    # the original lies beyond the newest page the chat opened with
    original = bob.timeline().locator("li.message").filter(
        has=bob.page.locator("p.text", has_text=re.compile("^the original question$")))
    expect(original).to_have_count(0)
    answer.locator(".reply-preview").click()
    expect(original).to_be_in_viewport()
    expect(original).to_have_class("message theirs highlight")
    # scrolling down from there pages the newer messages back in, in order
    bob.timeline().evaluate("el => el.scrollTop = el.scrollHeight")
    expect(bob.message("filler 69")).to_be_attached()
    expect(bob.page.get_by_role("button", name="Newer messages ↓")).to_have_count(0)


def test_offline_device_reconnects_and_shows_what_the_other_side_shows(
        people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("before the nap")
    bob.open_chat(alice.name)
    expect(bob.message("before the nap")).to_be_visible()

    bob.context.set_offline(True)
    expect(bob.page.get_by_role("status").filter(has_text="Offline")).to_be_visible()
    for text in ("while you slept 1", "while you slept 2", "oops"):
        alice.send(text)
    alice.message("oops").hover()
    alice.message("oops").get_by_role("button", name="Recall").click()
    expect(alice.timeline().locator("li.recalled")).to_have_count(1)
    screenshot(bob.page, "offline")

    bob.context.set_offline(False)
    expect(bob.page.get_by_role("status").filter(has_text="Online")).to_be_visible()
    expect(bob.message("while you slept 2")).to_be_visible()
    expect(bob.timeline().locator("li.recalled")).to_have_count(1)
    assert texts(bob) == texts(alice) == ["before the nap", "while you slept 1",
                                          "while you slept 2"]
    # and bob is live again
    alice.send("welcome back")
    expect(bob.message("welcome back")).to_be_visible()


def test_typing_read_count_pin_search_forward_and_presence(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    expect(alice.page.locator(".presence")).to_have_text("online")
    create_group(alice, "Planning", bob)
    alice.send("agenda for monday")
    bob.open_chat("Planning")
    # bob read it: the count under alice's message says so
    agenda = alice.message("agenda for monday")
    expect(agenda.get_by_role("button", name="Read by 1")).to_be_visible()
    agenda.get_by_role("button", name="Read by 1").click()
    expect(alice.page.get_by_role("dialog", name="Read by 1")).to_contain_text(bob.name)
    alice.page.get_by_role("dialog").get_by_role("button", name="Close").click()

    bob.composer().fill("I think")
    expect(alice.page.locator(".typing")).to_have_text(f"{bob.name} is typing…")

    agenda.hover()
    agenda.get_by_role("button", name="Pin", exact=True).click()
    for person in (alice, bob):
        expect(person.page.locator(".pinned-bar")).to_contain_text("agenda for monday")

    alice.page.get_by_role("button", name="Search", exact=True).click()
    alice.page.get_by_role("searchbox", name="Search this chat").fill("monday")
    alice.page.locator(".search-panel").get_by_role("button", name="Search").click()
    expect(alice.page.get_by_role("list", name="Search results")).to_contain_text(
        "agenda for monday")

    agenda.hover()
    agenda.get_by_role("button", name="Forward").click()
    alice.page.get_by_role("dialog", name="Forward to…").get_by_role(
        "button", name=bob.name).click()
    bob.open_chat(alice.name)
    forwarded = bob.message("agenda for monday")
    expect(forwarded.locator(".forwarded")).to_have_text(f"Forwarded from {alice.name}")


def test_mention_by_keyboard_badge_and_deleting(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(bob, "Desk", alice)
    bob.composer().press_sequentially(f"hey @{alice.name[:3]}")
    options = bob.page.get_by_role("listbox", name="Mention a member").get_by_role("option")
    expect(options).to_have_text([f"@{alice.name}"])
    bob.composer().press("Enter")  # picks the member
    expect(bob.composer()).to_have_value(f"hey @{alice.name} ")
    bob.composer().press_sequentially("lunch?")
    bob.composer().press("Enter")
    row = alice.page.locator(".dialog", has_text="Desk")
    expect(row.locator(".badge.mention")).to_be_visible()
    alice.open_chat("Desk")
    expect(alice.message("lunch?").locator(".mention")).to_have_text(f"@{alice.name}")
    expect(row.locator(".badge")).to_have_count(0)

    bob.send("typo here")
    alice.send("noted")
    # delete for me: gone for alice only
    alice.message("lunch?").hover()
    alice.message("lunch?").get_by_role("button", name="Delete for me").click()
    expect(alice.message("lunch?")).to_have_count(0)
    expect(bob.message("lunch?")).to_be_visible()
    # delete for everyone: gone on both sides
    bob.message("typo here").hover()
    bob.message("typo here").get_by_role("button", name="Delete for everyone").click()
    for person in (alice, bob):
        expect(person.message("typo here")).to_have_count(0)
    expect(bob.message("noted")).to_be_visible()


def test_a_device_far_behind_reloads_instead_of_replaying(
        people: People, web_server: WebServer) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("first")
    bob.open_chat(alice.name)
    expect(bob.message("first")).to_be_visible()
    bob.context.set_offline(True)
    expect(bob.page.get_by_role("status").filter(has_text="Offline")).to_be_visible()

    async def burst(client: Any) -> None:
        # more than sync.get_difference's default limit of 1,000 updates
        chat_id = (await client.call("chat.list"))["chats"][0]["chat"]["chat_id"]
        for start in range(0, 1050, 50):
            await asyncio.gather(*(client.send_text(chat_id, f"burst {i}")
                                   for i in range(start, start + 50)))
        await client.send_text(chat_id, "the last one")

    as_device(web_server, alice, burst)
    bob.context.set_offline(False)
    expect(bob.message("the last one")).to_be_visible()
    expect(bob.page.locator(".dialog", has_text=alice.name).locator(".preview")).to_have_text(
        "the last one")
    # the reloaded page is contiguous with what comes next
    alice.send("and live again")
    expect(bob.message("and live again")).to_be_visible()
    shown = texts(bob)
    assert shown[-2:] == ["the last one", "and live again"]
    assert len(shown) == len(set(shown))


def test_keyboard_alone_opens_a_chat_and_sends(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    start_direct(alice, bob)
    alice.send("ping")
    page = bob.page
    # Tab through the page until the conversation is focused, then Enter opens it
    # (the row arrives live: wait for it before tabbing past where it will be).
    expect(page.locator(".chat-list .dialog-button", has_text=alice.name)).to_be_visible()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('dialog-button')"):
            break
    expect(page.locator(".chat-list .dialog-button:focus")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator(".chat-head h2")).to_have_text(alice.name)
    bob.composer().focus()
    page.keyboard.type("pong")
    page.keyboard.press("Enter")
    expect(alice.message("pong")).to_be_visible()
    # a message's actions are reachable by keyboard too
    bob.message("ping").locator("button", has_text="Reply").focus()
    expect(bob.message("ping").get_by_role("button", name="Reply")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(".reply-bar")).to_contain_text("ping")


def test_pinned_and_muted_conversations_in_the_list(people: People) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    start_direct(alice, bob)
    alice.send("older chat")
    start_direct(alice, carol)
    alice.send("newer chat")
    names = alice.page.locator(".chat-list .dialog .name")
    expect(names).to_have_text([carol.name, bob.name])
    alice.open_chat(bob.name)
    alice.page.get_by_role("button", name="Settings", exact=True).click()
    alice.page.get_by_role("button", name="Pin to the top").click()
    alice.page.get_by_role("button", name="Mute", exact=True).click()
    expect(names).to_have_text([bob.name, carol.name])
    row = alice.page.locator(".dialog", has_text=bob.name)
    expect(row.get_by_label("pinned")).to_be_visible()
    expect(row.get_by_label("muted")).to_be_visible()
    expect(row).to_have_class(re.compile("muted"))
