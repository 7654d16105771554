"""Aliases: the names that keep stored URLs independent of where data lives.

A stored URL is ``<ALIAS>/rest``, a path relative to the object holding it, or an absolute URL.
:func:`contract` turns an absolute URL into its aliased form before it is stored; :func:`expand`
turns a stored URL back into an absolute one on read. The path grammar itself (relative and
absolute URLs) is :mod:`tercet.storage.paths`.

This module is the registry of the process's aliases (``tercet.aliases.set(...)``). They come
from four places, by precedence: Python (:func:`set`), the environment (``TERCET_ALIAS_<NAME>``),
the user config file, and the project's own ``aliases.yaml`` (:func:`set_project_alias`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

import yaml

from tercet import config, storage, yamlsafe
from tercet.errors import AliasError, AliasNotSetError
from tercet.format import PROJECT_ALIASES
from tercet.storage import files as storage_files
from tercet.storage import is_absolute, is_under, join, normalize, resolve

__all__ = [
    "ALIAS_NAME",
    "ALIAS_URL",
    "check_alias_name",
    "clean_value",
    "clear",
    "contract",
    "expand",
    "get",
    "is_alias_url",
    "list",
    "project_aliases",
    "set",
    "set_project_alias",
    "unset",
    "unset_project_alias",
    "values",
]

ALIAS_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
ALIAS_URL = re.compile(r"^<([^<>/]*)>(?:/(.*))?$")


def is_alias_url(url: str) -> bool:
    """True for ``<NAME>`` and ``<NAME>/rest``."""
    return bool(ALIAS_URL.match(url))


def check_alias_name(name: str) -> str:
    """``name`` if it can be an alias (capitals, digits, underscores), else :class:`AliasError`."""
    if not ALIAS_NAME.match(name):
        raise AliasError(
            f"{name!r} is not a valid alias name: use capitals, digits and underscores, starting "
            "with a capital (for example PROJECT_DATA)."
        )
    return name


def clean_value(value: str) -> str:
    """An alias value in canonical form; :class:`AliasError` when it cannot be one."""
    value = str(value).strip()
    if not value:
        raise AliasError("An alias value cannot be empty.")
    if is_alias_url(value):
        raise AliasError(f"An alias value cannot itself be an alias ({value!r}).")
    return normalize(value)


_runtime: dict[str, str] = {}
_project_cache: dict[str, dict[str, str]] = {}
_lock = threading.Lock()


def set(name: str, value: str) -> None:
    """Set an alias for this Python process (highest precedence)."""
    check_alias_name(name)
    _runtime[name] = clean_value(value)


def unset(name: str) -> None:
    """Remove an alias set from Python."""
    _runtime.pop(name, None)


def clear() -> None:
    """Forget aliases set from Python and cached project aliases."""
    _runtime.clear()
    with _lock:
        _project_cache.clear()


def project_aliases(project_url: str | None) -> dict[str, str]:
    """The aliases of a project's ``aliases.yaml`` (read once, then kept)."""
    if not project_url:
        return {}
    with _lock:
        if project_url in _project_cache:
            return _project_cache[project_url]
    found: dict[str, str] = {}
    url = join(project_url, PROJECT_ALIASES)
    try:
        # Capped before it is read: the file may come from someone else's bundle.
        with storage_files.open_read(url) as fh:
            raw = fh.read(yamlsafe.MAX_BYTES + 1)
    except FileNotFoundError:
        raw = None
    if raw is not None:
        data = yamlsafe.load(raw, url, AliasError) or {}
        if not isinstance(data, dict):
            raise AliasError(f"{url}: expected a mapping NAME: value.")
        for k, v in data.items():
            if not isinstance(v, str):
                kind = type(v).__name__
                raise AliasError(f"{url}: alias {k!r} must be a URL string, not a {kind}.")
        found = {str(k): v for k, v in data.items()}
    with _lock:
        _project_cache[project_url] = found
    return found


def set_project_alias(project_url: str, name: str, value: str) -> None:
    """Record an alias in the project's ``aliases.yaml``, so it travels with the project (the
    lowest precedence: anyone may override it on their machine). ``tercet alias set --project``
    is the same from a shell."""
    check_alias_name(name)
    _write_project_aliases(project_url, {name: clean_value(value)}, [])


def unset_project_alias(project_url: str, name: str) -> bool:
    """Remove an alias from the project's ``aliases.yaml``; False when it was not there."""
    check_alias_name(name)
    with _lock:
        _project_cache.pop(project_url, None)
    if name not in project_aliases(project_url):
        return False
    _write_project_aliases(project_url, {}, [name])
    return True


def _write_project_aliases(project_url: str, add: dict[str, str], remove: Iterable[str]) -> None:
    with _lock:
        _project_cache.pop(project_url, None)
    current = dict(project_aliases(project_url))
    new = {k: v for k, v in {**current, **add}.items() if k not in frozenset(remove)}
    if new == current:
        return
    url = join(project_url, PROJECT_ALIASES)
    text = yaml.safe_dump(new, sort_keys=True, allow_unicode=True).encode("utf-8")
    yamlsafe.load(text, url, AliasError)  # what is written must read back through the one reader
    # A settings file, replaced whole (temp and rename; one PUT): not an immutable object.
    storage.write_bytes(url, text, overwrite=True)
    with _lock:
        _project_cache[project_url] = new


def values(project_url: str | None = None) -> dict[str, str]:
    """Every alias as ``name -> value``."""
    return {name: value for name, (value, _) in list(project_url).items()}


def get(name: str, project_url: str | None = None, url: str | None = None) -> str:
    """The value of alias ``name``; :class:`AliasNotSetError` (naming ``url``) when unset."""
    value = values(project_url).get(name)
    if value is None:
        raise AliasNotSetError(name, url)
    return value


def expand(url: str, base: str | None = None, project_url: str | None = None) -> str:
    """Absolute URL for a stored ``url``: aliases expanded, relative paths resolved against ``base``
    (the folder of the object that holds the URL)."""
    match = ALIAS_URL.match(url)
    if match:
        name, rest = match.group(1), match.group(2) or ""
        check_alias_name(name)
        value = get(name, project_url=project_url, url=url)
        return join(value, rest) if rest else value
    return resolve(url, base)


def contract(url: str, project_url: str | None = None) -> str:
    """Replace the longest alias value that prefixes ``url`` on a path-segment boundary."""
    if is_alias_url(url) or not is_absolute(url):
        return url
    absolute = normalize(url)
    best: tuple[int, str] | None = None
    for name, value in values(project_url).items():
        if is_under(absolute, value) and (best is None or len(value) > best[0]):
            best = (len(value), name)
    if best is None:
        return absolute
    rest = absolute[best[0] :].lstrip("/")
    return f"<{best[1]}>/{rest}" if rest else f"<{best[1]}>"


# Last, and named like the builtin for tercet.aliases.list(): nothing here calls the builtin.
def list(project_url: str | None = None) -> dict[str, tuple[str, str]]:
    """Every alias as ``name -> (value, where it is set)``."""
    out: dict[str, tuple[str, str]] = {}
    for name, value in project_aliases(project_url).items():
        out[name] = (clean_value(value), f"project {project_url}/{PROJECT_ALIASES}")
    cfg = config.current()
    for name, value in cfg.aliases.items():
        out[name] = (clean_value(value), cfg.sources.get(f"aliases.{name}", "config"))
    for name, value in _runtime.items():
        out[name] = (value, "python tercet.aliases.set()")
    return out
