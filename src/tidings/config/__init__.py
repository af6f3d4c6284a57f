"""Settings: one typed object, validated once at start.

Precedence: command-line flags > ``TIDINGS_*`` environment variables > TOML
file (``--config``) > the defaults below. Every limit the server enforces is a
field here, so the defaults live in one place and ``tidings config show``
prints what is in force. The fields of media (``config.media``) and of
webhooks and the probe (``config.webhooks``) are declared in groups of their
own and inherited here: one ``Settings``, one set of ``TIDINGS_*`` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tidings.config.media import MediaSettings
from tidings.config.webhooks import MIN_WEBHOOK_SECRET_LENGTH, WebhookSettings

# A short HS256 key can be brute-forced offline from any one token it signed.
MIN_SECRET_LENGTH = 32
_DATABASE_SCHEMES = ("postgres://", "postgresql://", "sqlite:///")


class Settings(MediaSettings, WebhookSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="forbid")

    # -- serving
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    tcp_port: int | None = Field(
        None, ge=0, le=65535, description="also serve length-prefixed frames over plain TCP "
        "on this port (0: any free port); unset, no TCP listener")
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        None, description="postgresql://... switches to PostgreSQL; default is SQLite in data_dir"
    )
    dev: bool = Field(False, description="debug logging")
    workers: int = Field(
        1, ge=1, le=64, description="server processes sharing the port (SO_REUSEPORT); "
        "more than 1 needs PostgreSQL and the redis or nats bus")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    secret_key: str | None = Field(
        None, description="token signing key, at least 32 characters; generated into "
        "data_dir/secret.key when unset"
    )
    admin_token: str | None = Field(
        None, description="Bearer token of the operators' /admin/* HTTP API; unset, every "
        "/admin/* route answers 404"
    )

    # -- storage
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal", description="full also survives power loss, at a measured cost"
    )
    sqlite_wal_autocheckpoint: int = Field(
        10000, ge=0, description="WAL pages between checkpoints; larger batches page writes "
        "(measured: 1,000-chat ingest 23k -> 27k msg/s going from 1,000 to 10,000)")
    pg_pool_min: int = Field(2, ge=1)
    pg_pool_max: int = Field(8, ge=1)
    pg_write_lanes: int = Field(
        4, ge=1, le=64, description="concurrent group-commit transactions, chats split by id "
        "(measured on 1,000 chats: 1 lane 32k, 2 lanes 40k, 4 lanes 45k msg/s)")
    write_batch_max: int = Field(
        4000, ge=1, le=10000, description="most messages per group-commit transaction; "
        "batches are only this large under saturation (measured, SQLite, 1,000 chats, "
        "8,000 sends in flight: 25k msg/s at 1,000, 47k at 4,000)"
    )
    push_delay_ms: float = Field(
        2.0, ge=0, le=100, description="after a batch of two sends or more, the next waits "
        "until its oldest send waited this long (unless write_batch_max are waiting), so more "
        "sends share a transaction and a push frame; adds up to this much latency under "
        "concurrent sends, none for a lone sender (0: off; measured, W1 100 members: server "
        "CPU per delivery -17% at 2 ms, -22% at 5 ms)")

    # -- bus
    bus: Literal["local", "redis", "nats"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: str = "nats://127.0.0.1:4222"
    bus_channel_prefix: str = "tidings"

    # -- auth
    username_min_length: int = 3
    username_max_length: int = 32
    password_min_length: int = 8
    password_max_length: int = 256
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_cost_kib: int = Field(19456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)
    password_hash_concurrency: int = Field(
        2, ge=1, description="password hashes computed at once; the rest wait. Fixed rather "
        "than the core count so a flood of logins can take at most two cores and two "
        "threads of the shared default thread pool (which also resolves host names), "
        "whatever the machine; raise it for many legitimate logins at once")
    login_failures_per_account: int = Field(
        5, ge=1, description="failed logins allowed per username before each further one "
        "locks that username out (RATE_LIMITED)")
    login_failures_per_address: int = Field(
        20, ge=1, description="failed logins allowed per client address, any usernames, "
        "before each further one locks that address out")
    login_lockout_seconds: float = Field(
        1.0, gt=0, description="first lockout; it doubles with every further failure")
    login_lockout_max_seconds: float = Field(
        300.0, gt=0, description="longest lockout: past it, one guess per this many seconds")
    login_failure_reset_seconds: float = Field(
        3600.0, gt=0, description="failures are forgotten this long after the last one "
        "(a successful login forgets the username's at once)")

    # -- transport limits
    max_frame_bytes: int = Field(65536, ge=1024)
    rate_limit_per_second: float = Field(200.0, gt=0, description="requests per connection")
    rate_limit_burst: int = Field(400, ge=1)
    rate_limit_per_address_per_second: float = Field(
        1000.0, gt=0, description="requests per client address, all its connections together")
    rate_limit_per_address_burst: int = Field(2000, ge=1)
    rate_limit_exempt_loopback: bool = True
    # -- the edge (transport.edge): CIDRs, e.g. ["10.0.0.0/8", "127.0.0.1/32"]
    trusted_proxies: list[str] = Field(
        default_factory=list, description="only connections from these may say whom they "
        "forward for (X-Forwarded-For)")
    blocked_networks: list[str] = Field(
        default_factory=list, description="requests from these are refused with 403")
    web_client: bool = Field(
        True, description="serve the browser client at / (static files in the package)")
    cors_origins: list[str] = Field(
        default_factory=list, description="browser origins allowed to call the HTTP API "
        "(none: no CORS headers at all)")
    # per device (all its connections on one node) and per address, by kind of
    # request (services.rate_limits): RATE_LIMITED with data.retry_after
    rate_limit_send_per_second: float = Field(
        10.0, gt=0, description="message.send and message.forward per device")
    rate_limit_send_burst: int = Field(50, ge=1)
    rate_limit_reaction_per_second: float = Field(
        5.0, gt=0, description="message.react and message.unreact per device")
    rate_limit_reaction_burst: int = Field(20, ge=1)
    rate_limit_typing_per_second: float = Field(
        1.0, gt=0, description="typing.send per device, all chats together")
    rate_limit_typing_burst: int = Field(10, ge=1)
    rate_limit_contact_request_per_second: float = Field(
        0.01, gt=0, description="contact.request per device (36 an hour)")
    rate_limit_contact_request_burst: int = Field(10, ge=1)
    rate_limit_search_per_second: float = Field(
        2.0, gt=0, description="message.search and user.search per device")
    rate_limit_search_burst: int = Field(10, ge=1)
    rate_limit_register_per_second: float = Field(
        0.05, gt=0, description="auth.register per client address (one per 20 s)")
    rate_limit_register_burst: int = Field(10, ge=1)
    rate_limit_login_per_second: float = Field(
        1.0, gt=0, description="auth.login per client address, whatever the outcome "
        "(failed ones also back off: login_failures_*)")
    rate_limit_login_burst: int = Field(20, ge=1)
    rate_limit_max_keys: int = Field(
        100_000, ge=1, description="devices or addresses each of those bucket tables keeps "
        "(idle ones, then the least recently used, are forgotten beyond it)")
    max_pending_pushes: int = Field(
        2000, ge=10, description="queued push frames before a slow device is disconnected"
    )
    max_pending_push_bytes: int = Field(
        4 * 1024 * 1024, ge=65536, description="bytes queued for one connection (frames "
        "waiting and the one being written) before a slow device is disconnected; bounds "
        "memory where max_pending_pushes does not, as coalesced sends make few big frames")
    revoke_grace_seconds: float = Field(
        2.0, ge=0, description="a revoked connection's requests in flight get this long to "
        "finish and be answered before close 4001")
    max_inflight_requests: int = Field(256, ge=1, description="per connection")
    auth_timeout_seconds: float = Field(30.0, gt=0)
    shutdown_grace_seconds: float = Field(5.0, ge=0)
    # /readyz: how long the database and the bus each get to answer.
    readiness_timeout_seconds: float = Field(2.0, gt=0, le=30)

    # -- messaging limits
    max_text_length: int = Field(4096, ge=1)
    max_local_id_length: int = Field(64, ge=8)
    max_entities: int = Field(100, ge=0)
    max_title_length: int = Field(128, ge=1)
    max_group_members: int = Field(10000, ge=2)
    # groups: chat info, invites, join requests (issue 10)
    max_about_length: int = Field(
        512, ge=1, description="a chat's about text, in characters (INVALID_PARAMS)")
    max_announcement_length: int = Field(
        4096, ge=1, description="a chat's announcement, in characters (INVALID_PARAMS)")
    max_invites_per_chat: int = Field(
        100, ge=1, description="invite links a chat has at once, not revoked (FORBIDDEN, "
        "data.limit)")
    max_join_message_length: int = Field(
        256, ge=0, description="the message of a join request, in characters")
    group_list_limit: int = Field(
        200, ge=1, description="most rows chat.bans, chat.invites, chat.join_requests and "
        "chat.announcements return (newest first; oldest first for requests)")
    max_user_ids_per_call: int = Field(200, ge=1)
    read_index_max_chats: int = Field(
        10000, ge=1, description="chats whose read cursors stay in memory for read receipts "
        "(LRU; about 20 bytes per member, 200 KB for a 10,000-member chat)")
    reads_small_chat_threshold: int = Field(
        8, ge=0, description="chats with at most this many members push each read live")
    reads_large_chat_threshold: int = Field(
        256, ge=1, description="chats with more members answer read counts only "
        "(read.readers: READERS_HIDDEN)")
    chat_members_max_limit: int = Field(
        200, ge=1, description="largest chat.members page (also its default)")
    chat_get_members_limit: int = Field(
        50, ge=1, description="members chat.get returns, the first chat.members page; "
        "members_next_cursor continues")
    typing_throttle_seconds: float = Field(
        3.0, ge=0, description="a typing.send repeated within this long is answered but not "
        "relayed (cancel and a change of action always are)")
    typing_expire_seconds: int = Field(
        6, ge=1, description="the typing push's expires_in: receivers drop the indicator "
        "this long after the last push")
    typing_max_chat_members: int = Field(
        1000, ge=2, description="chats of at least this many members do not relay typing")
    history_default_limit: int = Field(50, ge=1)
    history_max_limit: int = Field(100, ge=1)
    history_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="memory bound of the node's message.history page "
        "cache (pages shared by members with the same read view, valid while the chat's pts "
        "is unchanged; least recently used go first); 0 turns it off")
    get_max_ids: int = Field(100, ge=1)
    sync_default_limit: int = Field(1000, ge=1)
    sync_max_limit: int = Field(10000, ge=1)
    recall_window_seconds: int = Field(120, ge=0)
    admin_recall_window_seconds: int = Field(
        172800, ge=0, description="owners/admins recall other people's messages within this "
        "window; their own messages use recall_window_seconds like everyone's"
    )
    recall_audit: bool = Field(
        False, description="keep a recalled message's original content in the recall_audit "
        "table (never shown to clients; operators read it)")
    max_ids_per_call: int = Field(
        100, ge=1, description="message ids per message.delete, message.forward")
    max_burn_after_seconds: int = Field(
        604800, ge=1, description="longest burn-after-read countdown (direct chats)")
    reply_preview_chars: int = Field(
        100, ge=1, description="characters of the replied-to text a reply shows")
    replies_max_limit: int = Field(100, ge=1, description="message.replies page")
    # reactions, pins, attributes and tags
    max_reaction_kinds_per_message: int = Field(
        20, ge=1, description="distinct emoji one message can carry; a new one beyond it is "
        "FORBIDDEN (data.limit)")
    max_reactions_per_user: int = Field(
        3, ge=1, description="emoji one user can put on one message (FORBIDDEN, data.limit)")
    reactions_max_limit: int = Field(
        100, ge=1, description="message.reactions page (also its default)")
    max_pinned_messages: int = Field(
        50, ge=1, description="pinned messages per chat (FORBIDDEN, data.limit)")
    max_attributes_bytes: int = Field(
        2048, ge=2, description="a message's attributes object, encoded as compact JSON "
        "(TOO_LARGE)")
    max_attributes_depth: int = Field(
        8, ge=1, description="nesting of objects and arrays inside attributes (the object "
        "itself is level 1)")
    max_tags_per_message: int = Field(10, ge=0, description="tags per message")
    max_tag_length: int = Field(32, ge=1, description="characters per tag, after trimming")
    max_listed_tags: int = Field(
        500, ge=1, description="most tags message.list_tags returns (the most used ones)")
    # the conversation list
    max_pinned_dialogs: int = Field(
        5, ge=1, description="dialogs one user can pin; one more is FORBIDDEN (data.limit)")
    dialogs_default_limit: int = Field(50, ge=1, description="chat.list page without limit")
    dialogs_max_limit: int = Field(200, ge=1, description="largest chat.list page")
    mentions_max_limit: int = Field(
        100, ge=1, description="message.mentions page (also its default)")
    # search (message.search)
    search_default_limit: int = Field(50, ge=1, description="message.search page without limit")
    search_max_limit: int = Field(200, ge=1, description="largest message.search page")
    search_max_query_length: int = Field(
        256, ge=2, description="characters of a message.search query, after trimming "
        "(INVALID_PARAMS above it)")

    # people: contacts, profiles, user search, presence
    max_contact_message_length: int = Field(
        200, ge=0, description="characters of a contact.request message (TOO_LARGE above it)")
    max_display_name_length: int = Field(
        64, ge=1, description="characters of a display name (INVALID_PARAMS above it)")
    max_bio_length: int = Field(
        300, ge=0, description="characters of a profile bio (INVALID_PARAMS above it)")
    user_search_max_limit: int = Field(
        50, ge=1, description="largest user.search page (default: 20, or this if lower)")
    presence_max_subscriptions: int = Field(
        500, ge=1, description="users one connection may follow with presence.subscribe "
        "(INVALID_PARAMS, data.limit, above it)")
    presence_debounce_seconds: float = Field(
        2.0, ge=0, description="a presence change is pushed after it held this long, so a "
        "flapping connection pushes nothing")
    presence_heartbeat_seconds: float = Field(
        5.0, gt=0, description="how often each node announces on the bus that it is alive "
        "(with several nodes)")
    presence_node_timeout_seconds: float = Field(
        15.0, gt=0, description="a node not heard from this long is taken for dead: its "
        "users go offline on the other nodes (a node killed without closing)")

    # auto-delete (chat.set_message_ttl)
    min_message_ttl_seconds: int = Field(
        3600, ge=1, description="shortest custom chat message TTL; the presets 86400, 604800 "
        "and 2592000 are always accepted (INVALID_PARAMS below it)")
    max_message_ttl_seconds: int = Field(
        31536000, ge=1, description="longest chat message TTL (INVALID_PARAMS above it)")
    message_ttl_batch_size: int = Field(
        1000, ge=1, le=1000, description="expired messages (auto-delete, burn-after-read) "
        "deleted per transaction by the sweeper job")

    # -- background jobs (tidings.jobs)
    jobs_interval_seconds: float = Field(
        10.0, gt=0, description="how often each node's job runner looks for due jobs; also "
        "how often the message TTL sweeper runs, so expired messages go within this long")
    jobs_batch_size: int = Field(100, ge=1, le=10000, description="jobs claimed per round")
    jobs_max_attempts: int = Field(
        5, ge=1, description="failed runs before a job is given up (kept with failed_at "
        "set); recurring jobs are never given up")
    jobs_retry_seconds: int = Field(
        30, ge=1, description="wait after a job's first failure; doubles with each further one")
    jobs_retry_max_seconds: int = Field(3600, ge=1, description="longest wait between retries")
    jobs_lease_seconds: int = Field(
        300, ge=1, description="a claimed job belongs to its node this long; after it, a "
        "node that died holding it loses it to another")

    # -- exports (message.export)
    export_dir: Path | None = Field(
        None, description="where export files are written; default data_dir/exports. With "
        "several nodes, a directory they all share")
    export_max_concurrent_per_user: int = Field(
        2, ge=1, description="exports one user may have queued or running at once; one more "
        "is RATE_LIMITED (data.limit)")
    export_retention_seconds: int = Field(
        86400, ge=60, description="a finished export's file is kept this long, then deleted "
        "(the export becomes expired)")
    export_chunk_rows: int = Field(
        500, ge=1, le=10000, description="messages an export reads, renders and writes per "
        "step (one transaction); memory use is one chunk whatever the chat's size. Larger "
        "steps hold the event loop longer (measured, SQLite, 50,000 messages: 250 rows -> "
        "loop stalls p99 ~6 ms, 500 -> ~15 ms, 1,000 -> ~70 ms; throughput about equal)")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        # Checked here, not where the key is used, so that `config validate` and
        # `config show` refuse what `serve` would refuse.
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret_key must be at least {MIN_SECRET_LENGTH} characters")
        if self.database_url and not self.database_url.startswith(_DATABASE_SCHEMES):
            raise ValueError("database_url must start with postgresql://, postgres:// "
                             "or sqlite:///")
        if self.login_lockout_seconds > self.login_lockout_max_seconds:
            raise ValueError("login_lockout_seconds must not exceed login_lockout_max_seconds")
        if self.login_failure_reset_seconds < self.login_lockout_max_seconds:
            raise ValueError("login_failure_reset_seconds must not be below "
                             "login_lockout_max_seconds")
        if self.workers > 1 and not (self.is_postgres and self.bus != "local"):
            raise ValueError("workers > 1 needs PostgreSQL and the redis or nats bus: the "
                             "embedded SQLite profile is one process (one writer)")
        if self.workers > 1 and self.port == 0:
            raise ValueError("workers > 1 needs a fixed port: the workers share it")
        if self.pg_pool_min > self.pg_pool_max:
            raise ValueError("pg_pool_min must not exceed pg_pool_max")
        if self.pg_write_lanes >= self.pg_pool_max:
            raise ValueError("pg_write_lanes must leave pool connections for reads "
                             "(pg_write_lanes < pg_pool_max)")
        if self.history_default_limit > self.history_max_limit:
            raise ValueError("history_default_limit must not exceed history_max_limit")
        if self.dialogs_default_limit > self.dialogs_max_limit:
            raise ValueError("dialogs_default_limit must not exceed dialogs_max_limit")
        if self.chat_get_members_limit > self.chat_members_max_limit:
            raise ValueError("chat_get_members_limit must not exceed chat_members_max_limit")
        if self.typing_throttle_seconds >= self.typing_expire_seconds:
            raise ValueError("typing_throttle_seconds must be below typing_expire_seconds, or "
                             "a typing indicator expires between two relayed renewals")
        if self.presence_node_timeout_seconds <= 2 * self.presence_heartbeat_seconds:
            raise ValueError("presence_node_timeout_seconds must exceed twice "
                             "presence_heartbeat_seconds, or one late heartbeat takes a "
                             "live node's users offline")
        if self.search_default_limit > self.search_max_limit:
            raise ValueError("search_default_limit must not exceed search_max_limit")
        if len(self.entitlement_ttl_factors) != len(self.entitlement_quota_factors):
            raise ValueError("entitlement_ttl_factors and entitlement_quota_factors must name "
                             "the same levels")
        if any(f < 0 for f in self.entitlement_ttl_factors) or any(
                f <= 0 for f in self.entitlement_quota_factors):
            raise ValueError("entitlement_ttl_factors must be >= 0 (0: no expiry) and "
                             "entitlement_quota_factors > 0")
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("blob_store s3 needs s3_bucket")
        if self.min_message_ttl_seconds > self.max_message_ttl_seconds:
            raise ValueError("min_message_ttl_seconds must not exceed max_message_ttl_seconds")
        if self.webhook_url is not None:
            if not self.webhook_url.startswith(("http://", "https://")):
                raise ValueError("webhook_url must start with http:// or https://")
            if not self.webhook_secret or len(self.webhook_secret) < MIN_WEBHOOK_SECRET_LENGTH:
                raise ValueError(f"webhook_url needs webhook_secret, at least "
                                 f"{MIN_WEBHOOK_SECRET_LENGTH} characters")
        if self.webhook_retry_seconds > self.webhook_retry_max_seconds:
            raise ValueError("webhook_retry_seconds must not exceed webhook_retry_max_seconds")
        return self

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and str(self.database_url).startswith(
            ("postgres://", "postgresql://")
        )

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "tidings.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The TOML path is chosen at load time; pydantic-settings builds sources from
# the class, so it is handed over here rather than through a field.
_TOML_FILE: dict[str, Path | None] = {"path": None}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from flags (``overrides``, None meaning 'not given'),
    environment and an optional TOML file."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    _TOML_FILE["path"] = config_file
    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return Settings(**given)
    finally:
        _TOML_FILE["path"] = None
