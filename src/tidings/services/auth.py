"""Registration, login and token resume. Each login creates a device.

Logins pass the login guard (per-username and per-address back-off) before
the password is checked, and at most ``password_hash_concurrency`` password
hashes run at once: ``asyncio.to_thread`` shares the loop's default executor
with everything else (host name resolution among it), which a flood of
logins would otherwise fill."""

from __future__ import annotations

import asyncio
import re

import msgspec

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services.credentials import Passwords, Tokens
from tidings.services.login_guard import LoginGuard, Outcome
from tidings.services.user_terms import terms_of
from tidings.store import accounts, profiles, users

_USERNAME = re.compile(r"^[a-z0-9_.]+$")


class Identity(msgspec.Struct, frozen=True):
    user_id: int
    device_id: int
    token: str | None = None


async def check_account_txn(txn: Txn, user_id: int) -> None:
    """``USER_BANNED`` / ``USER_DISABLED`` for an account an operator closed."""
    state = await accounts.state_txn(txn, user_id)
    if state is not None and state.banned_at is not None:
        raise TidingsError(ErrorCode.USER_BANNED, "this account was banned by an operator")
    if state is not None and state.disabled_at is not None:
        raise TidingsError(ErrorCode.USER_DISABLED, "this account was disabled by an operator")


class AuthService:
    def __init__(self, db: Database, clock: Clock, settings: Settings, passwords: Passwords,
                 tokens: Tokens) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._passwords = passwords
        self._tokens = tokens
        self._hashing = asyncio.Semaphore(settings.password_hash_concurrency)
        self._guard = LoginGuard(settings, clock.monotonic)

    def check_username(self, username: str) -> str:
        s = self._settings
        name = username.strip().lower()
        if not s.username_min_length <= len(name) <= s.username_max_length:
            raise invalid(f"username must be {s.username_min_length} to "
                          f"{s.username_max_length} characters", field="username")
        if not _USERNAME.match(name):
            raise invalid("username may contain only letters, digits, '_' and '.'",
                          field="username")
        return name

    def check_password(self, password: str) -> None:
        s = self._settings
        if len(password) < s.password_min_length:
            raise invalid(f"password must be at least {s.password_min_length} characters",
                          field="password")
        if len(password) > s.password_max_length:
            raise invalid(f"password must be at most {s.password_max_length} characters",
                          field="password")

    def _device_name(self, name: str | None) -> str:
        name = (name or "").strip() or "unnamed device"
        return name[:64]

    async def register(self, username: str, password: str, device_name: str | None
                       ) -> Identity:
        now = self._clock.now()
        user_id, device_id = await self._create(username, password, "", device_name or "")
        assert device_id is not None
        return Identity(user_id, device_id, self._tokens.issue(user_id, device_id, now))

    async def create_account(self, username: str, password: str, display_name: str) -> int:
        """An operator creates an account (no device: the user signs in later)."""
        user_id, _ = await self._create(username, password, display_name, None)
        return user_id

    async def _create(self, username: str, password: str, display_name: str,
                      device_name: str | None) -> tuple[int, int | None]:
        """A new user, and a device unless ``device_name`` is None."""
        name = self.check_username(username)
        self.check_password(password)
        async with self._hashing:
            password_hash = await self._passwords.hash(password)
        now = self._clock.now()

        async def register_txn(txn: Txn) -> tuple[int, int | None]:
            if await users.get_user_by_name_txn(txn, name) is not None:
                raise TidingsError(ErrorCode.USERNAME_TAKEN, f"username {name!r} is taken")
            user_id = await users.insert_user_txn(txn, name, password_hash, now)
            if display_name:
                await accounts.set_display_name_txn(txn, user_id, display_name)
            await profiles.set_terms_txn(txn, user_id, terms_of(name, display_name))
            if device_name is None:
                return user_id, None
            return user_id, await users.insert_device_txn(
                txn, user_id, self._device_name(device_name), now)

        try:
            return await self._db.write("register", register_txn)
        except Exception as exc:
            if self._db.engine.is_unique_violation(exc):
                raise TidingsError(ErrorCode.USERNAME_TAKEN,
                                   f"username {name!r} is taken") from exc
            raise

    async def login(self, username: str, password: str, device_name: str | None, *,
                    address: str | None = None) -> Identity:
        """``address`` is the client's network address, for the per-address back-off."""
        name = username.strip().lower()
        # Unknown names are counted too (answering differently would tell which
        # exist); longer ones cannot exist, and are cut so keys stay small.
        attempt = self._guard.begin(name[:self._settings.username_max_length + 1], address)
        outcome = Outcome.ABANDONED
        try:
            user = await self._find_user(name)
            if user is not None:
                async with self._hashing:
                    if await self._passwords.verify(user.password_hash, password):
                        outcome = Outcome.SUCCEEDED
            if outcome is not Outcome.SUCCEEDED:
                outcome = Outcome.FAILED
        finally:
            self._guard.end(attempt, outcome)
        if user is None or outcome is not Outcome.SUCCEEDED:
            raise TidingsError(ErrorCode.INVALID_CREDENTIALS, "wrong username or password")
        now = self._clock.now()

        async def device_txn(txn: Txn) -> int:
            await check_account_txn(txn, user.user_id)
            return await users.insert_device_txn(txn, user.user_id,
                                                 self._device_name(device_name), now)

        device_id = await self._db.write("login", device_txn)
        return Identity(user.user_id, device_id, self._tokens.issue(user.user_id, device_id, now))

    async def _find_user(self, name: str) -> users.UserRow | None:
        async def find_txn(txn: Txn) -> users.UserRow | None:
            return await users.get_user_by_name_txn(txn, name)

        return await self._db.read("find_user", find_txn)

    async def resume(self, token: str) -> Identity:
        now = self._clock.now()
        user_id, device_id = self._tokens.verify(token, now)

        async def resume_txn(txn: Txn) -> bool:
            device = await users.get_device_txn(txn, device_id)
            if device is None or device.user_id != user_id or device.revoked_at is not None:
                return False
            await check_account_txn(txn, user_id)
            await users.touch_device_txn(txn, device_id, now)
            return True

        if not await self._db.write("resume", resume_txn):
            raise TidingsError(ErrorCode.UNAUTHORIZED, "this device was signed out")
        return Identity(user_id, device_id)

    async def identify(self, token: str) -> Identity:
        """Who a token names, for one HTTP request: the signature and the device
        (not revoked) are checked as ``resume`` checks them, but nothing is
        written (``last_seen_at`` is the WebSocket's business)."""
        user_id, device_id = self._tokens.verify(token, self._clock.now())

        async def identify_txn(txn: Txn) -> bool:
            device = await users.get_device_txn(txn, device_id)
            return (device is not None and device.user_id == user_id
                    and device.revoked_at is None)

        if not await self._db.read("identify", identify_txn, snapshot=False):
            raise TidingsError(ErrorCode.UNAUTHORIZED, "this device was signed out")
        return Identity(user_id, device_id)
