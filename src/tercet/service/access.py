"""Which URLs a client may reach: objects under the project roots, files under the file roots.

The roots are one :class:`~tercet.storage.Fence` (:attr:`Access.fence`), which the service
activates for every request and every scan: storage itself then refuses any URL outside it,
whether a request named it or an object stored it (a revision's ``rows`` or ``parent``, a metrics
file's input table). Here the URLs a request names are expanded (aliases, relative paths) and
checked against the same fence first, so a client gets a 403 that names its own URL. The check
is made *after* resolution (:func:`tercet.storage.canonical`): for local paths the real path
(symlinks and ``..`` resolved) must lie inside the real path of a root; for other URLs the
normalised URL must start with a root on a path-segment boundary.
"""

from __future__ import annotations

from tercet import format, storage
from tercet.aliases import expand, is_alias_url
from tercet.aliases import values as alias_values
from tercet.errors import TercetError
from tercet.service.errors import ApiError
from tercet.storage import canonical, is_under


class Access:
    """The project roots (objects live there) and the extra roots data files may come from."""

    def __init__(self, project_roots: list[str], file_roots: list[str]) -> None:
        self.project_roots = [storage.normalize(r) for r in project_roots]
        self.extra_file_roots = [storage.normalize(r) for r in file_roots]
        self.fence = storage.Fence(self.project_roots, self._file_roots)

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
        if not self.fence.allows(absolute):
            raise ApiError(403, f"{url} is outside the project roots this service serves.")
        return absolute

    def project_folder(self, url: str) -> str | None:
        """The project folder holding ``url``: the child of the project root it lies under."""
        resolved = canonical(url)
        # The fence keeps each root's canonical form (a realpath costs a stat per folder).
        for root, real in zip(self.project_roots, self.fence.roots(), strict=True):
            if is_under(resolved, real) and resolved != real:
                first = resolved[len(real) :].lstrip("/").split("/", 1)[0]
                return storage.join(root, first)
        return None

    def _file_roots(self) -> list[str]:
        """The fence's roots for data files besides the project roots: the targets of the
        user's aliases (config file, environment, Python; asked at each check, since they can be
        set while the service runs) and ``service.file_roots``.

        Aliases from a project's own ``aliases.yaml`` are data, possibly from someone else's
        bundle, so they open nothing: what they expand to must lie under these roots or the
        project roots, so a crafted ``aliases.yaml`` cannot open ``/``.
        """
        return [*alias_values().values(), *self.extra_file_roots]

    def file_url(self, url: str, base: str | None, project_url: str | None) -> str:
        """Absolute URL of a data file named by a client; 403 unless under a file root."""
        if base is None and not storage.is_absolute(url) and not is_alias_url(url):
            raise ApiError(
                422, f"{url!r} is a relative URL: pass base=<url of the object that holds it>."
            )
        absolute = self._expand(url, base=base, project_url=project_url)
        if storage.protocol(absolute) in ("http", "https"):
            raise ApiError(403, "The service does not fetch http(s) URLs; open them directly.")
        if not self.fence.allows(absolute, "files"):
            raise ApiError(
                403,
                f"{url} is outside the folders this service may read (project roots, alias "
                "targets, service.file_roots). Add its folder to service.file_roots to allow it.",
            )
        return canonical(absolute)
