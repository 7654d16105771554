"""The one YAML reader: every YAML file Tercet reads (the config file, a project's
``aliases.yaml``) is parsed here, with limits that make a hostile file cheap to refuse.

A project's ``aliases.yaml`` may come from someone else's bundle, and the service reads it on
every scan, so the reader must not let a few hundred bytes grow into gigabytes ("billion
laughs": nested anchors and aliases). What is refused, with the file, line and reason:

- anchors (``&a``) and aliases (``*a``): a Tercet file never needs them, and they are what
  makes a small file expand;
- merge keys (``<<:``), which only make sense with aliases;
- explicit tags (``!!python/…``, ``!custom``, even ``!!str``): plain values only;
- more than :data:`MAX_BYTES` bytes, nesting deeper than :data:`MAX_DEPTH`, or more than
  :data:`MAX_NODES` values.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent

from tercet.errors import ConfigError, TercetError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "compose", "construct", "load"]

MAX_BYTES = 256 * 1024
"""Largest YAML file read (a config or aliases file is a few hundred bytes)."""
MAX_DEPTH = 16
"""Deepest nesting of mappings and lists."""
MAX_NODES = 20_000
"""Most values (scalars, mappings, lists) in one file."""

_MERGE = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else None


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses anchors, aliases, tags and merge keys, and counts."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = _line(event)
        if isinstance(event, AliasEvent):
            raise _Refused(f"alias *{event.anchor} (anchors and aliases are not allowed)", line)
        if isinstance(event, ScalarEvent | SequenceStartEvent | MappingStartEvent):
            if event.anchor is not None:
                what = f"anchor &{event.anchor}"
                raise _Refused(f"{what} (anchors and aliases are not allowed)", line)
            if event.tag not in (None, "!"):
                raise _Refused(f"tag {event.tag} (tags are not allowed)", line)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} values", line)
        nested = isinstance(event, SequenceStartEvent | MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line)
        try:
            return Composer.compose_node(self, parent, index)
        finally:
            if nested:
                self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = Composer.compose_mapping_node(self, anchor)
        for key, _ in node.value:
            if key.tag == _MERGE:
                raise _Refused("merge key << (not allowed)", key.start_mark.line + 1)
        return node


def _text(data: str | bytes, where: str, error: type[TercetError]) -> str:
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > MAX_BYTES:
        raise error(
            f"{where}: refused: {size} bytes, more than the {MAX_BYTES} a YAML file may hold."
        )
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise error(f"{where}: refused: {reason}.") from None


def compose(
    data: str | bytes, where: str, error: type[TercetError] = ConfigError
) -> yaml.Node | None:
    """The node tree of one YAML document (None when empty); ``error`` naming ``where``, the line
    and the reason when it is not plain YAML within the limits."""
    loader = _Loader(_text(data, where, error))
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    except _Refused as exc:
        line = f":{exc.line}" if exc.line is not None else ""
        raise error(f"{where}{line}: refused: {exc.reason}.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{where}{line}: invalid YAML: {exc.problem}.") from None
    except yaml.YAMLError as exc:
        raise error(f"{where}: invalid YAML: {exc}.") from None
    except RecursionError:
        raise error(f"{where}: refused: nested too deeply.") from None
    finally:
        loader.dispose()


def construct(node: yaml.Node | None, where: str, error: type[TercetError] = ConfigError) -> Any:
    """The Python value of a node tree :func:`compose` returned."""
    if node is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{where}{line}: invalid YAML: {exc.problem}.") from None
    finally:
        loader.dispose()


def load(data: str | bytes, where: str, error: type[TercetError] = ConfigError) -> Any:
    """The value of one YAML document read from ``where``, or ``error`` saying why it is refused."""
    return construct(compose(data, where, error), where, error)
