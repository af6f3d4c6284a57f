"""Password hashing (argon2id) and device tokens (signed JWT, revocable by
revoking the device row). Hashing is CPU-heavy by design, so it runs in a
worker thread and never stalls the event loop (the auth service bounds how
many run at once)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tidings.config import MIN_SECRET_LENGTH
from tidings.errors import ErrorCode, TidingsError

_ALGORITHM = "HS256"
# Ids are BIGINT (SQLite INTEGER): anything else must not reach a query.
_MAX_ID = 2**63 - 1
_DECIMAL = re.compile(r"[1-9][0-9]{0,18}")
# Nodes' clocks differ a little; a token from further ahead was not issued by us.
IAT_LEEWAY_SECONDS = 60


class Passwords:
    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


class Tokens:
    """A token names one device of one user; it is valid while that device is not
    revoked (checked against the database on every ``auth.token``)."""

    def __init__(self, secret: str, issuer: str = "tidings") -> None:
        # Settings refuse a short secret_key; this also covers a hand-edited secret.key.
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_LENGTH} "
                             "characters")
        self._secret = secret
        self._issuer = issuer

    def issue(self, user_id: int, device_id: int, now: int) -> str:
        claims = {"sub": str(user_id), "dev": device_id, "iat": now, "iss": self._issuer}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str, now: int) -> tuple[int, int]:
        """(user_id, device_id) of a token this server signed, else UNAUTHORIZED.
        The claims are checked for exactly the types ``issue`` writes: a signed
        token with other types was not issued by us, whoever holds the key."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], issuer=self._issuer,
                # iat is checked below, against the injected clock
                options={"require": ["sub", "dev", "iat", "iss"], "verify_iat": False},
            )
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise _invalid() from exc
        sub, dev, iat = claims["sub"], claims["dev"], claims["iat"]
        if not (isinstance(sub, str) and _DECIMAL.fullmatch(sub) and int(sub) <= _MAX_ID):
            raise _invalid()
        if not (_is_int(dev) and 1 <= dev <= _MAX_ID):
            raise _invalid()
        if not (_is_int(iat) and iat <= now + IAT_LEEWAY_SECONDS):
            raise _invalid()
        return int(sub), dev


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid() -> TidingsError:
    return TidingsError(ErrorCode.UNAUTHORIZED, "invalid token")
