"""Auth hardening: login back-off per username and per address, bounded
password hashing, and tokens whose claims are checked strictly."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from argon2 import PasswordHasher

from tidings.app import load_secret
from tidings.client import Client
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.login_guard import FailureCounter, LoginGuard, Outcome
from tidings.testing import running_server, test_settings

from .helpers import PASSWORD, make_user

WRONG = "wrong password"


class HashCalls:
    """Counts password verifications (PasswordHasher.verify, run in threads) and
    the most running at once; ``hold`` keeps them running until ``release``."""

    def __init__(self, hold: bool = False) -> None:
        self.calls = self.running = self.peak = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        if not hold:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    async def settle(self, running: int) -> None:
        """Wait until ``running`` verifications run, then a little longer, time
        for any more to start if they were going to."""
        for _ in range(500):
            if self.running >= running:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = PasswordHasher.verify

        def verify(hasher: PasswordHasher, hash: str, password: str | bytes) -> bool:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                self._released.wait(30)
                return real(hasher, hash, password)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(PasswordHasher, "verify", verify)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> HashCalls:
    counter = HashCalls()
    counter.install(monkeypatch)
    return counter


async def login_error(sv: Services, username: str, password: str,
                      address: str | None = None) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await sv.auth.login(username, password, None, address=address)
    return err.value


def retry_after(error: TidingsError) -> int:
    assert error.code is ErrorCode.RATE_LIMITED, error
    value = error.data["retry_after"]
    assert isinstance(value, int) and value >= 1
    return value


# -- back-off schedule (service level, fake clock)


async def test_failed_logins_back_off_per_username(sv: Services, clock: FakeClock,
                                                  hashes: HashCalls) -> None:
    await make_user(sv, "alice")
    for _ in range(5):
        assert (await login_error(sv, "alice", WRONG)).code is ErrorCode.INVALID_CREDENTIALS
    assert hashes.calls == 5
    # locked out: refused before the password is even looked at, right or wrong
    assert retry_after(await login_error(sv, "alice", PASSWORD)) == 1
    assert retry_after(await login_error(sv, "ALICE ", WRONG)) == 1
    assert hashes.calls == 5
    clock.advance(0.5)
    assert retry_after(await login_error(sv, "alice", WRONG)) == 1  # rounded up
    # each failure past the allowance doubles the lockout, up to the maximum
    for lockout in (1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300):
        clock.advance(lockout)
        assert (await login_error(sv, "alice", WRONG)).code is ErrorCode.INVALID_CREDENTIALS
        assert retry_after(await login_error(sv, "alice", PASSWORD)) == min(lockout * 2, 300)
    assert hashes.calls == 5 + 11
    # other usernames are not affected
    await make_user(sv, "bob")
    assert (await sv.auth.login("bob", PASSWORD, None)).user_id > 0


async def test_a_successful_login_forgets_the_usernames_failures(sv: Services,
                                                                clock: FakeClock) -> None:
    await make_user(sv, "alice")
    for _ in range(4):
        await login_error(sv, "alice", WRONG)
    await sv.auth.login("alice", PASSWORD, None)
    for _ in range(5):
        assert (await login_error(sv, "alice", WRONG)).code is ErrorCode.INVALID_CREDENTIALS
    assert retry_after(await login_error(sv, "alice", PASSWORD)) == 1
    clock.advance(1)
    await sv.auth.login("alice", PASSWORD, None)  # the one guess after the lockout
    for _ in range(5):
        assert (await login_error(sv, "alice", WRONG)).code is ErrorCode.INVALID_CREDENTIALS


async def test_failures_are_forgotten_after_the_reset_time(sv: Services,
                                                          clock: FakeClock) -> None:
    for _ in range(5):
        await login_error(sv, "nobody", WRONG)
    assert retry_after(await login_error(sv, "nobody", WRONG)) == 1
    clock.advance(sv.settings.login_failure_reset_seconds)
    for _ in range(5):
        assert (await login_error(sv, "nobody", WRONG)).code is ErrorCode.INVALID_CREDENTIALS


async def test_unknown_usernames_back_off_like_known_ones(sv: Services,
                                                         hashes: HashCalls) -> None:
    # answering differently would tell which usernames exist
    await make_user(sv, "alice")
    for name in ("alice", "nobody"):
        codes = [(await login_error(sv, name, WRONG)).code for _ in range(6)]
        assert codes == [ErrorCode.INVALID_CREDENTIALS] * 5 + [ErrorCode.RATE_LIMITED]
    assert hashes.calls == 5


async def test_failed_logins_back_off_per_address(sv: Services, clock: FakeClock,
                                                 hashes: HashCalls) -> None:
    await make_user(sv, "alice")
    for i in range(20):  # a different username each time: only the address adds up
        error = await login_error(sv, f"user{i}", WRONG, address="203.0.113.7")
        assert error.code is ErrorCode.INVALID_CREDENTIALS
    assert retry_after(await login_error(sv, "alice", PASSWORD, "203.0.113.7")) == 1
    assert hashes.calls == 0  # none of those users exist
    # other addresses, and callers without one, are not affected
    assert (await sv.auth.login("alice", PASSWORD, None, address="198.51.100.1")).user_id
    assert (await sv.auth.login("alice", PASSWORD, None)).user_id
    clock.advance(1)
    assert (await login_error(sv, "user0", WRONG, "203.0.113.7")).code is \
        ErrorCode.INVALID_CREDENTIALS
    assert retry_after(await login_error(sv, "alice", PASSWORD, "203.0.113.7")) == 2


@pytest.mark.parametrize("exempt", [True, False])
def test_loopback_skips_only_the_per_address_count_when_exempt(exempt: bool,
                                                               tmp_path: Path) -> None:
    clock = FakeClock()
    guard = LoginGuard(test_settings(tmp_path, rate_limit_exempt_loopback=exempt,
                                     login_failures_per_address=2), clock.monotonic)
    for i in range(2):
        guard.end(guard.begin(f"user{i}", "::1"), Outcome.FAILED)
    if exempt:
        guard.end(guard.begin("user2", "::1"), Outcome.FAILED)
    else:
        with pytest.raises(TidingsError) as err:
            guard.begin("user2", "::1")
        assert retry_after(err.value) == 1
    # the per-username count applies to loopback too
    guard = LoginGuard(test_settings(tmp_path, rate_limit_exempt_loopback=exempt),
                       clock.monotonic)
    for _ in range(5):
        guard.end(guard.begin("alice", "127.0.0.1"), Outcome.FAILED)
    with pytest.raises(TidingsError):
        guard.begin("alice", "127.0.0.1")


def test_attempts_in_flight_count_until_they_end(tmp_path: Path) -> None:
    clock = FakeClock()
    guard = LoginGuard(test_settings(tmp_path), clock.monotonic)
    attempts = [guard.begin("alice", None) for _ in range(5)]
    with pytest.raises(TidingsError) as err:
        guard.begin("alice", None)  # the five in flight may all fail
    assert retry_after(err.value) == 1
    guard.end(attempts[0], Outcome.ABANDONED)  # e.g. storage failed: not a wrong password
    attempts[0] = guard.begin("alice", None)
    for attempt in attempts:
        guard.end(attempt, Outcome.FAILED)
    with pytest.raises(TidingsError):
        guard.begin("alice", None)
    clock.advance(1)
    probe = guard.begin("alice", None)  # past the allowance: one guess at a time
    with pytest.raises(TidingsError) as err:
        guard.begin("alice", None)
    assert retry_after(err.value) == 2  # the lockout should the probe fail
    guard.end(probe, Outcome.SUCCEEDED)
    guard.begin("alice", None)


def test_the_failure_tables_are_bounded() -> None:
    clock = FakeClock()
    counter = FailureCounter(3, 1.0, 300.0, 3600.0, clock.monotonic, max_keys=100)
    for i in range(1000):
        counter.begin(f"name{i}")
        counter.end(f"name{i}", Outcome.FAILED, forget_on_success=True)
    assert len(counter) == 100
    for _ in range(2):
        counter.begin("name999")
        counter.end("name999", Outcome.FAILED, forget_on_success=True)
    assert counter.wait("name999") == 1.0  # the most recent keys are the ones kept


# -- bounded hashing


async def test_at_most_password_hash_concurrency_hashes_run_at_once(
        sv: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"user{i}" for i in range(12)]
    for name in names:
        await make_user(sv, name)
    held = HashCalls(hold=True)
    held.install(monkeypatch)
    logins = asyncio.gather(*(sv.auth.login(n, WRONG, None) for n in names),
                            return_exceptions=True)
    try:
        await held.settle(sv.settings.password_hash_concurrency)
        assert held.running == held.peak == sv.settings.password_hash_concurrency == 2
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5) == "free"
    finally:
        held.release()
    results = await logins
    assert all(isinstance(r, TidingsError) and r.code is ErrorCode.INVALID_CREDENTIALS
               for r in results)
    assert held.calls == 12 and held.peak == 2


# -- end to end: a flood of wrong logins


async def raw_login(http: aiohttp.ClientSession, url: str, username: str,
                    password: str) -> dict[str, Any]:
    async with http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"id": 1, "method": "auth.login", "params": {
            "username": username, "password": password}}))
        return dict(json.loads((await ws.receive(timeout=30)).data))


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def test_80_wrong_logins_for_one_user_hash_only_the_allowance(
        tmp_path: Path, database_url: str | None, hashes: HashCalls,
        http: aiohttp.ClientSession) -> None:
    # A long first lockout keeps the count exact however slowly the test runs.
    settings = test_settings(tmp_path / "data", database_url, login_lockout_seconds=60)
    async with running_server(settings) as srv:
        await srv.services.auth.register("alice", PASSWORD, None)
        replies = await asyncio.gather(*(raw_login(http, srv.url, "alice", WRONG)
                                         for _ in range(80)))
        codes = [r["error"]["code"] for r in replies]
        assert codes.count("INVALID_CREDENTIALS") == 5 and hashes.calls == 5
        limited = [r["error"] for r in replies if r["error"]["code"] == "RATE_LIMITED"]
        assert len(limited) == 75
        assert all(isinstance(e["data"]["retry_after"], int) and e["data"]["retry_after"] >= 1
                   for e in limited)


async def test_80_wrong_logins_do_not_starve_other_work(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch,
        http: aiohttp.ClientSession) -> None:
    settings = test_settings(tmp_path / "data", database_url)
    async with running_server(settings) as srv:
        names = [f"user{i}" for i in range(80)]
        for name in names:
            await srv.services.auth.register(name, PASSWORD, None)
        busy = Client(srv.url)
        await busy.register("busy", PASSWORD)
        held = HashCalls(hold=True)  # hashing as slow as we like: it never finishes
        held.install(monkeypatch)
        logins = asyncio.gather(*(raw_login(http, srv.url, n, WRONG) for n in names))
        try:
            await held.settle(2)
            # 78 logins wait their turn without holding a thread ...
            assert held.running == held.peak == 2
            # ... so the shared default executor still serves others (it resolves
            # host names, for one), and requests keep being answered
            assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5) == "free"
            await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo("localhost", 80), 5)
            for _ in range(10):
                state = await asyncio.wait_for(busy.call("sync.get_state"), 5)
                assert state["seq"] >= 0
        finally:
            held.release()
            replies = await logins
            await busy.close()
        assert [r["error"]["code"] for r in replies] == ["INVALID_CREDENTIALS"] * 80
        assert held.calls == 80 and held.peak == 2


# -- tokens


def forge(secret: str, **claims: Any) -> str:
    return jwt.encode({"iss": "tidings", **claims}, secret, algorithm="HS256")


@pytest.fixture
def secret(settings: Settings, sv: Services) -> Iterator[str]:
    yield load_secret(settings)  # the key the harness signs with


def bad_claims(user_id: int, device_id: int, now: int) -> Iterator[tuple[str, dict[str, Any]]]:
    good = {"sub": str(user_id), "dev": device_id, "iat": now}
    yield "dev as a string", {**good, "dev": str(device_id)}
    yield "dev as a bool", {**good, "dev": True}
    yield "dev as a float", {**good, "dev": float(device_id)}
    yield "dev zero", {**good, "dev": 0}
    yield "dev 2**63", {**good, "dev": 2**63}
    yield "dev 2**70", {**good, "dev": 2**70}
    yield "sub as an int", {**good, "sub": user_id}
    yield "sub not decimal", {**good, "sub": "abc"}
    yield "sub negative", {**good, "sub": f"-{user_id}"}
    yield "sub zero", {**good, "sub": "0"}
    yield "sub with a sign", {**good, "sub": f"+{user_id}"}
    yield "sub with spaces", {**good, "sub": f" {user_id} "}
    yield "sub with a leading zero", {**good, "sub": f"0{user_id}"}
    yield "sub with non-ASCII digits", {**good, "sub": "\u0661"}
    yield "sub 2**70", {**good, "sub": str(2**70)}
    yield "iat in the future", {**good, "iat": now + 61}
    yield "iat as a string", {**good, "iat": str(now)}
    yield "iat as a float", {**good, "iat": now + 0.5}
    yield "iat as a bool", {**good, "iat": True}
    yield "no iat", {"sub": str(user_id), "dev": device_id}


async def test_tokens_with_malformed_claims_are_refused(sv: Services, secret: str,
                                                       clock: FakeClock) -> None:
    reg = await sv.auth.register("alice", PASSWORD, None)
    now = clock.now()
    good = forge(secret, sub=str(reg.user_id), dev=reg.device_id, iat=now + 60)
    assert (await sv.auth.resume(good)).device_id == reg.device_id  # within the leeway
    for case, claims in bad_claims(reg.user_id, reg.device_id, now):
        with pytest.raises(TidingsError) as err:
            await sv.auth.resume(forge(secret, **claims))
        assert (err.value.code, err.value.message) == (ErrorCode.UNAUTHORIZED,
                                                       "invalid token"), case
