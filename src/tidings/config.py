"""Settings: one typed object, validated once at start.

Precedence: command-line flags > ``TIDINGS_*`` environment variables > TOML
file (``--config``) > the defaults below. Every limit the server enforces is a
field here, so the defaults live in one place and ``tidings config show``
prints what is in force.
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="forbid")

    # -- serving
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        None, description="postgresql://... switches to PostgreSQL; default is SQLite in data_dir"
    )
    dev: bool = Field(False, description="debug logging")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    secret_key: str | None = Field(
        None, description="token signing key; generated into data_dir/secret.key when unset"
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

    # -- bus
    bus: Literal["local", "redis"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    bus_channel_prefix: str = "tidings"

    # -- auth
    username_min_length: int = 3
    username_max_length: int = 32
    password_min_length: int = 8
    password_max_length: int = 256
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_cost_kib: int = Field(19456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)

    # -- transport limits
    max_frame_bytes: int = Field(65536, ge=1024)
    rate_limit_per_second: float = Field(200.0, gt=0, description="requests per connection")
    rate_limit_burst: int = Field(400, ge=1)
    rate_limit_per_address_per_second: float = Field(
        1000.0, gt=0, description="requests per client address, all its connections together")
    rate_limit_per_address_burst: int = Field(2000, ge=1)
    rate_limit_exempt_loopback: bool = True
    max_pending_pushes: int = Field(
        2000, ge=10, description="queued push frames before a slow device is disconnected"
    )
    max_inflight_requests: int = Field(256, ge=1, description="per connection")
    auth_timeout_seconds: float = Field(30.0, gt=0)
    shutdown_grace_seconds: float = Field(5.0, ge=0)

    # -- messaging limits
    max_text_length: int = Field(4096, ge=1)
    max_local_id_length: int = Field(64, ge=8)
    max_entities: int = Field(100, ge=0)
    max_title_length: int = Field(128, ge=1)
    max_group_members: int = Field(10000, ge=2)
    max_user_ids_per_call: int = Field(200, ge=1)
    history_default_limit: int = Field(50, ge=1)
    history_max_limit: int = Field(100, ge=1)
    get_max_ids: int = Field(100, ge=1)
    sync_default_limit: int = Field(1000, ge=1)
    sync_max_limit: int = Field(10000, ge=1)
    recall_window_seconds: int = Field(120, ge=0)
    admin_recall_window_seconds: int = Field(
        172800, ge=0, description="owners/admins recall any message within this window"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.pg_pool_min > self.pg_pool_max:
            raise ValueError("pg_pool_min must not exceed pg_pool_max")
        if self.pg_write_lanes >= self.pg_pool_max:
            raise ValueError("pg_write_lanes must leave pool connections for reads "
                             "(pg_write_lanes < pg_pool_max)")
        if self.history_default_limit > self.history_max_limit:
            raise ValueError("history_default_limit must not exceed history_max_limit")
        return self

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and str(self.database_url).startswith(
            ("postgres://", "postgresql://")
        )

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
