"""People in the browser: a contact request arrives live and is accepted,
profiles update on the other side, blocking refuses the blocked person, and
privacy settings stick."""

from __future__ import annotations

from playwright.sync_api import expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
    People,
    Person,
    browser,
    people,
    screenshot,
    web_server,
)


def open_people(person: Person) -> None:
    person.page.get_by_role("button", name="People", exact=True).click()
    expect(person.page.get_by_role("heading", name="People and privacy")).to_be_visible()


def test_contact_request_profile_block_and_privacy(people: People) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    open_people(alice)
    open_people(bob)
    bob.page.get_by_label("Add a contact").fill(alice.name)
    bob.page.get_by_role("button", name="Send request").click()
    expect(bob.page.locator(".member", has_text=alice.name)).to_contain_text("waiting")
    # alice's page learns of it from the user update, without reloading
    request = alice.page.locator(".member", has_text=bob.name)
    request.get_by_role("button", name="Accept").click()
    expect(bob.page.locator(".member", has_text=alice.name).get_by_role(
        "button", name="Message")).to_be_visible()

    # alice's new name reaches her contact's screen
    alice.page.get_by_label("Display name").fill("Alice 王")
    alice.page.get_by_role("button", name="Save profile").click()
    expect(bob.page.locator(".member", has_text="Alice 王")).to_be_visible()

    # blocking: carol cannot open a direct chat with alice any more
    alice.page.get_by_label("Block someone").fill(carol.name)
    alice.page.get_by_role("button", name="Block", exact=True).click()
    expect(alice.page.locator("#blocked-title + ul")).to_contain_text(carol.name)
    carol.page.get_by_role("button", name="New chat").click()
    carol.page.get_by_label("Username", exact=True).fill(alice.name)
    carol.page.get_by_role("button", name="Start chat").click()
    expect(carol.page.get_by_role("alert")).to_contain_text("blocked")

    # privacy settings are the server's, after a reload too
    saved = alice.page.get_by_role("status").filter
    alice.page.get_by_label("Who can find me by username").select_option("nobody")
    expect(saved(has_text="Saved: who can find me by username: nobody")).to_be_visible()
    alice.page.get_by_label("Share when I read messages").uncheck()
    expect(saved(has_text="Saved: read receipts off")).to_be_visible()
    screenshot(alice.page, "people")
    alice.page.reload()
    open_people(alice)
    expect(alice.page.get_by_label("Who can find me by username")).to_have_value("nobody")
    expect(alice.page.get_by_label("Share when I read messages")).not_to_be_checked()

    bob.page.locator(".member", has_text="Alice 王").get_by_role("button", name="Message").click()
    expect(bob.page.locator(".chat-head h2")).to_have_text("Alice 王")
