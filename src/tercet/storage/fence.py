"""The fence: while one is active, storage touches only URLs under its roots.

The Object Service activates its fence for every request and in every background scan, so a URL
stored inside an object (a revision's ``rows`` or ``parent``, a metrics file's input ``table``, a
symlink in a run folder) can reach no more than a URL in a request can. Every primitive of
:mod:`tercet.storage` asks :func:`guard` before any I/O; a reader added later inherits the check
by reading through storage. Without an active fence (training scripts, the CLI) nothing changes.

URLs are compared in canonical form (:func:`canonical`): normalised (``..`` folded, ``file://``
dropped, ``s3a`` read as ``s3``), and for local paths the real path, so neither ``..`` nor a
symlink leads out. A URL is inside a root on a path-segment boundary only: ``s3://b/projects-x``
is not under ``s3://b/projects``.

A fence has two sets of roots: *objects* (project roots: descriptors, rows, deltas, metrics,
projections, listings, and every write) and *files* (data files such as images, which may also
come from alias targets and ``service.file_roots``). Reads are checked against the objects
unless the caller reads data files inside :func:`data_files`.

The fence lives in a :class:`contextvars.ContextVar`: asyncio tasks and ``anyio.to_thread``
inherit it, plain threads do not. Run work on other threads through :class:`FencedExecutor` or
:func:`carry`, which take the caller's fence along.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

from tercet.errors import OutsideRootsError
from tercet.storage.paths import is_local, is_under, normalize, protocol

Scope = Literal["objects", "files"]
P = ParamSpec("P")
T = TypeVar("T")

_SCHEME_ALIASES = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az"}


def canonical(url: str) -> str:
    """The form in which the fence compares URLs: :func:`~tercet.storage.normalize`, local paths
    with symlinks and ``..`` resolved (``realpath``), scheme aliases folded (``s3a`` → ``s3``)."""
    url = normalize(url)
    if is_local(url):
        return os.path.realpath(url)
    scheme, rest = url.split("://", 1)
    return f"{_SCHEME_ALIASES.get(scheme, scheme)}://{rest}"


class Fence:
    """Roots that storage may touch: ``objects`` for objects and writes, and ``files`` (a list,
    or a callable asked at each check, e.g. for aliases set at run time) that data files may
    also come from.

    Parameters
    ----------
    objects
        Project roots: every object read, listing and write must lie under one.
    files
        Extra roots for data files read inside :func:`data_files` (the objects' roots count too).
    """

    def __init__(
        self,
        objects: Sequence[str],
        files: Sequence[str] | Callable[[], Iterable[str]] = (),
    ) -> None:
        self.objects = [normalize(r) for r in objects]
        self._files = files
        self._canonical: dict[str, str] = {}  # root -> canonical form

    def _root(self, root: str) -> str:
        # A root's real path is resolved once (each resolution stats every folder above it);
        # the URLs checked against it are resolved every time.
        known = self._canonical.get(root)
        if known is None:
            known = self._canonical[root] = canonical(root)
        return known

    def roots(self, scope: Scope = "objects") -> list[str]:
        """The canonical roots of ``scope`` (local roots as real paths)."""
        roots = list(self.objects)
        if scope == "files":
            extra = self._files() if callable(self._files) else self._files
            roots.extend(normalize(r) for r in extra)
        return [self._root(r) for r in roots]

    def _holds(self, url: str, resolved: str, scope: Scope) -> bool:
        # http(s) is never storage the fence opens, whatever the roots say.
        return protocol(url) not in ("http", "https") and any(
            is_under(resolved, root) for root in self.roots(scope)
        )

    def allows(self, url: str, scope: Scope = "objects") -> bool:
        """True when ``url`` lies under a root of ``scope`` after resolution."""
        return self._holds(url, canonical(url), scope)

    def check(self, url: str, scope: Scope = "objects", action: str = "read") -> str:
        """``url`` in canonical form when it lies under a root of ``scope``, else
        :class:`~tercet.errors.OutsideRootsError` naming it."""
        if not isinstance(url, str) or not url or "\x00" in url:
            raise OutsideRootsError(f"Refused to {action} {url!r}: not a URL.")
        resolved = canonical(url)
        if self._holds(url, resolved, scope):
            return resolved
        what = "project roots" if scope == "objects" else "folders this service may read"
        shown = url if resolved == url else f"{url} (resolved: {resolved})"
        raise OutsideRootsError(
            f"Refused to {action} {shown}: it lies outside the {what}. A reference stored in an "
            "object cannot lead out of the roots the service serves."
        )


_active: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("tercet_fence", default=None)
_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar(
    "tercet_fence_scope", default="objects"
)


def active() -> Fence | None:
    """The fence active in this context, if any."""
    return _active.get()


@contextmanager
def fenced(fence: Fence | None) -> Iterator[Fence | None]:
    """Activate ``fence`` for the block (and for tasks and :func:`carry`-ed work started in it);
    ``None`` leaves the current one in place."""
    if fence is None:
        yield _active.get()
        return
    token = _active.set(fence)
    scope = _scope.set("objects")
    try:
        yield fence
    finally:
        _scope.reset(scope)
        _active.reset(token)


@contextmanager
def data_files() -> Iterator[None]:
    """Reads in the block are of data files (images …): checked against the fence's file
    roots, which also hold alias targets and ``service.file_roots``."""
    token = _scope.set("files")
    try:
        yield
    finally:
        _scope.reset(token)


WRITES = ("write", "remove")
"""Actions checked against the objects' roots even inside :func:`data_files`."""


def guard(url: str, action: str = "read") -> None:
    """Raise :class:`~tercet.errors.OutsideRootsError` when a fence is active and ``url`` lies
    outside it (``action`` names what was refused: read, list, stat, write, remove)."""
    fence = _active.get()
    if fence is not None:
        fence.check(url, "objects" if action in WRITES else _scope.get(), action)


def guard_all(urls: Iterable[str], action: str = "read") -> None:
    """:func:`guard` for each URL (before work on them is handed to other threads)."""
    if _active.get() is not None:
        for url in urls:
            guard(url, action)


def carry(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` bound to a copy of the caller's context (its fence): for threads."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return context.copy().run(fn, *args, **kwargs)

    return run


class FencedExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context, so the fence active
    where work is submitted is active where it runs."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)
