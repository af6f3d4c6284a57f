"""RPC handlers, one module per area. Handlers are thin: unpack params, call
one service, shape the result."""

from __future__ import annotations

from tidings.api.dispatcher import Method
from tidings.api.methods import (
    auth,
    blocks,
    chats,
    contacts,
    dialogs,
    exports,
    groups,
    media,
    members,
    message_attributes,
    message_ttl,
    messages,
    pins,
    presence,
    privacy,
    reactions,
    reads,
    search,
    sync,
    typing,
    users,
)
from tidings.api.methods.registry import Registry


def all_methods() -> list[Method]:
    methods: list[Method] = []
    for module in (auth, users, chats, dialogs, messages, reactions, pins,
                   message_attributes, message_ttl, exports, media, search, sync, reads, privacy,
                   blocks, contacts, presence, typing, members, groups):
        registry: Registry = module.registry
        methods += registry.methods
    return methods
