"""Registration, login, tokens and devices."""

from __future__ import annotations

import pytest

from tidings.bus.base import UserEvent
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.credentials import Tokens
from tidings.testing import RecordingBus

from .helpers import PASSWORD


async def test_register_login_resume(sv: Services) -> None:
    reg = await sv.auth.register("Alice", PASSWORD, "phone")
    assert reg.token
    login = await sv.auth.login("alice", PASSWORD, "laptop")
    assert login.user_id == reg.user_id and login.device_id != reg.device_id
    assert login.token is not None
    resumed = await sv.auth.resume(login.token)
    assert (resumed.user_id, resumed.device_id) == (login.user_id, login.device_id)


@pytest.mark.parametrize(("username", "password", "code"), [
    ("al", PASSWORD, ErrorCode.INVALID_PARAMS),
    ("a" * 33, PASSWORD, ErrorCode.INVALID_PARAMS),
    ("bad name!", PASSWORD, ErrorCode.INVALID_PARAMS),
    ("alice", "short", ErrorCode.INVALID_PARAMS),
])
async def test_register_validates(sv: Services, username: str, password: str,
                                  code: ErrorCode) -> None:
    with pytest.raises(TidingsError) as err:
        await sv.auth.register(username, password, None)
    assert err.value.code is code


async def test_username_taken_case_insensitively(sv: Services) -> None:
    await sv.auth.register("alice", PASSWORD, None)
    with pytest.raises(TidingsError) as err:
        await sv.auth.register("ALICE", PASSWORD, None)
    assert err.value.code is ErrorCode.USERNAME_TAKEN


async def test_wrong_password_and_unknown_user_look_the_same(sv: Services) -> None:
    await sv.auth.register("alice", PASSWORD, None)
    for name, pw in (("alice", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(TidingsError) as err:
            await sv.auth.login(name, pw, None)
        assert err.value.code is ErrorCode.INVALID_CREDENTIALS


async def test_forged_and_foreign_tokens_are_refused(sv: Services) -> None:
    reg = await sv.auth.register("alice", PASSWORD, None)
    forged = Tokens("x" * 40).issue(reg.user_id, reg.device_id, 0)
    for token in (forged, "not.a.token", ""):
        with pytest.raises(TidingsError) as err:
            await sv.auth.resume(token)
        assert err.value.code is ErrorCode.UNAUTHORIZED


async def test_devices_rename_and_revoke(sv: Services) -> None:
    first = await sv.auth.register("alice", PASSWORD, "phone")
    second = await sv.auth.login("alice", PASSWORD, "laptop")
    third = await sv.auth.login("alice", PASSWORD, "tablet")
    devices = await sv.devices.list_devices(first.user_id, first.device_id)
    assert [(d.name, d.current) for d in devices] == [("phone", True), ("laptop", False),
                                                      ("tablet", False)]
    await sv.devices.rename(first.user_id, second.device_id, "work laptop")
    bus = sv.bus
    assert isinstance(bus, RecordingBus)
    bus.events.clear()
    assert await sv.devices.revoke(first.user_id, second.device_id) == [second.device_id]
    [event] = bus.events
    assert isinstance(event, UserEvent) and event.close_devices == [second.device_id]
    assert second.token is not None
    with pytest.raises(TidingsError) as err:
        await sv.auth.resume(second.token)
    assert err.value.code is ErrorCode.UNAUTHORIZED
    assert await sv.devices.revoke_others(first.user_id, first.device_id) == [third.device_id]
    remaining = await sv.devices.list_devices(first.user_id, first.device_id)
    assert [d.device_id for d in remaining] == [first.device_id]


async def test_cannot_touch_someone_elses_device(sv: Services) -> None:
    alice = await sv.auth.register("alice", PASSWORD, None)
    bob = await sv.auth.register("bob", PASSWORD, None)
    with pytest.raises(TidingsError) as err:
        await sv.devices.revoke(alice.user_id, bob.device_id)
    assert err.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(TidingsError):
        await sv.devices.rename(alice.user_id, bob.device_id, "mine now")
