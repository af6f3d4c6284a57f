"""Avatars as files: whether a file is someone's profile picture or a chat's
picture that a given user is shown (``users.avatar_file_id``,
``chats.avatar_file_id``)."""

from __future__ import annotations

from tidings.db.engine import Txn


async def is_profile_avatar_txn(txn: Txn, uploader_id: int, file_id: int, viewer_id: int
                                ) -> bool:
    """The file is the uploader's current avatar, and the uploader does not
    block the viewer (``user.get`` shows a blocked viewer no avatar). An avatar
    is always its owner's own upload, so this is one primary-key lookup."""
    found = await txn.fetchval(
        "SELECT 1 FROM users u WHERE u.user_id = $1 AND u.avatar_file_id = $2"
        " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = u.user_id"
        " AND b.blocked_id = $3)", uploader_id, file_id, viewer_id)
    return found is not None


async def is_chat_avatar_txn(txn: Txn, file_id: int, viewer_id: int) -> bool:
    """The file is the picture of a chat the viewer is a current member of
    (walked from the viewer's memberships, which ``members_by_user`` indexes)."""
    found = await txn.fetchval(
        "SELECT 1 FROM members m JOIN chats c ON c.chat_id = m.chat_id"
        " WHERE m.user_id = $1 AND m.left_pts IS NULL AND c.avatar_file_id = $2 LIMIT 1",
        viewer_id, file_id)
    return found is not None
