"""YAML resource bombs: every YAML file Tercet reads goes through :mod:`tercet.yamlsafe`, which
refuses anchors, aliases, merge keys and tags, and caps size and depth. A 400-byte "billion
laughs" file used to expand into 9^8 strings (2.4 GiB) when the service scanned the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tercet import Run, Table, aliases, config, format, storage, yamlsafe
from tercet.errors import AliasError, ConfigError
from tests.fixtures.service import make_table
from tests.security import bounded

# Bounded: well above the ~200 MiB of a service process, far below the bomb's 2.4 GiB.
MAX_RSS = 600 * 1024 * 1024


def laughs(levels: int = 9, indent: str = "") -> str:
    """The classic "billion laughs": each level a list of nine aliases of the level below."""
    lines = [f'{indent}L0: &L0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*L{i - 1}"] * 9)
        lines.append(f"{indent}L{i}: &L{i} [{refs}]")
    return "\n".join(lines) + "\n"


def plant_aliased_run(source: Table) -> str:
    """A run whose input table is stored through a project alias, so reading its inputs reads
    the project's aliases.yaml (a run's input may name a table through an alias; a revision's
    parent may not, so this is the way a planted file gets the aliases read)."""
    run = Run.create("demo", "aliased")
    run.add_input(source, "train")
    (event,) = [
        url
        for url in storage.walk_files(storage.join(run.url, "events"))
        if storage.read_json(url).get("type") == "input"
    ]
    planted = {**storage.read_json(event), "table": "<L8>/datasets/digits/tables/train"}
    Path(event).write_text(json.dumps(planted))  # the attack: a hand-written event file
    return run.url


SERVICE_SCRIPT = """
import json, time
import httpx
from tercet import config
from tercet.service import create_app
from tercet.service.server import ThreadedServer
token = "t" * 40
app = create_app(config.load(), token=token, scan_interval=0.1)
server = ThreadedServer(app).start()
try:
    client = httpx.Client(base_url=server.url, headers={"Authorization": "Bearer " + token})
    time.sleep(0.5)  # several background scans, each reads the project's aliases
    tables = client.get("/api/projects/demo/tables", timeout=60).json()
    runs = client.get("/api/projects/demo/runs", timeout=60).json()
    print(json.dumps(tables + runs))
finally:
    server.stop()
"""


def test_billion_laughs_in_project_aliases_is_refused_by_the_service_scan(root: Path) -> None:
    source = make_table(n=20)
    planted = plant_aliased_run(source)
    (root / "demo" / format.PROJECT_ALIASES).write_text(laughs())

    done = bounded.run(["-c", SERVICE_SCRIPT])

    assert done.returncode == 0, done.output[-3000:]
    assert done.max_rss < MAX_RSS, f"service peaked at {done.max_rss / 2**20:.0f} MiB"
    entries = {e["url"]: e for e in json.loads(done.stdout)}
    assert entries[source.url]["error"] is None  # the rest of the project is still served
    error = entries[planted]["error"]
    assert "aliases.yaml" in error and "anchor &L0" in error and "not allowed" in error


def test_billion_laughs_in_project_aliases_is_refused_by_the_cli(root: Path) -> None:
    source = make_table(n=20)
    planted = plant_aliased_run(source)
    (root / "demo" / format.PROJECT_ALIASES).write_text(laughs())

    done = bounded.run([*bounded.TERCET, "run", "show", planted])

    assert done.returncode == 1, done.output[-3000:]
    assert done.max_rss < MAX_RSS
    assert f"{root / 'demo' / 'aliases.yaml'}:1: refused: anchor &L0" in done.stderr
    assert "Traceback" not in done.output


def test_billion_laughs_in_the_config_file_is_refused_by_the_cli() -> None:
    path = config.config_path()
    path.write_text("aliases:\n" + laughs(indent="  "))

    done = bounded.run([*bounded.TERCET, "config", "show"])

    assert done.returncode == 1, done.output[-3000:]
    assert done.max_rss < MAX_RSS
    assert f"{path}:2: refused: anchor &L0" in done.stderr
    assert "Traceback" not in done.output


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &x 1\nb: 2\n", "anchor &x"),
        ("a: 1\nb: *x\n", "alias *x"),  # an alias without anchor: refused before it is an error
        ("base: {root: /r}\nother:\n  <<: {root: /s}\n", "merge key <<"),
        ("root: !!python/object:os.system ls\n", "tag tag:yaml.org,2002:python/object"),
        ("root: !custom x\n", "tag !custom"),
        ("root: !!str 1\n", "tag tag:yaml.org,2002:str"),
        ("root: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than"),
        ("root: [" + ",".join(["1"] * (yamlsafe.MAX_NODES + 1)) + "]\n", "more than"),
        ("root: '" + "x" * yamlsafe.MAX_BYTES + "'\n", "bytes, more than"),
    ],
)
def test_unsafe_yaml_is_refused_with_file_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="refused") as info:
        yamlsafe.load(text, "some.yaml")
    assert reason in str(info.value)
    assert str(info.value).startswith("some.yaml")


def test_config_file_with_an_anchor_names_file_and_line() -> None:
    path = config.config_path()
    path.write_text("root: /tmp/x\nservice:\n  host: &h 127.0.0.1\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:3: refused: anchor &h"):
        config.load()


def test_oversized_project_aliases_is_refused_without_reading_it_all(root: Path) -> None:
    make_table(n=5)
    (root / "demo" / format.PROJECT_ALIASES).write_text("A: /x\n" + "#" * (10 * 2**20))
    with pytest.raises(AliasError, match="bytes, more than"):
        aliases.project_aliases(str(root / "demo"))


def test_plain_yaml_still_loads(root: Path) -> None:
    config.config_path().write_text("root: /data/p\nservice:\n  port: 6000\naliases:\n  D: /d\n")
    cfg = config.load(environ={})
    assert (cfg.root, cfg.service.port, cfg.aliases) == ("/data/p", 6000, {"D": "/d"})
    (root / "demo").mkdir()
    (root / "demo" / format.PROJECT_ALIASES).write_text("IMAGES: /data/images\n")
    assert aliases.project_aliases(str(root / "demo")) == {"IMAGES": "/data/images"}
