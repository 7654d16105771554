"""``tercet alias set|list|unset --project`` and ``tercet alias rewrite``, as a person runs them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import tercet
from tercet.cli import app
from tests.cli.test_root_and_table_cmd import tercet_cli

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return result.exit_code, result.output


def test_project_aliases_through_the_cli(root: Path) -> None:
    code, out = _invoke("alias", "set", "--project", "My Project", "DATA", "/mnt/[data]")
    assert code == 0, out
    assert "<DATA> = /mnt/[data]" in out  # user text is printed as written, not as rich markup
    assert (root / "My-Project" / "aliases.yaml").read_text() == "DATA: /mnt/[data]\n"
    code, out = _invoke("alias", "list", "--project", "My Project")
    assert code == 0 and "<DATA>" in out and "/mnt/[data]" in out and "My-Project" in out
    code, out = _invoke("alias", "unset", "--project", "My Project", "DATA")
    assert code == 0 and "Removed <DATA>" in out
    assert (root / "My-Project" / "aliases.yaml").read_text() == "{}\n"
    code, out = _invoke("alias", "unset", "--project", "My Project", "DATA")
    assert code == 0 and "not set in project" in out
    # The user config file was never touched.
    assert "DATA" not in tercet.config.load().aliases


def test_alias_rewrite_reports_counts_and_the_new_revision(root: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    t = tercet.Table.create(
        {"image": [f"{old}/a.png", f"{old}/b.png", "/elsewhere/c.png"]},
        project="p", dataset="d", name="t", roles={"image": "image"},
    )  # fmt: skip
    edited = t.set_values("image", [2], "/elsewhere/e.png")  # the latest is rewritten
    _invoke("alias", "set", "--project", "p", "DATA", str(tmp_path / "new"))
    code, out = _invoke("alias", "rewrite", t.url, "--from", str(old), "--to", "<DATA>")
    assert code == 0, out
    assert "image" in out and " 2 " in out and "New revision:" in out
    latest = t.latest()
    assert latest.parent == edited
    assert [r["image"] for r in latest.rows] == ["<DATA>/a.png", "<DATA>/b.png", "/elsewhere/e.png"]
    # Nothing left to match: 0, and no revision.
    code, out = _invoke("alias", "rewrite", t.url, "--from", str(old), "--to", "<DATA>")
    assert code == 0 and " 0 " in out and "nothing written" in out
    assert t.latest() == latest


def test_alias_rewrite_errors_are_one_line_without_a_traceback(root: Path) -> None:
    t = tercet.Table.create({"image": ["/a/x.png"]}, project="p", dataset="d", name="t",
                            roles={"image": "image"})  # fmt: skip
    result = tercet_cli("alias", "rewrite", t.url, "--from", "/a", "--to", "<UNSET>", root=root)
    assert result.returncode == 1
    assert "Alias <UNSET> is not set" in result.stderr and "Traceback" not in result.stderr
    assert t.latest() == t


def test_table_show_prints_where_a_split_came_from(root: Path) -> None:
    t = tercet.Table.create({"x": [1, 2, 3, 4]}, project="p", dataset="d", name="all")
    val = t.split({"train": 0.5, "val": 0.5})["val"]
    code, out = _invoke("table", "show", val.url)
    assert code == 0, out
    assert f"derived from: {t.url} (op=split, by=random" in out.replace("\n", "")
