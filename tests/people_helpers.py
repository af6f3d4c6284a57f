"""Builders for the people tests (block list, privacy, contacts, profiles)."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.store import updates


class UserLogs:
    """Watches the user update logs of some users: ``new()`` answers the
    (user_id, kind, payload) written since the last call, in user then seq order."""

    def __init__(self, sv: Services, *user_ids: int) -> None:
        self.sv = sv
        self.user_ids = user_ids
        self.seqs: dict[int, int] = {}

    async def start(self) -> UserLogs:
        for u in self.user_ids:
            self.seqs[u] = await self.sv.db.read(
                "test_seq", lambda txn, u=u: updates.user_seq_txn(txn, u))
        return self

    async def new(self) -> list[tuple[int, str, dict[str, Any]]]:
        found = []
        for u in self.user_ids:
            diff = await self.sv.sync.get_difference(u, self.seqs[u], {}, 1000)
            for up in diff.user_updates:
                payload = {k: v for k, v in up.items() if k not in ("seq", "kind", "date")}
                found.append((u, up["kind"], payload))
            self.seqs[u] = diff.seq
        return found


async def refusal(call: object) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await call  # type: ignore[misc]
    return err.value


async def code_of(call: object) -> ErrorCode:
    return (await refusal(call)).code


async def befriend(sv: Services, a: int, b: int, source: str = "search") -> None:
    await sv.contacts.request(a, b, source, None)
    await sv.contacts.accept(b, a)
