"""The ``tidings`` command line: serve, migrate, config, bench."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import tomli_w
from pydantic import ValidationError

from tidings.bench.cli import bench
from tidings.config import Settings, load_settings

_COMMON = [
    click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
                 help="TOML settings file"),
    click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                 help="where the SQLite file, media and the secret key live"),
    click.option("--database-url", default=None, help="postgresql://... for PostgreSQL"),
]


def common_options(fn: Any) -> Any:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


def settings_from(config_file: Path | None, **flags: Any) -> Settings:
    """The settings in force, or a one-line ``ClickException`` (exit status 1)."""
    try:
        return load_settings(config_file, **flags)
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration: {describe(exc)}") from exc
    except (FileNotFoundError, ValueError) as exc:  # TOML syntax errors are ValueErrors
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def describe(exc: ValidationError) -> str:
    """Each problem as ``setting: message``, on one line. The values given are
    left out: one of them may be the secret key."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def setup_logging(settings: Settings) -> None:
    from tidings.logs import setup_logging as configure

    configure("debug" if settings.dev else settings.log_level, dev=settings.dev)


@click.group()
@click.version_option(package_name="tidings")
def main() -> None:
    """tidings: an instant-messaging backend."""


@main.command()
@common_options
@click.option("--host", default=None, help="address to bind (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default 8080)")
@click.option("--tcp-port", type=int, default=None,
              help="also serve length-prefixed TCP frames on this port (default: off)")
@click.option("--bus", type=click.Choice(["local", "redis", "nats"]), default=None)
@click.option("--redis-url", default=None)
@click.option("--nats-url", default=None)
@click.option("--dev", is_flag=True, default=None, help="debug logging")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="server processes sharing the port (default 1; more need PostgreSQL "
                   "and --bus redis or nats)")
def serve(config_file: Path | None, **flags: Any) -> None:
    """Serve WebSocket, health and metrics on one port (and TCP with --tcp-port)."""
    from tidings.app import StartupError, run

    settings = settings_from(config_file, **flags)
    setup_logging(settings)
    try:
        run(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@common_options
def migrate(config_file: Path | None, **flags: Any) -> None:
    """Apply pending schema migrations and exit."""
    from tidings.app import StartupError, open_database
    from tidings.clock import SystemClock
    from tidings.db.migrate import migrate as apply

    settings = settings_from(config_file, **flags)
    setup_logging(settings)

    async def go() -> list[str]:
        db = open_database(settings)
        await db.engine.open()
        try:
            return [f"{m.version:04d}_{m.name}" for m in await apply(db, SystemClock().now())]
        finally:
            await db.engine.close()

    try:
        applied = asyncio.run(go())
    except Exception as exc:  # unreachable database, unwritable data dir, ...
        raise click.ClickException(str(StartupError.from_exception(exc, "migrate"))) from exc
    click.echo("applied: " + ", ".join(applied) if applied else "schema is up to date")


@main.group()
def config() -> None:
    """Generate, validate or show settings."""


@config.command("generate")
def config_generate() -> None:
    """Print a TOML file with every setting at its default."""
    defaults = Settings().model_dump(mode="json", exclude_none=True)
    click.echo(tomli_w.dumps(defaults))


@config.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def config_validate(path: Path) -> None:
    """Check a TOML settings file (with the environment applied)."""
    settings_from(path)
    click.echo(f"{path}: ok")


@config.command("show")
@common_options
def config_show(config_file: Path | None, **flags: Any) -> None:
    """Print the settings in force, secrets hidden."""
    settings = settings_from(config_file, **flags)
    shown = settings.model_dump(mode="json")
    for secret in ("secret_key", "admin_token", "s3_secret_key", "webhook_secret",
                   "probe_password"):
        if shown.get(secret):
            shown[secret] = "***"
    click.echo(json.dumps(shown, indent=2, sort_keys=True))


main.add_command(bench)

# Imported last: its commands use common_options and settings_from from above.
from tidings.admin_cli import admin  # noqa: E402

main.add_command(admin)

from tidings.probe import probe  # noqa: E402
from tidings.webhooks_cli import webhooks  # noqa: E402

admin.add_command(probe)
admin.add_command(webhooks)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
