"""Credentials taken out of text the service writes: access-log lines and error messages.

A query parameter is a credential when its name, percent-decoded (repeatedly) and lower-cased,
contains one of :data:`CREDENTIAL_WORDS` — ``token``, ``ToKeN``, ``tok%65n``, ``access_token``,
``X-Api-Key``, ``sig``, ``password``… The service authenticates only by header or ``grant``, but
a client may still put its token in a URL, and a URL may carry a store's credentials; neither
belongs in a log. User-info in URLs (``https://user:secret@host``) is hidden too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

CREDENTIAL_WORDS = (
    "token", "sig", "key", "pass", "pwd", "secret", "grant", "auth", "credential", "session",
    "cookie", "bearer", "jwt", "otp",
)  # fmt: skip
REDACTED = "***"

# A parameter: after ?, & or ; (also percent-encoded, as in a URL inside a query value).
_PARAM = re.compile(
    r"(?P<sep>[?&;]|%3[fF]|%26|%3[bB])(?P<name>[^=&;#\s\"'<>]{1,200}?)(?P<eq>=|%3[dD])"
    r"(?P<value>(?:(?!%26|%3[bBfF])[^&;#\s\"'<>])*)"
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@\"'<>]+@")


def _decoded(name: str) -> str:
    for _ in range(4):  # a name encoded twice or more still counts
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_credential_name(name: str) -> bool:
    """Whether a query parameter named ``name`` (as sent, maybe percent-encoded) is a secret."""
    plain = _decoded(name)
    return any(word in plain for word in CREDENTIAL_WORDS)


def redact(text: str) -> str:
    """``text`` with every credential parameter's value and URL user-info replaced by ``***``."""

    def param(m: re.Match[str]) -> str:
        if not is_credential_name(m["name"]):
            return m[0]
        return f"{m['sep']}{m['name']}{m['eq']}{REDACTED}"

    return _USERINFO.sub(rf"\g<scheme>{REDACTED}@", _PARAM.sub(param, text))


class RedactFilter(logging.Filter):
    """Redacts the arguments and message of log records (uvicorn's access log passes the path,
    query string included, as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
