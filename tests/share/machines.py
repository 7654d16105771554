"""Two "machines" in one test: each is a config file and a project root of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tercet
from tercet import config


@dataclass
class MachineA:
    home: Path
    data: Path
    run: str
    source: tercet.Table
    revision: tercet.Table


def use_machine(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Switch config file and project root to ``home``, as if on another computer."""
    (home / "config").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TERCET_CONFIG", str(home / "config" / "config.yaml"))
    monkeypatch.setenv("TERCET_ROOT", str(home / "root"))
    tercet.aliases.clear()
    return home / "root"


def write_images(folder: Path, n: int) -> None:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (4, 4), (i * 20 % 256, 0, 0)).save(folder / "img" / f"{i}.png")


def train_on_a(home: Path, monkeypatch: pytest.MonkeyPatch, n: int = 6) -> MachineA:
    """A run on machine A: images under <PROJECT_DATA>, a source table, an edited revision."""
    use_machine(monkeypatch, home)
    data = home / "data"
    write_images(data, n)
    config.save_file_values({"aliases.PROJECT_DATA": str(data)})  # `tercet alias set`
    source = tercet.Table.create(
        {
            "image": [str(data / "img" / f"{i}.png") for i in range(n)],
            "label": [i % 2 for i in range(n)],
        },
        project="demo",
        dataset="shapes",
        name="train",
        roles={"image": "image"},
    )
    revision = source.set_values("label", [1], [0], message="fix a label")
    run = tercet.init(project="demo", run="baseline", parameters={"lr": 0.1})
    run.write_metrics(
        revision,
        {"example_id": revision.example_ids(), "loss": np.linspace(0, 1, n)},
        epoch=0,
        split="train",
        roles={"loss": "loss"},
    )
    run.log({"loss": 0.5}, epoch=0)
    run.close()
    return MachineA(home, data, run.url, source, revision)


def open_on_b(root: Path) -> tuple[tercet.Run, tercet.Table]:
    run = tercet.Run.open(str(root / "demo" / "runs" / "baseline"))
    (inp,) = run.inputs
    return run, tercet.Table.open(inp["table"])
