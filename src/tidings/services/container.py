"""All services of one node, built once by ``tidings.app`` and handed to the api."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidings.bus.base import AnyEvent, Bus, PresenceEvent
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.media.blobs import open_blob_store
from tidings.services.auth import AuthService
from tidings.services.blocks import BlockService
from tidings.services.chat_info import ChatInfoService
from tidings.services.chats import ChatService
from tidings.services.contacts import ContactService
from tidings.services.credentials import Passwords, Tokens
from tidings.services.deletion import DeletionService
from tidings.services.devices import DeviceService
from tidings.services.dialogs import DialogService
from tidings.services.exports import ExportService
from tidings.services.file_views import FileViews
from tidings.services.files import FileService
from tidings.services.forward import ForwardService
from tidings.services.group_admin import GroupAdminService
from tidings.services.history_pages import HistoryPageCache
from tidings.services.hub import LiveHub
from tidings.services.invites import InviteService
from tidings.services.media import MediaService
from tidings.services.media_expiry import MediaExpiry
from tidings.services.members import MemberService
from tidings.services.message_attributes import MessageAttributeService
from tidings.services.message_ttl import MessageTtlService
from tidings.services.messages import MessageService
from tidings.services.pins import PinService
from tidings.services.presence import PresenceService
from tidings.services.privacy import PrivacyService
from tidings.services.profiles import ProfileService
from tidings.services.rate_limits import RequestLimits
from tidings.services.reactions import ReactionService
from tidings.services.read_index import ReadIndex
from tidings.services.reads import ReadService
from tidings.services.search import SearchService
from tidings.services.sync import SyncService
from tidings.services.timeline import TimelineService
from tidings.services.typing import TypingService
from tidings.services.users import UserService
from tidings.services.visibility import VisibilityCache
from tidings.services.webhook_events import WebhookEvents
from tidings.store import chats as chat_store
from tidings.store import reads as read_store


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    hub: LiveHub
    auth: AuthService
    devices: DeviceService
    users: UserService
    chats: ChatService
    dialogs: DialogService
    messages: MessageService
    deletion: DeletionService
    exports: ExportService
    forward: ForwardService
    reactions: ReactionService
    pins: PinService
    message_attributes: MessageAttributeService
    message_ttl: MessageTtlService
    reads: ReadService
    search: SearchService
    sync: SyncService
    timeline: TimelineService
    visibility: VisibilityCache
    file_views: FileViews
    files: FileService
    media: MediaService
    media_expiry: MediaExpiry
    limits: RequestLimits
    typing: TypingService
    members: MemberService
    privacy: PrivacyService
    blocks: BlockService
    contacts: ContactService
    profiles: ProfileService
    presence: PresenceService
    group_admin: GroupAdminService
    chat_info: ChatInfoService
    invites: InviteService
    webhooks: WebhookEvents | None  # None without webhook_url

    @classmethod
    def build(cls, settings: Settings, clock: Clock, db: Database, bus: Bus, secret: str
              ) -> Services:
        visibility = VisibilityCache(clock.monotonic)
        passwords = Passwords(time_cost=settings.argon2_time_cost,
                              memory_cost_kib=settings.argon2_memory_cost_kib,
                              parallelism=settings.argon2_parallelism)
        file_views = FileViews(clock, settings)
        blobs = open_blob_store(
            settings.blob_store, root=settings.media_path / "blobs",
            s3_endpoint=settings.s3_endpoint, s3_bucket=settings.s3_bucket,
            s3_access_key=settings.s3_access_key, s3_secret_key=settings.s3_secret_key,
            s3_region=settings.s3_region)
        media = MediaService(db, bus, clock, settings, file_views)
        webhooks = WebhookEvents(db, settings) if settings.webhook_url else None
        presence = PresenceService(db, bus, clock, settings, webhooks)
        if webhooks is not None:
            webhooks.is_online = presence.is_online
        sender = MessageService(db, bus, clock, settings, media, file_views, webhooks)
        reads = ReadService(db, bus, clock, settings, _read_index(db, settings))
        chat_service = ChatService(db, bus, clock, settings)
        return cls(
            settings=settings, clock=clock, db=db, bus=bus, hub=LiveHub(),
            auth=AuthService(db, clock, settings, passwords, Tokens(secret)),
            devices=DeviceService(db, bus, clock),
            users=UserService(db, settings.max_user_ids_per_call, settings.user_search_max_limit),
            chats=chat_service,
            dialogs=DialogService(db, bus, clock, settings, file_views),
            messages=sender,
            deletion=DeletionService(db, bus, clock, settings),
            exports=ExportService(db, bus, clock, settings, file_views),
            forward=ForwardService(db, settings, visibility, sender),
            reactions=ReactionService(db, bus, clock, settings),
            pins=PinService(db, bus, clock, settings),
            message_attributes=MessageAttributeService(db, bus, clock, settings),
            message_ttl=MessageTtlService(db, bus, clock, settings),
            reads=reads,
            search=SearchService(db, settings, file_views),
            sync=SyncService(db, settings, file_views),
            timeline=TimelineService(db, settings, visibility, file_views,
                                     HistoryPageCache(settings.history_cache_bytes)),
            visibility=visibility,
            file_views=file_views,
            files=FileService(db, clock, settings, blobs, file_views),
            media=media,
            media_expiry=MediaExpiry(bus, clock, settings, blobs, file_views, media),
            limits=RequestLimits(settings, clock.monotonic),
            typing=TypingService(db, bus, clock, settings),
            members=MemberService(db, clock, settings),
            privacy=PrivacyService(db, bus, clock, reads.index.clear),
            blocks=BlockService(db, bus, clock),
            contacts=ContactService(db, bus, clock, settings, sender),
            profiles=ProfileService(db, bus, clock, settings),
            presence=presence,
            group_admin=GroupAdminService(db, bus, clock, settings, chat_service),
            chat_info=ChatInfoService(db, bus, clock, settings),
            invites=InviteService(db, bus, clock, settings, chat_service),
            webhooks=webhooks,
        )

    async def start(self) -> None:
        await self.bus.start(self._deliver)
        self.messages.start()
        self.reads.start()
        self.presence.start()

    def _deliver(self, event: AnyEvent) -> None:
        if isinstance(event, PresenceEvent):
            self.presence.on_event(event)
            return
        self.visibility.on_event(event)
        self.reads.index.on_event(event)
        self.hub.deliver(event)

    async def stop(self) -> None:
        await self.messages.stop()
        await self.reads.stop()
        await self.presence.stop()
        await self.bus.close()
        await self.files.close()

    async def unreachable(self, within: float) -> dict[str, str]:
        """What this node cannot reach now, by part (``database``, ``bus``), with
        the error; empty when it can serve. Each part gets ``within`` seconds."""
        async def probe(check: Callable[[], Awaitable[None]]) -> str | None:
            try:
                async with asyncio.timeout(within):
                    await check()
            except TimeoutError:
                return f"no answer within {within:g} s"
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

        found = await asyncio.gather(probe(self.db.check), probe(self.bus.check))
        return {part: error for part, error in zip(("database", "bus"), found, strict=True)
                if error is not None}

    async def followed_chats(self, user_id: int) -> list[int]:
        """The chats whose updates a newly connected device of this user receives."""
        async def chats_txn(txn: Txn) -> list[int]:
            return await chat_store.active_chat_ids_of_user_txn(txn, user_id)

        return await self.db.read("followed_chats", chats_txn)


def _read_index(db: Database, settings: Settings) -> ReadIndex:
    async def load(chat_id: int) -> list[tuple[int, int, int, int]]:
        async def load_txn(txn: Txn) -> list[tuple[int, int, int, int]]:
            return await read_store.index_rows_txn(txn, chat_id)

        return await db.read("read_index_load", load_txn)

    return ReadIndex(load, max_chats=settings.read_index_max_chats)
