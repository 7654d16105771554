"""Which URLs a client may reach: objects under the project roots, files under the file roots.

Every URL a request names is expanded (aliases, relative paths) and then checked against the
roots *after* normalisation: for local paths the real path (symlinks and ``..`` resolved) must lie
inside the real path of a root; for other URLs the normalised URL must start with a root on a
path-segment boundary. Anything else is a 403, so the service never becomes a way to read
arbitrary files of the machine it runs on.
"""

from __future__ import annotations

import os

from tercet import format, storage
from tercet.aliases import expand, is_alias_url
from tercet.aliases import values as alias_values
from tercet.errors import TercetError
from tercet.service.errors import ApiError
from tercet.storage import is_under


def _canonical(url: str) -> str:
    url = storage.normalize(url)
    return os.path.realpath(url) if storage.is_local(url) else url


class Access:
    """The project roots (objects live there) and the extra roots data files may come from."""

    def __init__(self, project_roots: list[str], file_roots: list[str]) -> None:
        self.project_roots = [storage.normalize(r) for r in project_roots]
        self.extra_file_roots = [storage.normalize(r) for r in file_roots]

    def _expand(self, url: str, base: str | None = None, project_url: str | None = None) -> str:
        if not isinstance(url, str) or not url.strip() or "\x00" in url:
            raise ApiError(422, "The URL is empty or holds a NUL character.")
        try:
            return expand(url.strip(), base=base, project_url=project_url)
        except TercetError as exc:
            raise ApiError(422, str(exc)) from None

    def object_url(self, url: str) -> str:
        """Absolute URL of an object (table revision, run) named by a client; 403 outside roots."""
        if not storage.is_absolute(url) and not is_alias_url(url):
            raise ApiError(
                422, f"{url!r} is not an absolute URL: use the 'url' field of a listing."
            )
        absolute = format.object_folder(self._expand(url))
        canonical = _canonical(absolute)
        if not any(is_under(canonical, _canonical(r)) for r in self.project_roots):
            raise ApiError(403, f"{url} is outside the project roots this service serves.")
        return absolute

    def project_folder(self, url: str) -> str | None:
        """The project folder holding ``url``: the child of the project root it lies under."""
        canonical = _canonical(url)
        for root in self.project_roots:
            real = _canonical(root)
            if is_under(canonical, real) and canonical != real:
                first = canonical[len(real) :].lstrip("/").split("/", 1)[0]
                return storage.join(root, first)
        return None

    def file_roots(self, project_url: str | None = None) -> list[str]:
        """Project roots, alias targets and ``service.file_roots``.

        Aliases the user set (config file, environment, Python) open their targets. Aliases from
        a project's own ``aliases.yaml`` are data, possibly from someone else's bundle, so they
        count only where they point inside a project root: a crafted ``aliases.yaml`` cannot
        open ``/``.
        """
        user = set(alias_values().values())
        try:
            project = set(alias_values(project_url).values()) - user
        except TercetError:
            project = set()
        roots = [_canonical(r) for r in self.project_roots]
        inside = [t for t in project if any(is_under(_canonical(t), r) for r in roots)]
        return [*self.project_roots, *sorted(user), *sorted(inside), *self.extra_file_roots]

    def file_url(self, url: str, base: str | None, project_url: str | None) -> str:
        """Absolute URL of a data file named by a client; 403 unless under a file root."""
        if base is None and not storage.is_absolute(url) and not is_alias_url(url):
            raise ApiError(
                422, f"{url!r} is a relative URL: pass base=<url of the object that holds it>."
            )
        absolute = self._expand(url, base=base, project_url=project_url)
        if storage.protocol(absolute) in ("http", "https"):
            raise ApiError(403, "The service does not fetch http(s) URLs; open them directly.")
        canonical = _canonical(absolute)
        roots = [_canonical(r) for r in self.file_roots(project_url)]
        if not any(is_under(canonical, r) for r in roots):
            raise ApiError(
                403,
                f"{url} is outside the folders this service may read (project roots, alias "
                "targets, service.file_roots). Add its folder to service.file_roots to allow it.",
            )
        return canonical
