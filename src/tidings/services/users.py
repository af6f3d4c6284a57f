"""Looking up people: by id (``user.get``), by username (``user.resolve``),
by name (``user.search``) and by QR token (``user.resolve_qr``), each under
the looked-up user's privacy settings and block list:

- ``user.get`` answers every existing id (members must be shown by name), but
  a user who blocks you shows no bio and no avatar;
- ``user.resolve`` and ``user.resolve_qr`` answer ``BLOCKED`` or
  ``FORBIDDEN`` (``data.privacy: "find_me"``) when the user does not let you
  find them;
- ``user.search`` leaves such users out."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import privacy
from tidings.services.user_terms import MAX_TERM, fold
from tidings.store import accounts, profiles
from tidings.store import privacy as privacy_store

DEFAULT_SEARCH_LIMIT = 20


def _private(user: wire.User) -> wire.User:
    return msgspec.structs.replace(user, bio="", avatar_file_id=None)


class UserService:
    def __init__(self, db: Database, max_ids: int, max_search: int) -> None:
        self._db = db
        self._max_ids = max_ids
        self._max_search = max_search

    async def get(self, caller: int, user_ids: list[int]) -> list[wire.User]:
        if not 1 <= len(user_ids) <= self._max_ids:
            raise invalid(f"user_ids must hold 1 to {self._max_ids} ids", field="user_ids")
        ids = sorted(set(user_ids))

        async def get_txn(txn: Txn) -> list[wire.User]:
            found = await profiles.get_txn(txn, ids)
            rels = await privacy_store.relations_txn(
                txn, [(u, caller) for u in found if u != caller])
            return [_private(found[u]) if (r := rels.get((u, caller))) and r.blocks
                    else found[u] for u in sorted(found)]

        return await self._db.read("get_users", get_txn)

    async def resolve(self, caller: int, username: str) -> wire.User:
        name = username.strip().lower()

        async def resolve_txn(txn: Txn) -> wire.User | None:
            return await self._findable_txn(txn, caller, await profiles.by_name_txn(txn, name))

        user = await self._db.read("resolve_user", resolve_txn)
        if user is None:
            raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user named {name!r}")
        return user

    async def resolve_qr(self, caller: int, token: str) -> wire.User:
        async def resolve_txn(txn: Txn) -> wire.User | None:
            return await self._findable_txn(txn, caller,
                                            await profiles.by_qr_token_txn(txn, token))

        user = await self._db.read("resolve_qr", resolve_txn)
        if user is None:
            raise TidingsError(ErrorCode.USER_NOT_FOUND, "no user has this QR token")
        return user

    async def _findable_txn(self, txn: Txn, caller: int, user: wire.User | None
                            ) -> wire.User | None:
        if user is not None and await accounts.banned_among_txn(txn, [user.user_id]):
            return None  # a banned user cannot be found
        if user is not None and user.user_id != caller:
            await privacy.check_reach_txn(txn, caller, [user.user_id], "find_me")
        return user

    async def search(self, caller: int, query: str, limit: int | None) -> list[wire.User]:
        limit = min(DEFAULT_SEARCH_LIMIT, self._max_search) if limit is None else limit
        if not 1 <= limit <= self._max_search:
            raise invalid(f"limit must be 1 to {self._max_search}", field="limit")
        prefix = fold(query)
        if not 1 <= len(prefix) <= MAX_TERM:
            raise invalid(f"query must hold 1 to {MAX_TERM} characters", field="query")

        async def search_txn(txn: Txn) -> list[wire.User]:
            # Read past users that privacy leaves out, within a bound.
            ids = await profiles.search_txn(txn, prefix, limit * 5)
            rels = await privacy_store.relations_txn(txn, [(u, caller) for u in ids])
            shown = [u for u in ids if u == caller or (
                (r := rels.get((u, caller))) is not None and not r.blocks
                and privacy.allows(r.settings.find_me, r.contact))][:limit]
            found = await profiles.get_txn(txn, shown)
            return [found[u] for u in shown if u in found]

        return await self._db.read("search_users", search_txn)
