"""Which of a run's event files a reader must fetch, told from their names.

An object store bills each GET, and a run writes many small events (a heartbeat every two
minutes, its status, parameters, inputs). So an event's name says what it is
(``<time>-<uid>.<kind>.json``), and the final status event of the process that created the run
carries a copy of ``object.json`` and of every other event that process wrote (``summary``).
A reader then fetches:

- nothing for a heartbeat (its kind and time are its name);
- for a finished run, the newest final status event (``completed`` or ``failed``), whose summary
  stands in for ``object.json`` and the events it copies: **one GET per finished run**;
- every other event, and ``object.json`` when no summary copies it (a run still running; events
  other processes wrote, such as a rank's; files named before kinds were, ``<time>-<uid>.json``).

The copies are exact (events are immutable), so the fold is the same as reading every file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tercet import format, storage
from tercet.errors import TercetError

KINDS = ("running", "completed", "failed", "status", "parameters", "input", "heartbeat", "rank")
FINAL = ("completed", "failed")
SUMMARY = "summary"  # {"object": <object.json>, "events": {file name: event}} in a final event


def file_name(kind: str, when: datetime) -> str:
    """The name of an event of ``kind`` written at ``when`` (events fold in name order)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(KINDS)}")
    return f"{format.unique_suffix(when)}.{kind}.json"


def kind_of(name: str) -> str | None:
    """The kind an event's file name declares; None for names without one (older runs)."""
    parts = name.rsplit(".", 2)
    if len(parts) == 3 and parts[2] == "json" and parts[1] in KINDS:
        return parts[1]
    return None


def kind_of_event(event: Mapping[str, Any]) -> str:
    """The kind to name ``event`` by: a status by its value, when the name can tell it all."""
    kind = str(event.get("type"))
    if kind == "status":
        status = event.get("status")
        return status if status in ("running", "completed", "failed") else "status"
    return kind if kind in KINDS else "status"


def heartbeat_of(name: str) -> dict[str, Any]:
    """The heartbeat a file name stands for (its time comes from the name when folded)."""
    return {"type": "heartbeat"}


def summary_of(event: Any) -> tuple[Any, dict[str, Any]]:
    """``(object.json copy or None, {event name: event})`` carried by a final event."""
    if not isinstance(event, dict) or not isinstance(event.get(SUMMARY), dict):
        return None, {}
    summary = event[SUMMARY]
    events = summary.get("events")
    return summary.get("object"), dict(events) if isinstance(events, dict) else {}


def final_event(event_urls: Sequence[str]) -> str | None:
    """The newest event named as a final status (the one that may carry a summary)."""
    for url in reversed(event_urls):
        if kind_of(storage.basename(url)) in FINAL:
            return url
    return None


def known_from(object_url: str | None, event_urls: Sequence[str], final: Any) -> dict[str, Any]:
    """What a run's listing plus its fetched final event (``final``) tell without more GETs:
    heartbeats by name, and every listed object the summary copies, by URL."""
    out: dict[str, Any] = {}
    descriptor, copies = summary_of(final)
    if object_url is not None and isinstance(descriptor, dict):
        out[object_url] = descriptor
    for url in event_urls:
        name = storage.basename(url)
        if kind_of(name) == "heartbeat":
            out[url] = heartbeat_of(name)
        elif name in copies:
            out[url] = copies[name]
    return out


Fetch = Callable[[list[str]], Mapping[str, Any]]


def read_runs(
    runs: Iterable[tuple[str | None, Sequence[str]]], fetch: Fetch, known: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON of every ``object.json`` and event of ``runs`` (``(object URL, event URLs in
    name order)`` each) not in ``known``, fetched in at most two batches by ``fetch`` (URL list
    to ``{url: value or TercetError}``): the final events first, then whatever their summaries
    and names leave unknown. Errors are returned as values, never raised."""
    runs = list(runs)
    out: dict[str, Any] = {}

    def have(url: str) -> bool:
        return url in known or url in out

    finals = [f for _, events in runs if (f := final_event(events)) and not have(f)]
    out.update(fetch(finals))
    todo: list[str] = []
    for object_url, events in runs:
        final = final_event(events)
        value = known.get(final, out.get(final)) if final else None
        if isinstance(value, TercetError):
            value = None
        for url, copy in known_from(object_url, events, value).items():
            if not have(url):
                out[url] = copy
        todo += [u for u in ([object_url] if object_url else []) + list(events) if not have(u)]
    out.update(fetch(todo))
    return out
