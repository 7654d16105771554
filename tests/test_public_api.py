"""The public surface: ``tercet.__all__`` and the reference in ``docs/python-api.md``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

import tercet

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "python_api.py"


def _api_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_all_is_sorted_and_complete() -> None:
    assert tercet.__all__ == sorted(tercet.__all__), "keep tercet.__all__ sorted"
    for name in tercet.__all__:
        assert hasattr(tercet, name), f"tercet.__all__ names {name!r} but it is not exported"
    public = {n for n in vars(tercet) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(tercet, n)).__name__ == "module"}
    missing = public - modules - set(tercet.__all__) - {"annotations"}
    assert not missing, f"public names missing from __all__: {sorted(missing)}"


def test_every_error_derives_from_tercet_error() -> None:
    for name in dir(tercet.errors):
        obj = getattr(tercet.errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == "tercet.errors"
        ):
            assert issubclass(obj, tercet.TercetError), name


def test_all_lists_names_not_modules() -> None:
    assert [n for n in tercet.__all__ if inspect.ismodule(getattr(tercet, n))] == []
    # The rooms stay importable, and reachable as attributes after `import tercet`.
    for name in ("aliases", "config", "errors", "format", "share", "storage"):
        assert inspect.ismodule(getattr(tercet, name))


def test_the_reference_lists_every_public_name_with_its_signature() -> None:
    script = _api_script()
    text = script.DOC.read_text(encoding="utf-8")
    assert script.current(text) == text, "docs/python-api.md is stale: python scripts/python_api.py"
    assert "`Table.resolve_url(url: str) -> str`" in text
    assert "`MetricSpec(role: str" in text  # exported from the root since the integrations


def test_every_public_name_has_a_docstring() -> None:
    assert _api_script().undocumented() == []


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("tercet.urls", "expand", "tercet.aliases.expand"),
        ("tercet.urls", "relative_to", "tercet.storage.paths.relative_to"),
        ("tercet.sources", "from_csv", "tercet.Table.from_csv"),
        ("tercet.runs.data", "TableDataset", "tercet.torch.TableDataset"),
    ],
)
def test_old_module_paths_still_work_and_say_where_things_moved(
    old: str, name: str, new: str
) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        value = getattr(module, name)
    assert callable(value)
    assert not hasattr(module, "no_such_name")


def test_the_old_aliases_registry_path_behaves_as_before() -> None:
    with pytest.warns(DeprecationWarning):
        registry = tercet.urls.aliases
    registry.set("OLD_PATH", "/data/old")
    assert tercet.aliases.get("OLD_PATH") == "/data/old"
    with pytest.warns(DeprecationWarning):
        assert tercet.urls.expand("<OLD_PATH>/x") == "/data/old/x"
