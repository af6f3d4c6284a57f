"""Groups in the browser: members with roles, an invite link with its QR code
that another person opens to join, and a role change seen by both."""

from __future__ import annotations

from playwright.sync_api import expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
    People,
    browser,
    create_group,
    people,
    screenshot,
    web_server,
)


def test_invite_link_with_qr_code_lets_someone_join(people: People) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    create_group(alice, "Climbing 攀岩", bob)
    alice.page.get_by_role("button", name="Group info").click()
    members = alice.page.locator(".members")
    expect(members.locator(".member")).to_have_count(2)
    expect(members.locator(".member", has_text=alice.name)).to_contain_text("owner")
    # the owner makes bob an admin; bob's own view shows it
    members.get_by_label(f"Role of {bob.name}").select_option("admin")
    bob.open_chat("Climbing 攀岩")
    bob.page.get_by_role("button", name="Group info").click()
    expect(bob.page.locator(".member", has_text=bob.name)).to_contain_text("admin")

    alice.page.get_by_role("button", name="Create an invite link").click()
    link = alice.page.get_by_role("textbox", name="Invite link")
    expect(link).to_have_value(alice.page.url.split("#")[0] + "#/join/" + link.input_value()
                               .rsplit("/", 1)[-1])
    qr = alice.page.get_by_role("img", name="QR code of")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0
    screenshot(alice.page, "group-info")

    carol.page.goto(link.input_value())
    expect(carol.page.get_by_role("heading", name="Climbing 攀岩")).to_be_visible()
    carol.page.get_by_role("button", name="Join", exact=True).click()
    expect(carol.page.locator(".chat-head h2")).to_have_text("Climbing 攀岩")
    expect(carol.timeline().locator("li.system", has_text="joined")).to_be_visible()
    expect(members.locator(".member")).to_have_count(3)
    carol.send("hello climbers")
    expect(bob.page.locator(".dialog", has_text="Climbing").locator(".preview")).to_have_text(
        "hello climbers")
