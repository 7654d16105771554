"""Aliases: set in four places by precedence, expanded on read, contracted on write."""

from __future__ import annotations

from pathlib import Path

import pytest

import tercet
from tercet import aliases, storage
from tercet.errors import AliasError, AliasNotSetError


def test_alias_expands_on_read() -> None:
    tercet.aliases.set("PROJECT_DATA", "/data/project")
    assert aliases.expand("<PROJECT_DATA>/img/1.jpg") == "/data/project/img/1.jpg"
    assert aliases.expand("<PROJECT_DATA>") == "/data/project"


def test_longest_alias_on_segment_boundary_is_applied_on_write() -> None:
    tercet.aliases.set("DATA", "/data")
    tercet.aliases.set("PROJECT", "/data/project")
    assert aliases.contract("/data/project/1.jpg") == "<PROJECT>/1.jpg"
    # /data/projectX is not under /data/project: only the shorter alias applies.
    assert aliases.contract("/data/projectX/1.jpg") == "<DATA>/projectX/1.jpg"
    assert aliases.contract("/elsewhere/1.jpg") == "/elsewhere/1.jpg"


def test_s3_alias_and_contraction() -> None:
    tercet.aliases.set("BUCKET", "s3://company-bucket/project/")
    assert aliases.expand("<BUCKET>/a/b.png") == "s3://company-bucket/project/a/b.png"
    assert aliases.contract("s3://company-bucket/project/a/b.png") == "<BUCKET>/a/b.png"
    assert (
        aliases.contract("s3://company-bucket/projectile/x") == "s3://company-bucket/projectile/x"
    )


def test_unset_alias_error_names_alias_and_three_ways_to_set_it() -> None:
    with pytest.raises(AliasNotSetError) as info:
        aliases.expand("<MISSING_ALIAS>/x.png")
    message = str(info.value)
    assert "MISSING_ALIAS" in message
    assert "tercet alias set" in message
    assert "TERCET_ALIAS_MISSING_ALIAS" in message
    assert "tercet.aliases.set" in message


def test_invalid_alias_name_is_rejected() -> None:
    with pytest.raises(AliasError, match="not a valid alias name"):
        tercet.aliases.set("lower", "/x")
    with pytest.raises(AliasError, match="not a valid alias name"):
        aliases.expand("<bad-name>/x")


def test_relative_url_resolves_against_owning_object() -> None:
    assert aliases.expand("../files/1.png", base="/r/p/tables/t1") == "/r/p/tables/files/1.png"
    assert aliases.expand("../x", base="s3://b/p/tables/t1") == "s3://b/p/tables/x"
    assert storage.relative_to("/r/p/tables/t0", "/r/p/tables/t1") == "../t0"


def test_file_scheme_is_normalised() -> None:
    assert aliases.expand("file:///tmp/a/../b") == "/tmp/b"


def test_alias_precedence_python_env_config_project(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = root / "p"
    project.mkdir()
    (project / "aliases.yaml").write_text("DATA: /from/project\nONLY_PROJECT: /p\n")
    purl = str(project)
    assert aliases.get("DATA", project_url=purl) == "/from/project"
    tercet.config.save_file_values({"aliases.DATA": "/from/config"})
    assert aliases.get("DATA", project_url=purl) == "/from/config"
    monkeypatch.setenv("TERCET_ALIAS_DATA", "/from/env")
    assert aliases.get("DATA", project_url=purl) == "/from/env"
    tercet.aliases.set("DATA", "/from/python")
    assert aliases.list(purl)["DATA"] == ("/from/python", "python tercet.aliases.set()")
    assert aliases.get("ONLY_PROJECT", project_url=purl) == "/p"
