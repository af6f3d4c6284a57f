"""A per-module list of methods, filled by the ``@registry.method`` decorator."""

from __future__ import annotations

from collections.abc import Callable

from tidings.api.dispatcher import Handler, Method
from tidings.api.schemas import Params


class Registry:
    def __init__(self) -> None:
        self.methods: list[Method] = []

    def method(self, name: str, params: type[Params], *, public: bool = False,
               reads_only: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.methods.append(Method(name, params, handler, public, reads_only))
            return handler

        return register


def require_user(user_id: int | None) -> int:
    assert user_id is not None  # the dispatcher rejects unauthenticated callers
    return user_id
