"""Typed ids. All ids on the wire are integers; ``MsgId`` is the pts at which
the message was written in its chat, so ``(ChatId, MsgId)`` names a message."""

from typing import NewType

UserId = NewType("UserId", int)
DeviceId = NewType("DeviceId", int)
ChatId = NewType("ChatId", int)
MsgId = NewType("MsgId", int)
Pts = NewType("Pts", int)
Seq = NewType("Seq", int)
FileId = NewType("FileId", int)
