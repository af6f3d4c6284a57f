"""Groups in the browser: members with roles, an invite link with its QR code
that another person opens to join, a role change seen by both, handing
ownership over, muting a member or everyone, and banning with the ban list."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .web_helpers import (  # fixtures by name: browser, people, web_server
    People,
    Person,
    browser,
    create_group,
    people,
    screenshot,
    send_elsewhere,
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


def open_info(person: Person, title: str) -> None:
    person.open_chat(title)
    person.page.get_by_role("button", name="Group info").click()
    expect(person.page.locator("#info-title")).to_contain_text(title)


def test_owner_transfers_ownership_and_the_new_owner_sees_it(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Hand over", bob)
    alice.page.get_by_role("button", name="Group info").click()
    open_info(bob, "Hand over")
    # bob, a plain member, is offered nothing to do to the owner
    expect(bob.page.locator(".member", has_text=alice.name).get_by_role("button")).to_have_count(0)
    row = alice.page.locator(".member", has_text=bob.name)
    row.get_by_role("button", name="Make owner").click()
    dialog = alice.page.get_by_role("dialog", name="Transfer ownership")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_label(f"Role of {bob.name}")).to_have_value("member")
    row.get_by_role("button", name="Make owner").click()
    dialog.get_by_role("button", name="Transfer ownership").click()
    expect(alice.page.locator(".member", has_text=bob.name)).to_contain_text("owner")
    expect(alice.page.locator(".member", has_text=alice.name)).to_contain_text("admin")
    # bob's open page follows the updates: he is the owner and may act on alice
    expect(bob.page.locator(".member", has_text=bob.name)).to_contain_text("owner")
    expect(bob.page.get_by_label(f"Role of {alice.name}")).to_have_value("admin")
    expect(alice.page.get_by_role("button", name="Make owner")).to_have_count(0)


def test_admin_mutes_a_member_whose_composer_says_so(people: People) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    create_group(alice, "Quiet please", bob, carol)
    alice.page.get_by_role("button", name="Group info").click()
    alice.page.get_by_label(f"Role of {bob.name}").select_option("admin")
    open_info(bob, "Quiet please")
    carol.open_chat("Quiet please")
    carol.send("before the mute")
    # bob (an admin) mutes carol for an hour; her composer says so at once
    bob.page.get_by_label(f"Mute {carol.name}").select_option(label="for 1 hour")
    expect(bob.page.locator(".member", has_text=carol.name)).to_contain_text("muted until")
    expect(carol.composer()).to_be_disabled()
    expect(carol.composer()).to_have_attribute("placeholder",
                                               re.compile("You are muted in this chat until"))
    screenshot(bob.page, "members-admin")
    # and the server refuses her send from another device
    assert send_elsewhere(people, carol, "Quiet please", "let me") == "MUTED"
    bob.page.locator(".member", has_text=carol.name).get_by_role("button", name="Unmute").click()
    expect(carol.composer()).to_be_enabled()
    carol.send("after the mute")
    # mute everyone: only the owner and admins post
    alice.page.get_by_label("Mute everyone").check()
    expect(carol.composer()).to_have_attribute(
        "placeholder", "Only admins can post while the chat is muted for everyone.")
    bob.page.get_by_role("button", name="Back to the chat").click()
    bob.send("admins still talk")
    alice.page.get_by_label("Mute everyone").uncheck()
    expect(carol.composer()).to_be_enabled()


def test_ban_removes_lists_and_unban_lets_them_back(people: People) -> None:
    alice, bob, carol = people.sign_up("alice"), people.sign_up("bob"), people.sign_up("carol")
    create_group(alice, "Bouncers", bob)
    alice.page.get_by_role("button", name="Group info").click()
    expect(alice.page.locator("#bans-title + p")).to_have_text("Nobody is banned.")
    alice.page.locator(".member", has_text=bob.name).get_by_role("button", name="Ban").click()
    expect(alice.page.locator("ul.members:not(.bans) .member")).to_have_count(1)
    bans = alice.page.locator(".bans")
    expect(bans.locator(".member", has_text=bob.name)).to_contain_text(f"by {alice.name}")
    # bob cannot be added back while banned: the server's refusal is shown
    alice.page.get_by_label("Add people").fill(bob.name)
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.get_by_role("alert")).to_contain_text("banned")
    bans.get_by_role("button", name="Unban").click()
    expect(alice.page.locator("#bans-title + p")).to_have_text("Nobody is banned.")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.locator("ul.members:not(.bans) .member")).to_have_count(2)
    bob.open_chat("Bouncers")
    bob.send("back in")
    # someone who is not a member can be banned ahead, by username
    alice.page.get_by_label("Ban someone").fill(carol.name)
    alice.page.locator("#bans-title ~ form").get_by_role("button", name="Ban").click()
    expect(bans.locator(".member", has_text=carol.name)).to_be_visible()
    expect(alice.page.get_by_role("alert")).to_have_count(0, timeout=10000)  # the earlier one
    alice.page.get_by_label("Add people").fill(carol.name)
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.get_by_role("alert")).to_contain_text("banned")


def test_name_and_description_change_where_change_info_allows(people: People) -> None:
    alice, bob = people.sign_up("alice"), people.sign_up("bob")
    create_group(alice, "Draft name", bob)
    alice.page.get_by_role("button", name="Group info").click()
    alice.page.get_by_label("Name", exact=True).fill("Book club 读书会")
    alice.page.get_by_label("Description").fill("one book a month")
    alice.page.get_by_role("button", name="Save", exact=True).click()
    expect(alice.page.locator("#info-title")).to_contain_text("Book club 读书会")
    # bob's list and info follow; as a plain member he may not edit them
    open_info(bob, "Book club 读书会")
    expect(bob.page.get_by_text("one book a month")).to_be_visible()
    expect(bob.page.get_by_label("Name", exact=True)).to_have_count(0)
    # until the owner lets members change the group info
    alice.page.get_by_label("Change the group info").check()
    expect(bob.page.get_by_label("Name", exact=True)).to_have_value("Book club 读书会")
    expect(bob.page.get_by_label("Change the picture")).to_be_visible()
