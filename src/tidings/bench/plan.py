"""Who sends what to which chat: one plan shared by the service and the
WebSocket workloads, so both write the same shape of data.

Senders and chats are linked round-robin: with at least as many senders as
chats each sender posts into one chat (a hot chat has many posters); with
fewer senders each sender owns several chats and cycles through them. Every
chat also holds a few listeners who never connect, so it is a real group
whose membership is checked on every send, without adding online fan-out.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD = "bench-password"
LISTENERS = 2
TEXT = "the quick brown fox jumps over the lazy dog"


@dataclass(frozen=True)
class Plan:
    senders: int
    chats: int
    messages: int

    def __post_init__(self) -> None:
        if self.senders < 1 or self.chats < 1 or self.messages < 0:
            raise ValueError("a plan needs at least one sender and one chat")

    def chats_of_sender(self, sender: int) -> list[int]:
        """Plan indexes (0-based) of the chats this sender posts into."""
        if self.senders >= self.chats:
            return [sender % self.chats]
        return list(range(sender, self.chats, self.senders))

    def senders_of_chat(self, chat: int) -> list[int]:
        if self.senders >= self.chats:
            return list(range(chat, self.senders, self.chats))
        return [chat % self.senders]

    def messages_of_sender(self, sender: int) -> int:
        """An even share of the messages; the first ones take the remainder."""
        share, rest = divmod(self.messages, self.senders)
        return share + (1 if sender < rest else 0)


def sender_name(sender: int) -> str:
    return f"sender{sender}"


def listener_name(listener: int) -> str:
    return f"listener{listener}"


def local_id(sender: int, seq: int) -> str:
    """Unique per sender, which is all the server requires (per sender and chat)."""
    return f"b{sender}.{seq}"
