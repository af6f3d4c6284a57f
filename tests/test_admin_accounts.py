"""Operators' account actions (issue 11 item 1): disable/enable and ban/unban
sign a user out everywhere in one transaction with its updates, and refuse
sign-in with a stable code; a banned user cannot be found or added. Both
engines through the services, then over HTTP against a real server."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tidings.client import Client
from tidings.client.errors import TidingsClientError
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.account_admin import AccountAdmin
from tidings.services.container import Services
from tidings.testing import running_server, test_settings

from .admin_helpers import TOKEN, base, http, seq_of, user_updates
from .helpers import PASSWORD, make_users


def accounts(sv: Services) -> AccountAdmin:
    return AccountAdmin(sv.db, sv.clock, sv.auth, sv.devices)


async def test_disable_revokes_every_device_with_one_update_each(sv: Services) -> None:
    alice, = await make_users(sv, "alice")
    await sv.auth.login("alice", PASSWORD, "laptop")
    seq = await seq_of(sv, alice)
    state, revoked = await accounts(sv).set_disabled(alice, True)
    assert state.disabled_at is not None and len(revoked) == 2
    ups = await user_updates(sv, alice, seq)
    assert [(u["kind"], u["device_id"]) for u in ups] == [
        ("device.revoked", d) for d in revoked]
    assert await accounts(sv).devices(alice) == []
    with pytest.raises(TidingsError) as err:
        await sv.auth.login("alice", PASSWORD, None)
    assert err.value.code is ErrorCode.USER_DISABLED
    # Disabling again writes nothing; a wrong password still says only that.
    assert (await accounts(sv).set_disabled(alice, True))[1] == []
    assert await user_updates(sv, alice, seq + 2) == []
    with pytest.raises(TidingsError) as err:
        await sv.auth.login("alice", "wrong password", None)
    assert err.value.code is ErrorCode.INVALID_CREDENTIALS
    state, revoked = await accounts(sv).set_disabled(alice, False)
    assert state.disabled_at is None and revoked == []
    await sv.auth.login("alice", PASSWORD, None)


async def test_a_banned_user_cannot_sign_in_be_found_or_be_added(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bobby")
    await accounts(sv).set_banned(bob, True)
    with pytest.raises(TidingsError) as err:
        await sv.auth.login("bobby", PASSWORD, None)
    assert err.value.code is ErrorCode.USER_BANNED
    with pytest.raises(TidingsError) as err:
        await sv.users.resolve(alice, "bobby")
    assert err.value.code is ErrorCode.USER_NOT_FOUND
    assert await sv.users.search(alice, "bobby", None) == []
    for attempt in (sv.chats.create(alice, "group", "Team", [bob]),
                    sv.chats.direct(alice, bob)):
        with pytest.raises(TidingsError) as err:
            await attempt
        assert err.value.code is ErrorCode.USER_BANNED
    await accounts(sv).set_banned(bob, False)
    assert [u.user_id for u in await sv.users.search(alice, "bobby", None)] == [bob]
    assert (await sv.users.resolve(alice, "bobby")).user_id == bob
    await sv.auth.login("bobby", PASSWORD, None)


async def test_revoke_one_device(sv: Services) -> None:
    alice, = await make_users(sv, "alice")
    laptop = await sv.auth.login("alice", PASSWORD, "laptop")
    seq = await seq_of(sv, alice)
    await accounts(sv).revoke_device(alice, laptop.device_id)
    assert [u["kind"] for u in await user_updates(sv, alice, seq)] == ["device.revoked"]
    assert len(await accounts(sv).devices(alice)) == 1
    with pytest.raises(TidingsError) as err:
        await accounts(sv).revoke_device(alice, laptop.device_id)
    assert err.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(TidingsError) as err:
        await accounts(sv).devices(999_999)
    assert err.value.code is ErrorCode.USER_NOT_FOUND


# -- over the wire -------------------------------------------------------------------------

@pytest.fixture
def admin_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, admin_token=TOKEN)


async def test_operator_creates_disables_and_bans_over_http(admin_settings: Settings) -> None:
    async with running_server(admin_settings) as srv, aiohttp.ClientSession() as s, \
            Client(srv.url) as phone:
        url = f"{base(srv)}/admin/users"
        status, user = await http(s, "POST", url, TOKEN, json={
            "username": "carol", "password": PASSWORD, "display_name": "Carol C"})
        assert status == 201 and (user["username"], user["display_name"]) == (
            "carol", "Carol C")
        carol = user["user_id"]
        status, body = await http(s, "POST", url, TOKEN, json={
            "username": "carol", "password": PASSWORD})
        assert (status, body["error"]["code"]) == (409, "USERNAME_TAKEN")
        status, body = await http(s, "POST", url, TOKEN, json={"username": "xavier"})
        assert (status, body["error"]["code"]) == (400, "INVALID_PARAMS")
        assert "password" in body["error"]["message"]
        status, body = await http(s, "POST", url, TOKEN, json={
            "username": "no spaces", "password": PASSWORD})
        assert (status, body["error"]["data"]["field"]) == (400, "username")

        await phone.login("carol", PASSWORD)
        status, listed = await http(s, "GET", f"{url}/{carol}/devices", TOKEN)
        assert status == 200 and [d["device_id"] for d in listed["devices"]] == [
            phone.device_id]

        status, body = await http(s, "POST", f"{url}/{carol}/disable", TOKEN)
        assert status == 200 and body["revoked_device_ids"] == [phone.device_id]
        assert body["user"]["disabled_at"] is not None
        await phone.wait_for(lambda c: c.closed_reason is not None)
        async with Client(srv.url) as again:
            with pytest.raises(TidingsClientError) as err:
                await again.login("carol", PASSWORD)
            assert err.value.code == "USER_DISABLED"
            status, body = await http(s, "POST", f"{url}/{carol}/enable", TOKEN)
            assert status == 200 and body["user"]["disabled_at"] is None
            await again.login("carol", PASSWORD)
            status, body = await http(s, "POST", f"{url}/{carol}/ban", TOKEN)
            assert body["revoked_device_ids"] == [again.device_id]
            await again.wait_for(lambda c: c.closed_reason is not None)

        status, body = await http(s, "PUT", f"{url}/{carol}/entitlement", TOKEN,
                                  json={"level": 2})
        assert status == 200 and body["user"]["entitlement_level"] == 2
        status, body = await http(s, "PUT", f"{url}/{carol}/entitlement", TOKEN,
                                  json={"level": 99})
        assert (status, body["error"]["data"]["field"]) == (400, "level")
        for path in ("/999999/ban", "/abc/ban", "/0/disable"):
            status, body = await http(s, "POST", url + path, TOKEN)
            assert status == 404, (path, body)
        status, body = await http(s, "DELETE", f"{url}/{carol}/devices/424242", TOKEN)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")

        media = f"{base(srv)}/admin/media-whitelist"
        status, body = await http(s, "PUT", f"{media}/users/{carol}", TOKEN)
        assert (status, body["whitelisted"]) == (200, True)
        status, body = await http(s, "GET", media, TOKEN)
        assert body == {"chat_ids": [], "user_ids": [carol]}
        status, body = await http(s, "DELETE", f"{media}/users/{carol}", TOKEN)
        assert (status, body["whitelisted"]) == (200, False)
        assert (await http(s, "GET", media, TOKEN))[1]["user_ids"] == []
        status, body = await http(s, "PUT", f"{media}/chats/999999", TOKEN)
        assert (status, body["error"]["code"]) == (404, "CHAT_NOT_FOUND")
        status, report = await http(s, "GET", f"{base(srv)}/admin/storage-report?top=5",
                                    TOKEN)
        assert status == 200 and set(report["expiring"]) == {"7d", "30d"}
