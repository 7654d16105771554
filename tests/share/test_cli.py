"""``tercet share export|import`` and ``tercet alias check`` from the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tercet
from tercet import config
from tercet.cli import app, share_cmd
from tercet.errors import ShareError
from tests.share.machines import MachineA, use_machine

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich tables must not wrap paths mid-assertion


def test_export_then_import_with_an_alias_value(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    out = runner.invoke(app, ["share", "export", machine_a.run, "-o", bundle])
    assert out.exit_code == 0, out.output
    assert "Wrote" in out.output and "3 objects" in out.output and "<PROJECT_DATA>" in out.output
    copy = tmp_path / "B" / "data"
    shutil.copytree(machine_a.data, copy)
    shutil.rmtree(machine_a.home)
    root = use_machine(monkeypatch, tmp_path / "B")

    out = runner.invoke(
        app, ["share", "import", bundle, "--alias", f"PROJECT_DATA={copy}", "--save-aliases"]
    )

    assert out.exit_code == 0, out.output
    assert "imported" in out.output and f"<PROJECT_DATA> = {copy}" in out.output
    assert config.load().aliases == {"PROJECT_DATA": str(copy)}
    assert (root / "demo" / "runs" / "baseline" / "object.json").is_file()
    check = runner.invoke(app, ["alias", "check", str(root / "demo" / "runs" / "baseline")])
    assert check.exit_code == 0, check.output
    assert "ok" in check.output


def test_import_without_alias_fails_listing_it(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    assert runner.invoke(app, ["share", "export", machine_a.run, "-o", bundle]).exit_code == 0
    use_machine(monkeypatch, tmp_path / "B")
    out = runner.invoke(app, ["share", "import", bundle])
    assert isinstance(out.exception, ShareError)
    assert "--alias PROJECT_DATA=" in str(out.exception)
    check = runner.invoke(app, ["alias", "check", bundle])
    assert check.exit_code == 1 and "missing" in check.output


def test_import_asks_for_a_missing_alias_on_a_terminal(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    assert runner.invoke(app, ["share", "export", machine_a.run, "-o", bundle]).exit_code == 0
    use_machine(monkeypatch, tmp_path / "B")
    monkeypatch.setattr(share_cmd, "_interactive", lambda: True)
    out = runner.invoke(app, ["share", "import", bundle], input=f"{machine_a.data}\n")
    assert out.exit_code == 0, out.output
    assert "Where is the data under <PROJECT_DATA>" in out.output
    assert "not saved: run `tercet alias set PROJECT_DATA" in out.output
    out = runner.invoke(app, ["share", "import", bundle, "--no-input", "--project", "p2"])
    assert isinstance(out.exception, ShareError)


def test_include_alias_relativize_and_rename_options(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = str(tmp_path / "b.tercet")
    out = runner.invoke(
        app,
        [
            "share",
            "export",
            machine_a.run,
            "-o",
            bundle,
            "--include-alias",
            "PROJECT_DATA",
            "--relativize-under",
            f"{tmp_path}=TMP",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "Aliases the data needs" not in out.output  # all of it travels in the bundle
    out = runner.invoke(app, ["share", "export", machine_a.run, "-o", bundle])
    assert isinstance(out.exception, ShareError) and "--force" in str(out.exception)
    out = runner.invoke(
        app, ["share", "export", machine_a.run, "-o", bundle, "--include-data", "--force"]
    )
    assert out.exit_code == 0, out.output
    # Back into A's own root: the same objects are found present, so nothing is renamed.
    out = runner.invoke(app, ["share", "import", bundle, "--rename", "--project", "demo"])
    assert out.exit_code == 0, out.output
    assert "renamed from demo/runs/baseline" not in out.output  # same run: merged, not renamed
    bad = runner.invoke(
        app, ["share", "export", machine_a.run, "-o", "x", "--relativize-under", "nodelimiter"]
    )
    assert isinstance(bad.exception, ShareError) and "DIR=ALIAS" in str(bad.exception)


def test_console_entry_point_prints_one_line_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tercet"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tercet.cli import main; main()",
            "share",
            "import",
            str(missing),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "No bundle at" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_progress_bar_adapter_is_quiet_off_a_terminal() -> None:
    with share_cmd._Bar() as bar:
        bar.start("Exporting", 3)
        bar.advance()
        bar.start("Verifying", 0)
        bar.advance(2)
    progress: tercet.share.Progress = bar  # it implements the protocol (checked by mypy)
    progress.advance()


def test_machine_b_in_its_own_process_opens_the_run(
    machine_a: MachineA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of machine A's process (caches, Python-set aliases) helps machine B."""
    bundle = str(tmp_path / "b.tercet")
    assert runner.invoke(app, ["share", "export", machine_a.run, "-o", bundle]).exit_code == 0
    data = tmp_path / "B" / "nfs" / "project"
    shutil.copytree(machine_a.data, data)
    shutil.rmtree(machine_a.home)
    b = tmp_path / "B"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERCET_")}
    env.update(TERCET_CONFIG=str(b / "config.yaml"), TERCET_ROOT=str(b / "root"))
    cli = [sys.executable, "-c", "from tercet.cli import main; main()"]
    imported = subprocess.run(
        [*cli, "share", "import", bundle, "--alias", f"PROJECT_DATA={data}", "--save-aliases"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    script = (
        "import tercet; run = tercet.Run.open(tercet.project_url('demo') + '/runs/baseline'); "
        "t = tercet.Table.open(run.inputs[0]['table']); "
        "print(run.status, len(t), t[2]['image'].getpixel((0, 0)), run.metrics('train').num_rows)"
    )
    opened = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split() == ["completed", "6", "(40,", "0,", "0)", "6"]
