"""The URL grammar: what a URL names, how URLs are joined, resolved and compared. No I/O.

A URL is an absolute local path (``/data/x``, ``~/x``, ``file:///data/x``), a remote URL with a
scheme (``s3://bucket/key``, ``memory://x`` …), or a path relative to a folder. Canonical form
(:func:`normalize`): local paths absolute and without ``file://``; remote URLs with a lower-case
scheme, ``.``/``..`` folded and no trailing slash.
"""

from __future__ import annotations

import os
import posixpath
import re

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def protocol(url: str) -> str:
    """``"file"`` for local paths, else the scheme (``s3``, ``memory``, …)."""
    if "://" not in url:
        return "file"
    return url.partition("://")[0].lower()


def is_local(url: str) -> bool:
    """True for local paths (and ``file://`` URLs)."""
    return protocol(url) == "file"


def is_absolute(url: str) -> bool:
    """True for URLs with a scheme and absolute (or ``~``) local paths."""
    return bool(_SCHEME.match(url)) or url.startswith("/") or url.startswith("~")


def normalize(url: str) -> str:
    """Canonical form: absolute local paths without ``file://``; remote URLs without trailing /."""
    if url.startswith("file://"):
        url = url[len("file://") :]
    if is_local(url):
        return os.path.abspath(os.path.expanduser(url))
    scheme, rest = url.split("://", 1)
    rest = posixpath.normpath(rest) if rest else rest
    return f"{scheme.lower()}://{rest.rstrip('/')}"


def join(url: str, *parts: str) -> str:
    """``url`` with path segments appended (``/``-separated on every store but local disk)."""
    if is_local(url):
        return os.path.join(url, *parts)
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def parent(url: str) -> str:
    """The folder holding ``url``."""
    if is_local(url):
        return os.path.dirname(url.rstrip("/")) or "/"
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"


def basename(url: str) -> str:
    """The last segment of ``url``."""
    return posixpath.basename(url.rstrip("/"))


def resolve(url: str, base: str | None = None) -> str:
    """Canonical absolute URL of ``url``: as it is when absolute, else relative to the folder
    ``base`` (the current directory when ``base`` is None)."""
    if is_absolute(url):
        return normalize(url)
    if base is None:
        return normalize(os.path.abspath(url))
    base = normalize(base)
    if is_local(base):
        return os.path.normpath(os.path.join(base, url))
    scheme, rest = base.split("://", 1)
    return f"{scheme}://{posixpath.normpath(posixpath.join(rest, url))}"


def relative_to(url: str, base: str) -> str:
    """``url`` relative to the folder ``base`` when both live in one filesystem, else ``url``."""
    url_n, base_n = normalize(url), normalize(base)
    if protocol(url_n) != protocol(base_n):
        return url
    if is_local(url_n):
        return os.path.relpath(url_n, base_n)
    u_rest, b_rest = url_n.partition("://")[2], base_n.partition("://")[2]
    if u_rest.partition("/")[0] != b_rest.partition("/")[0]:
        return url  # another bucket
    return posixpath.relpath(u_rest, b_rest)


def is_under(url: str, root: str) -> bool:
    """True when the canonical ``url`` is the canonical ``root`` or inside it (on a path-segment
    boundary: ``/data/ab`` is not under ``/data/a``)."""
    return url == root or url.startswith(root.rstrip("/") + "/")
