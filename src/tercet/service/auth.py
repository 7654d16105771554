"""The bearer token: where it comes from, what a usable one looks like, and how it is compared.

A token comes from exactly one place, in this order: ``--token-file`` (the CLI), ``--token`` (the
CLI; visible to every user in ``ps``), the ``service.token`` key (``TERCET_SERVICE_TOKEN`` or the
config file), else the token file in the config dir, created on first start. Whatever the source,
a blank, short or non-ASCII token is refused: a blank one used to disable authentication.

The token is checked in an ASGI middleware (:mod:`tercet.service.middleware.token`) rather than
per route, so no route (including the OpenAPI document, and any route added later) can be
forgotten. It only travels in the ``Authorization`` header; ``<img src>``, which cannot set
headers, gets a short-lived grant instead (:mod:`tercet.service.grants`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.security import APIKeyQuery, HTTPBearer

from tercet import config
from tercet.errors import ConfigError
from tercet.localfile import replace_local_file

PUBLIC_PATHS = frozenset({"/api/health"})
TOKEN_FILE = "token"
# 16 characters of the generated alphabet carry 96 bits, out of reach of guessing over HTTP; the
# generated token has 43 (256 bits). Shorter ones are typos or "test", and are refused.
MIN_TOKEN_LENGTH = 16
MAKE_ONE = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"

# Declared on the routes only so the OpenAPI document states how to authenticate; the check
# itself is the token middleware.
bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")
grant_scheme = APIKeyQuery(
    name="grant",
    auto_error=False,
    description="`GET /api/file` only: a short-lived grant from `POST /api/file/grant`.",
)


@dataclass(frozen=True)
class ServiceToken:
    """A checked token and where it came from (for the banner; never the value itself)."""

    value: str = field(repr=False)
    source: str


def check_token(value: str, source: str) -> str:
    """``value`` without surrounding whitespace, or a :class:`ConfigError` naming ``source``."""
    token = value.strip()
    if not token:
        raise ConfigError(f"The service token from {source} is empty; {MAKE_ONE}")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"The service token from {source} has {len(token)} characters; at least "
            f"{MIN_TOKEN_LENGTH} are needed, {MAKE_ONE}"
        )
    if not all("!" <= c <= "~" for c in token):
        raise ConfigError(
            f"The service token from {source} holds spaces or non-ASCII characters, which "
            f"cannot travel in an HTTP header; {MAKE_ONE}"
        )
    return token


def token_path() -> Path:
    """Where the generated token is kept: ``<config dir>/token``."""
    return config.config_dir() / TOKEN_FILE


def read_token_file(path: Path | str) -> ServiceToken:
    """The token in a file given by ``--token-file`` (first line; surrounding space ignored)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--token-file {path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {path}: cannot read it ({exc}).") from None
    lines = text.strip().splitlines() or [""]
    return ServiceToken(check_token(lines[0], f"--token-file {path}"), f"--token-file {path}")


def _saved_token() -> ServiceToken:
    path = token_path()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.chmod(path, 0o600)  # someone loosened it; the token grants full access
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the service token {path}: {exc}. Delete it to make a new one."
        ) from exc
    if text:
        return ServiceToken(check_token(text, f"the token file {path}"), f"the token file {path}")
    token = secrets.token_urlsafe(32)
    replace_local_file(path, (token + "\n").encode("ascii"), mode=0o600)
    return ServiceToken(token, f"a new token, saved in {path}")


def resolve_token(
    cfg: config.Config, *, flag: str | None = None, token_file: Path | str | None = None
) -> ServiceToken:
    """The token to serve with, from the first source that is set (see the module docstring)."""
    if token_file is not None and flag is not None:
        raise ConfigError("Give the token once: --token-file or --token, not both.")
    if token_file is not None:
        return read_token_file(token_file)
    if flag is not None:
        return ServiceToken(check_token(flag, "--token"), "--token")
    if cfg.service.token is not None:
        where = cfg.sources.get("service.token", "the service.token setting")
        where = where.replace("env ", "the environment variable ", 1).replace(
            "file ", "service.token in the config file ", 1
        )
        return ServiceToken(check_token(cfg.service.token, where), where)
    return _saved_token()


def load_or_create_token(cfg: config.Config) -> str:
    """The configured token, else the one saved in the config dir, else a new saved one."""
    return resolve_token(cfg).value


def digest(token: str) -> bytes:
    """What tokens are compared by: equal-length digests, so the comparison reveals no length."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def matches(given: str, expected_digest: bytes) -> bool:
    """Whether ``given`` is the token, compared in constant time."""
    return hmac.compare_digest(digest(given), expected_digest)
