"""Short-lived grants for the one route a browser calls without headers: ``GET /api/file``.

``<img src>`` cannot send ``Authorization``, and the master token must never sit in a URL (URLs
end up in access logs, proxies and history). The dashboard therefore asks, with its token, for a
grant (``POST /api/file/grant``) and puts that in image URLs as ``?grant=``. A grant

- opens ``GET``/``HEAD`` of ``/api/file`` and nothing else (the path is signed into it);
- expires after :data:`GRANT_SECONDS` (rounded up to the minute, so the dashboard's image URLs
  stay the same, and cached, for a while);
- is an HMAC under a key derived from the token: it survives a restart and dies with the token,
  and the service keeps no list of grants.

A leaked grant reads data files for a few minutes; it cannot list, query or edit anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable

GRANT_PARAM = "grant"
GRANT_SECONDS = 600
GRANTED_PATHS = frozenset({"/api/file"})
GRANTED_METHODS = frozenset({"GET", "HEAD"})
_VERSION = "g1"


class Grants:
    """Issues and checks grants under a key derived from the service token."""

    def __init__(
        self, token: str, ttl: int = GRANT_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(token.encode("utf-8"), b"tercet file grants v1", "sha256").digest()
        self.ttl = ttl
        self._clock = clock

    def _sign(self, path: str, expires: int) -> str:
        message = f"{_VERSION}\0{path}\0{expires}".encode()
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def issue(self, path: str = "/api/file") -> tuple[str, int]:
        """A grant for ``path`` and when it expires (Unix seconds)."""
        if path not in GRANTED_PATHS:
            raise ValueError(f"No grants for {path}.")
        expires = int(math.ceil((self._clock() + self.ttl) / 60) * 60)
        return f"{_VERSION}.{expires}.{self._sign(path, expires)}", expires

    def refusal(self, grant: str, path: str) -> str | None:
        """Why ``grant`` does not open ``path`` now, or ``None`` when it does."""
        version, _, rest = grant.partition(".")
        expires_text, _, signature = rest.partition(".")
        if version != _VERSION or not expires_text.isdigit() or len(expires_text) > 12:
            return "Invalid grant: it was not issued by this service."
        expires = int(expires_text)
        expected = self._sign(path, expires)
        if path not in GRANTED_PATHS or not hmac.compare_digest(
            expected.encode("ascii"), signature.encode("ascii", "replace")
        ):
            return "Invalid grant: it was not issued by this service for this route."
        if expires <= self._clock():
            return "Expired grant: ask for a new one (POST /api/file/grant with the token)."
        if expires > self._clock() + self.ttl + 60:
            return "Invalid grant: it was not issued by this service."
        return None
