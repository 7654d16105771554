"""URLs stored inside objects, and the aliases that keep them independent of where data lives.

A stored URL is one of: ``<ALIAS>/rest``, a path relative to the object holding it, or an absolute
URL (local path, ``file://``, ``s3://``, ``gs://``, ``http(s)://`` …). :func:`contract` turns an
absolute URL into its aliased form before it is stored; :func:`expand` turns a stored URL back
into an absolute one on read.
"""

from __future__ import annotations

import os
import posixpath
import re
import threading

import yaml

from tercet import config, storage
from tercet.errors import AliasError, AliasNotSetError

ALIAS_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
ALIAS_URL = re.compile(r"^<([^<>/]*)>(?:/(.*))?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_alias_url(url: str) -> bool:
    return bool(ALIAS_URL.match(url))


def is_absolute(url: str) -> bool:
    return bool(_SCHEME.match(url)) or url.startswith("/") or url.startswith("~")


def check_alias_name(name: str) -> str:
    if not ALIAS_NAME.match(name):
        raise AliasError(
            f"{name!r} is not a valid alias name: use capitals, digits and underscores, starting "
            "with a capital (for example PROJECT_DATA)."
        )
    return name


class Aliases:
    """Registered aliases from every source, by precedence: Python API, environment
    (``TERCET_ALIAS_<NAME>``), the user config file, the project's own ``aliases.yaml``."""

    def __init__(self) -> None:
        self._runtime: dict[str, str] = {}
        self._project_cache: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def set(self, name: str, value: str) -> None:
        """Set an alias for this Python process (highest precedence)."""
        check_alias_name(name)
        self._runtime[name] = _clean_value(value)

    def unset(self, name: str) -> None:
        self._runtime.pop(name, None)

    def clear(self) -> None:
        """Forget aliases set from Python and cached project aliases."""
        self._runtime.clear()
        self._project_cache.clear()

    def project_aliases(self, project_url: str | None) -> dict[str, str]:
        if not project_url:
            return {}
        with self._lock:
            if project_url in self._project_cache:
                return self._project_cache[project_url]
        found: dict[str, str] = {}
        url = storage.join(project_url, "aliases.yaml")
        try:
            raw = storage.read_bytes(url)
        except FileNotFoundError:
            raw = None
        if raw is not None:
            try:
                data = yaml.safe_load(raw) or {}
            except yaml.YAMLError as exc:
                raise AliasError(f"{url}: invalid YAML ({exc}).") from exc
            if not isinstance(data, dict):
                raise AliasError(f"{url}: expected a mapping NAME: value.")
            found = {str(k): str(v) for k, v in data.items()}
        with self._lock:
            self._project_cache[project_url] = found
        return found

    def list(self, project_url: str | None = None) -> dict[str, tuple[str, str]]:
        """Every alias as ``name -> (value, source)``."""
        out: dict[str, tuple[str, str]] = {}
        for name, value in self.project_aliases(project_url).items():
            out[name] = (_clean_value(value), f"project {project_url}/aliases.yaml")
        cfg = config.current()
        for name, value in cfg.aliases.items():
            out[name] = (_clean_value(value), cfg.sources.get(f"aliases.{name}", "config"))
        for name, value in self._runtime.items():
            out[name] = (value, "python tercet.aliases.set()")
        return out

    def values(self, project_url: str | None = None) -> dict[str, str]:
        return {name: value for name, (value, _) in self.list(project_url).items()}

    def get(self, name: str, project_url: str | None = None, url: str | None = None) -> str:
        value = self.values(project_url).get(name)
        if value is None:
            raise AliasNotSetError(name, url)
        return value


def _clean_value(value: str) -> str:
    value = str(value).strip()
    if not value:
        raise AliasError("An alias value cannot be empty.")
    if is_alias_url(value):
        raise AliasError(f"An alias value cannot itself be an alias ({value!r}).")
    return storage.normalize(value)


aliases = Aliases()


def expand(url: str, base: str | None = None, project_url: str | None = None) -> str:
    """Absolute URL for a stored ``url``: aliases expanded, relative paths resolved against ``base``
    (the folder of the object that holds the URL)."""
    match = ALIAS_URL.match(url)
    if match:
        name, rest = match.group(1), match.group(2) or ""
        check_alias_name(name)
        value = aliases.get(name, project_url=project_url, url=url)
        return storage.join(value, rest) if rest else value
    if is_absolute(url):
        return storage.normalize(url)
    if base is None:
        return storage.normalize(os.path.abspath(url))
    base = storage.normalize(base)
    if storage.is_local(base):
        return os.path.normpath(os.path.join(base, url))
    scheme, rest = base.split("://", 1)
    return f"{scheme}://{posixpath.normpath(posixpath.join(rest, url))}"


def _under(url: str, prefix: str) -> bool:
    return url == prefix or url.startswith(prefix.rstrip("/") + "/")


def contract(url: str, project_url: str | None = None) -> str:
    """Replace the longest alias value that prefixes ``url`` on a path-segment boundary."""
    if is_alias_url(url) or not is_absolute(url):
        return url
    absolute = storage.normalize(url)
    best: tuple[int, str] | None = None
    for name, value in aliases.values(project_url).items():
        if _under(absolute, value) and (best is None or len(value) > best[0]):
            best = (len(value), name)
    if best is None:
        return absolute
    rest = absolute[best[0] :].lstrip("/")
    return f"<{best[1]}>/{rest}" if rest else f"<{best[1]}>"


def relative_to(url: str, base: str) -> str:
    """``url`` relative to the folder ``base`` when both live in one filesystem, else ``url``."""
    url_n, base_n = storage.normalize(url), storage.normalize(base)
    if storage.protocol(url_n) != storage.protocol(base_n):
        return url
    if storage.is_local(url_n):
        return os.path.relpath(url_n, base_n)
    u_rest, b_rest = url_n.split("://", 1)[1], base_n.split("://", 1)[1]
    if u_rest.split("/", 1)[0] != b_rest.split("/", 1)[0]:
        return url  # another bucket
    return posixpath.relpath(u_rest, b_rest)
