"""Avatars are files: the people shown one may download it (and its
thumbnail), on both engines; anyone else gets NOT_FOUND as for any file."""

from __future__ import annotations

from tidings.errors import ErrorCode
from tidings.services.chat_info import ChatInfoChange
from tidings.services.container import Services
from tidings.services.files import Download

from .helpers import make_users
from .media_helpers import png_bytes
from .media_service_helpers import upload
from .people_helpers import code_of


async def test_a_profile_avatar_is_shown_to_everyone_but_who_its_owner_blocks(
        sv: Services) -> None:
    alice, bob, erin = await make_users(sv, "alice", "bob", "erin")
    image = await upload(sv, alice, png_bytes(), kind="image", name="me.png")
    assert await code_of(sv.files.open(bob, image.file_id)) == ErrorCode.NOT_FOUND
    await sv.profiles.update(alice, None, None, image.file_id)
    found = await sv.files.open(bob, image.file_id, thumbnail=True)
    assert isinstance(found, Download) and found.mime == "image/webp"
    assert isinstance(await sv.files.open(bob, image.file_id), Download)
    await sv.blocks.add(alice, erin)
    assert await code_of(sv.files.open(erin, image.file_id)) == ErrorCode.NOT_FOUND
    await sv.profiles.update(alice, None, None, 0)  # removed: private again
    assert await code_of(sv.files.open(bob, image.file_id)) == ErrorCode.NOT_FOUND


async def test_a_chat_avatar_is_shown_to_the_chat_s_current_members(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    image = await upload(sv, alice, png_bytes(color=(9, 9, 9)), kind="image", name="g.png")
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(avatar_file_id=image.file_id))
    assert isinstance(await sv.files.open(bob, image.file_id, thumbnail=True), Download)
    assert await code_of(sv.files.open(carol, image.file_id)) == ErrorCode.NOT_FOUND
    await sv.chats.leave(bob, chat_id)
    assert await code_of(sv.files.open(bob, image.file_id)) == ErrorCode.NOT_FOUND
