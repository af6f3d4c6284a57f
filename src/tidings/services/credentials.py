"""Password hashing (argon2id) and device tokens (signed JWT, revocable by
revoking the device row). Hashing is CPU-heavy by design, so it runs in a
worker thread and never stalls the event loop."""

from __future__ import annotations

import asyncio

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tidings.errors import ErrorCode, TidingsError

_ALGORITHM = "HS256"


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
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 characters")
        self._secret = secret
        self._issuer = issuer

    def issue(self, user_id: int, device_id: int, now: int) -> str:
        claims = {"sub": str(user_id), "dev": device_id, "iat": now, "iss": self._issuer}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> tuple[int, int]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], issuer=self._issuer,
                options={"require": ["sub", "dev", "iat", "iss"], "verify_iat": False},
            )
            return int(claims["sub"]), int(claims["dev"])
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise TidingsError(ErrorCode.UNAUTHORIZED, "invalid token") from exc
