"""Settings precedence: flags > environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tidings.cli import main
from tidings.config import load_settings


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
                          env={"TIDINGS_SECRET_KEY": "s" * 40})
    assert shown.exit_code == 0 and '"secret_key": "***"' in shown.output
