from __future__ import annotations

import os
from pathlib import Path

import pytest

from tercet import config
from tercet.errors import ConfigError


def test_defaults_and_sources(root: Path) -> None:
    cfg = config.load()
    assert cfg.service.host == "127.0.0.1"
    assert cfg.service.port == 5015
    assert cfg.dashboard.port == 8000
    assert cfg.root == str(root)
    assert cfg.sources["root"] == "env TERCET_ROOT"
    assert cfg.sources.get("service.port", "default") == "default"


def test_file_values_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    path = config.config_path()
    path.write_text("service:\n  port: 6000\ndashboard:\n  port: 9000\naliases:\n  DATA: /d\n")
    cfg = config.load()
    assert cfg.service.port == 6000
    assert cfg.sources["service.port"] == f"file {path}"
    assert cfg.aliases == {"DATA": "/d"}
    monkeypatch.setenv("TERCET_SERVICE_PORT", "7000")
    cfg = config.load()
    assert cfg.service.port == 7000
    assert cfg.sources["service.port"] == "env TERCET_SERVICE_PORT"


def test_bad_yaml_reports_file_and_line() -> None:
    path = config.config_path()
    path.write_text("service:\n  port: 6000\n  host: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        config.load()


def test_unknown_key_reports_file_and_line() -> None:
    path = config.config_path()
    path.write_text("root: /x\n\nservise:\n  port: 1\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: unknown key 'servise'"):
        config.load()
    path.write_text("service:\n  prot: 1\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: unknown key service.'prot'"):
        config.load()


def test_wrong_type_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERCET_SERVICE_PORT", "eighty")
    with pytest.raises(ConfigError, match="TERCET_SERVICE_PORT.*'eighty'. Not a valid integer"):
        config.load()


def test_save_file_values_keeps_other_keys_and_is_private() -> None:
    path = config.config_path()
    path.write_text("service:\n  port: 6000\n")
    config.save_file_values({"aliases.DATA": "/d"})
    cfg = config.load()
    assert cfg.service.port == 6000 and cfg.aliases["DATA"] == "/d"
    assert os.stat(path).st_mode & 0o077 == 0
    config.save_file_values({}, remove=["aliases.DATA"])
    assert "DATA" not in config.load().aliases
