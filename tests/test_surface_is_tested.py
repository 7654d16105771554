"""Every documented command and every public name is used by at least one test.

A guard, not a proof: the tests that use them must still fail when they break, which `make
mutate` and planting bugs check. What this catches is the command or name added with no test at
all, as `tercet run reduce` and `Table.create(schema=...)` once were.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

import tercet
from tercet.cli import app

TESTS = Path(__file__).parent
SELF = {Path(__file__).name, "test_public_api.py"}


def _test_sources() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py") if p.name not in SELF
    )


SOURCES = _test_sources()


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    sub = getattr(cmd, "commands", None)
    if sub is None:
        yield path
        return
    for name, child in sub.items():
        yield from _commands(child, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_command_tree_is_walked() -> None:
    assert ("table", "show") in COMMANDS and ("ls",) in COMMANDS and len(COMMANDS) > 10


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_is_run_by_a_test(path: tuple[str, ...]) -> None:
    # As an argument list ("run", "reduce", …) or as a command line ("tercet run reduce …").
    as_args = r"[\(\[]\s*" + r",\s*".join(f'"{re.escape(p)}"' for p in path) + r"\s*[,\)\]]"
    as_line = r"[\"']tercet\s+" + r"\s+".join(map(re.escape, path)) + r"\b"
    assert re.search(as_args, SOURCES) or re.search(as_line, SOURCES), (
        f"no test runs `tercet {' '.join(path)}`"
    )


@pytest.mark.parametrize("name", [n for n in tercet.__all__ if n != "__version__"])
def test_every_public_name_is_used_by_a_test(name: str) -> None:
    # The face (tercet.X) or the module that holds it (from tercet.errors import X): one object.
    used = re.search(rf"\btercet(\.\w+)*\.{name}\b", SOURCES) or re.search(
        rf"from tercet(\.\w+)* import ([^\n(]*|\([^)]*)\b{name}\b", SOURCES
    )
    assert used, f"no test uses tercet.{name}"
