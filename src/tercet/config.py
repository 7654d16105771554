"""Configuration: one YAML file, overridable per key by ``TERCET_*`` environment variables.

The file lives in the platform config dir (``tercet config show`` prints where); ``TERCET_CONFIG``
points elsewhere. Every effective value remembers where it came from, so ``tercet config show`` can
say why a value is what it is.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from tercet import yamlsafe
from tercet.errors import ConfigError
from tercet.localfile import replace_local_file

__all__ = [
    "ENV_PREFIX",
    "Config",
    "DashboardConfig",
    "ServiceConfig",
    "config_dir",
    "config_path",
    "current",
    "default_disk_cache_dir",
    "default_root",
    "load",
    "read_file",
    "save_file_values",
]

ENV_PREFIX = "TERCET_"

# key -> (type, default). Nested keys use dots; env var is TERCET_ + key upper-cased, dots -> "_".
_SCALAR_KEYS: dict[str, tuple[type, Any]] = {
    "root": (str, None),
    "service.host": (str, "127.0.0.1"),
    "service.port": (int, 5015),
    "service.token": (str, None),
    "service.tls_cert": (str, None),
    "service.tls_key": (str, None),
    "service.max_request_bytes": (int, 64 * 1024 * 1024),
    "service.max_image_pixels": (int, 40_000_000),
    "service.image_decoders": (int, 2),
    "service.tmp_sweep_age": (int, 24 * 3600),
    "service.density_points": (int, 1_000_000),
    "service.disk_cache_dir": (str, None),
    "service.disk_cache_bytes": (int, 10 * 1024**3),
    "service.cache_bytes": (int, 2 * 1024**3),
    "dashboard.host": (str, "127.0.0.1"),
    "dashboard.port": (int, 8000),
}
_LIST_KEYS: dict[str, list[str]] = {
    "service.file_roots": [],
    "service.scan": [],
    "service.cors_origins": [],
}
_MAP_KEYS = {"aliases", "storage_options"}
_SECTIONS = {"service", "dashboard"}


@functools.cache
def _platform_config_file() -> Path:
    # platformdirs costs ~10 µs a call, and storage asks for the config on every operation.
    return Path(platformdirs.user_config_dir("tercet")) / "config.yaml"


def config_path() -> Path:
    """Path of the user config file (``TERCET_CONFIG`` or the platform config dir)."""
    explicit = os.environ.get("TERCET_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return _platform_config_file()


def config_dir() -> Path:
    """Folder holding the config file and the service token."""
    return config_path().parent


def default_disk_cache_dir() -> str:
    """Where the service keeps local copies of remote objects unless ``service.disk_cache_dir``
    says: ``<platform cache dir>/tercet/objects``."""
    return str(Path(platformdirs.user_cache_dir("tercet")) / "objects")


def default_root() -> str:
    """The project root when none is configured: ``<platform data dir>/tercet/projects``."""
    return str(Path(platformdirs.user_data_dir("tercet")) / "projects")


@dataclass
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 5015
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_request_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 40_000_000  # larger images get no thumbnail (413)
    image_decoders: int = 2  # thumbnails decoded at once; each holds up to max_image_pixels
    tmp_sweep_age: int = (
        24 * 3600
    )  # seconds before a writer's leftover temp file is removed; 0: never
    file_roots: list[str] = field(default_factory=list)
    scan: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    density_points: int = 1_000_000  # more rows in a 2D scatter: density cells, not points
    # Local copies of remote Parquet objects, shared by services on this machine (0: none);
    # the folder defaults to <platform cache dir>/tercet/objects (default_disk_cache_dir()).
    disk_cache_dir: str | None = None
    disk_cache_bytes: int = 10 * 1024**3
    # Memory for sources held as Arrow; a bigger table is served from a local copy on disk.
    cache_bytes: int = 2 * 1024**3


@dataclass
class DashboardConfig:
    host: str = "127.0.0.1"
    port: int = 8000


@dataclass
class Config:
    """The effective configuration. ``sources`` maps each key to where its value came from."""

    root: str = field(default_factory=default_root)
    aliases: dict[str, str] = field(default_factory=dict)
    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    path: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """The value of a dotted key (``service.port``)."""
        obj: Any = self
        for part in key.split("."):
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        return obj

    def set(self, key: str, value: Any) -> None:
        """Set the value of a dotted key."""
        parts = key.split(".")
        obj: Any = self
        for part in parts[:-1]:
            obj = getattr(obj, part)
        setattr(obj, parts[-1], value)

    def items(self) -> list[tuple[str, Any, str]]:
        """Every key with its value and source, for ``tercet config show``."""
        out: list[tuple[str, Any, str]] = []
        for key in [*_SCALAR_KEYS, *_LIST_KEYS]:
            out.append((key, self.get(key), self.sources.get(key, "default")))
        for name, value in sorted(self.aliases.items()):
            out.append((f"aliases.{name}", value, self.sources.get(f"aliases.{name}", "?")))
        for proto, opts in sorted(self.storage_options.items()):
            for k, v in sorted(opts.items()):
                secret = any(s in k.lower() for s in ("secret", "token", "password"))
                key = f"storage_options.{proto}.{k}"
                out.append((key, "***" if secret else v, self.sources.get(key, "?")))
        return out


def _node_line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _check_keys(node: yaml.Node, path: Path) -> None:
    """Reject unknown keys with the file and line, before any value is used."""
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:{_node_line(node)}: the config file must be a mapping of keys.")
    known_top = {"root", *_SECTIONS, *_MAP_KEYS}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in known_top:
            raise ConfigError(
                f"{path}:{_node_line(key_node)}: unknown key {key!r}. "
                f"Known keys: {', '.join(sorted(known_top))}."
            )
        if key in _SECTIONS:
            if not isinstance(value_node, yaml.MappingNode):
                raise ConfigError(f"{path}:{_node_line(value_node)}: {key!r} must be a mapping.")
            known = sorted(
                k.split(".", 1)[1] for k in [*_SCALAR_KEYS, *_LIST_KEYS] if k.startswith(key + ".")
            )
            for sub_key, _ in value_node.value:
                if sub_key.value not in known:
                    raise ConfigError(
                        f"{path}:{_node_line(sub_key)}: unknown key {key}.{sub_key.value!r}. "
                        f"Known keys under {key!r}: {', '.join(known)}."
                    )
        if key in _MAP_KEYS and not isinstance(value_node, yaml.MappingNode | yaml.ScalarNode):
            raise ConfigError(f"{path}:{_node_line(value_node)}: {key!r} must be a mapping.")


def read_file(path: Path) -> dict[str, Any]:
    """Parse the config file, raising :class:`ConfigError` with file and line on any problem
    (read through :mod:`tercet.yamlsafe`: no anchors, aliases or tags; size and depth capped)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(yamlsafe.MAX_BYTES + 1)  # never more than the cap into memory
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}") from exc
    try:
        node = yamlsafe.compose(raw, str(path), ConfigError)
    except ConfigError as exc:
        raise ConfigError(f"{exc} Fix or delete the file.") from None
    if node is None:
        return {}
    _check_keys(node, path)
    data = yamlsafe.construct(node, str(path), ConfigError)
    return data if isinstance(data, dict) else {}


def _coerce(key: str, value: Any, typ: type, where: str) -> Any:
    if value is None:
        return None
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {key} has value {value!r}. Not a valid integer.")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {key} has value {value!r}. Not a valid integer.") from None
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: {key} has value {value!r}. Expected a string.")
    return str(value)


def _coerce_list(key: str, value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.split(",")) if v]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: {key} has value {value!r}. Expected a list of strings.")


def load(path: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read the config file and the environment into an effective :class:`Config`."""
    env = os.environ if environ is None else environ
    path = path or config_path()
    data = read_file(path)
    cfg = Config(path=path)
    cfg.sources["root"] = "default"

    def lookup(key: str) -> tuple[bool, Any]:
        obj: Any = data
        for part in key.split("."):
            if not isinstance(obj, dict) or part not in obj:
                return False, None
            obj = obj[part]
        return True, obj

    for key, (typ, default) in _SCALAR_KEYS.items():
        found, value = lookup(key)
        env_name = ENV_PREFIX + key.upper().replace(".", "_")
        if env_name in env:
            cfg.set(key, _coerce(key, env[env_name], typ, f"environment {env_name}"))
            cfg.sources[key] = f"env {env_name}"
        elif found:
            cfg.set(key, _coerce(key, value, typ, str(path)))
            cfg.sources[key] = f"file {path}"
        elif default is not None:
            cfg.set(key, default)
    if cfg.root is None:
        cfg.root = default_root()
    for key in _LIST_KEYS:
        found, value = lookup(key)
        env_name = ENV_PREFIX + key.upper().replace(".", "_")
        if env_name in env:
            cfg.set(key, _coerce_list(key, env[env_name], f"environment {env_name}"))
            cfg.sources[key] = f"env {env_name}"
        elif found and value is not None:
            cfg.set(key, _coerce_list(key, value, str(path)))
            cfg.sources[key] = f"file {path}"

    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise ConfigError(f"{path}: 'aliases' must be a mapping of NAME: value.")
    for name, value in aliases.items():
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{path}: alias {name!r} must be a URL string, not {value!r}.")
        cfg.aliases[str(name)] = str(value)
        cfg.sources[f"aliases.{name}"] = f"file {path}"
    for env_name, value in env.items():
        if env_name.startswith(ENV_PREFIX + "ALIAS_"):
            name = env_name[len(ENV_PREFIX + "ALIAS_") :]
            cfg.aliases[name] = value
            cfg.sources[f"aliases.{name}"] = f"env {env_name}"

    storage_options = data.get("storage_options") or {}
    if not isinstance(storage_options, dict) or not all(
        isinstance(v, dict) for v in storage_options.values()
    ):
        raise ConfigError(
            f"{path}: 'storage_options' must map a protocol to options, "
            "e.g. storage_options: {s3: {endpoint_url: 'http://127.0.0.1:9000'}}."
        )
    for proto, opts in storage_options.items():
        cfg.storage_options[str(proto)] = dict(opts)
        for k in opts:
            cfg.sources[f"storage_options.{proto}.{k}"] = f"file {path}"
    return cfg


def save_file_values(updates: dict[str, Any], remove: list[str] | None = None) -> Path:
    """Change keys in the user config file (dotted keys; ``None`` values are removed)."""
    path = config_path()
    data = read_file(path)
    for key, value in updates.items():
        parts = key.split(".")
        obj = data
        for part in parts[:-1]:
            obj = obj.setdefault(part, {})
        obj[parts[-1]] = value
    for key in remove or []:
        parts = key.split(".")
        obj = data
        for part in parts[:-1]:
            obj = obj.get(part, {})
        obj.pop(parts[-1], None)
    if data.get("aliases") == {}:
        data.pop("aliases")
    text = yaml.safe_dump(data, sort_keys=True)
    replace_local_file(path, text.encode("utf-8"), mode=0o600)
    return path


_cached: Config | None = None
_cached_key: tuple[Any, ...] | None = None


def current() -> Config:
    """The effective config, re-read when the file or ``TERCET_*`` variables change."""
    global _cached, _cached_key
    path = config_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = None
    env_key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    key = (str(path), mtime, env_key)
    if _cached is None or key != _cached_key:
        _cached = load(path)
        _cached_key = key
    return _cached
