"""Settings precedence: flags > environment > TOML file > defaults."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tidings.app import StartupError, TidingsServer
from tidings.cli import main
from tidings.config import load_settings
from tidings.testing import running_server, test_settings


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.data_dir, s.database_url) == ("127.0.0.1", 8080, Path("data"),
                                                            None)
    assert s.sqlite_path == Path("data/tidings.db") and not s.is_postgres


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('port = 7000\nhost = "0.0.0.0"\nmax_text_length = 100\n')
    assert load_settings(toml).port == 7000
    monkeypatch.setenv("TIDINGS_PORT", "7100")
    s = load_settings(toml)
    assert (s.port, s.host, s.max_text_length) == (7100, "0.0.0.0", 100)
    assert load_settings(toml, port=7200, host=None).port == 7200


def test_invalid_values_are_rejected(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("port = 70000\n")
    with pytest.raises(ValidationError):
        load_settings(toml)
    toml.write_text("no_such_setting = 1\n")
    with pytest.raises(ValidationError):
        load_settings(toml)
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


def test_cli_config_generate_validate_show(tmp_path: Path) -> None:
    runner = CliRunner()
    generated = runner.invoke(main, ["config", "generate"])
    assert generated.exit_code == 0 and "port = 8080" in generated.output
    path = tmp_path / "gen.toml"
    path.write_text(generated.output)
    assert runner.invoke(main, ["config", "validate", str(path)]).exit_code == 0
    path.write_text("port = 'eighty'\n")
    bad = runner.invoke(main, ["config", "validate", str(path)])
    assert bad.exit_code != 0 and "port" in bad.output
    shown = runner.invoke(main, ["config", "show", "--data-dir", str(tmp_path)],
                          env={"TIDINGS_SECRET_KEY": "s" * 40,
                               "TIDINGS_S3_SECRET_KEY": "t" * 20})
    assert shown.exit_code == 0 and '"secret_key": "***"' in shown.output
    assert '"s3_secret_key": "***"' in shown.output and "t" * 20 not in shown.output


SHORT_KEY = "only-twenty-chars..."


@pytest.mark.parametrize("args", [["config", "show"], ["config", "validate", "{toml}"],
                                  ["serve"], ["migrate"]])
def test_a_short_secret_key_is_refused_in_one_line_everywhere(tmp_path: Path,
                                                              args: list[str]) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text("")
    args = [a.format(toml=toml) for a in args]
    if args[0] in ("serve", "migrate", "show"):
        args += ["--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(main, args, env={"TIDINGS_SECRET_KEY": SHORT_KEY})
    assert result.exit_code == 1
    assert result.output == ("Error: invalid configuration: secret_key must be at least "
                             "32 characters\n")  # and the key itself is not echoed
    assert not (tmp_path / "data").exists()  # refused before anything was touched


def test_a_database_url_of_an_unknown_kind_is_refused() -> None:
    # it used to fall back to SQLite in the data dir without a word
    with pytest.raises(ValidationError, match="database_url"):
        load_settings(database_url="mysql://db/tidings")
    assert load_settings(database_url="sqlite:///x.db").sqlite_path == Path("x.db")


def test_serve_and_migrate_report_startup_failures_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    for command, doing in (("serve", "start"), ("migrate", "migrate")):
        result = runner.invoke(main, [command, "--data-dir", str(not_a_dir / "data")])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: cannot {doing}: NotADirectoryError")
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
    result = runner.invoke(main, ["migrate", "--database-url",
                                  "postgresql://nobody@127.0.0.1:1/tidings"])
    assert result.exit_code == 1 and result.output.startswith("Error: cannot migrate: ")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--data-dir", str(tmp_path / "d"),
                                      "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: cannot start: OSError: ")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


async def test_a_second_server_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    """The embedded profile is one process per file; PostgreSQL nodes are many."""
    settings = test_settings(tmp_path / "data")
    async with running_server(settings):
        second = TidingsServer(settings)
        with pytest.raises(StartupError, match="another tidings serve is using"):
            await second.start_or_explain()
        # an operator command beside the running server is fine
        admin = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tidings", "admin", "storage-report", "--data-dir",
            str(settings.data_dir), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        output, _ = await admin.communicate()
        assert admin.returncode == 0, output
    async with running_server(settings) as again:  # free once the first stopped
        assert again.node.ready
