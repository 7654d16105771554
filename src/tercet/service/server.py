"""Running ASGI apps under uvicorn: in the foreground (the CLI) or in a background thread (tests,
benchmarks, and the dashboard half of ``tercet ui``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from tercet.service.redact import RedactFilter

GRACEFUL_SHUTDOWN_SECONDS = 3
# Long GET /api/rows links must reach the app (and get a 422 that says why) instead of being
# cut at the HTTP layer; bodies are limited separately (service.max_request_bytes).
MAX_REQUEST_HEAD = 1024 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _redact_access_log() -> None:
    # uvicorn.error too: it logs request lines when a request is malformed.
    for name in ("uvicorn.access", "uvicorn.error", "tercet.service"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())


def _config(
    app: Any,
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    log_level: str,
    access_log: bool,
) -> uvicorn.Config:
    if bool(tls_cert) != bool(tls_key):
        from tercet.errors import ConfigError

        raise ConfigError("TLS needs both a certificate and a key (--tls-cert and --tls-key).")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
    )


def serve(
    app: Any,
    host: str,
    port: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    log_level: str = "info",
) -> None:
    """Run ``app`` in the foreground until Ctrl-C."""
    _redact_access_log()
    uvicorn.Server(_config(app, host, port, tls_cert, tls_key, log_level, True)).run()


class ThreadedServer:
    """``app`` served by uvicorn in a daemon thread on ``host:port`` (0 picks a free port).

    The socket is bound before the thread starts, so :attr:`url` is known and final at once.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.config = _config(app, host, port, tls_cert, tls_key, log_level, access_log)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        scheme = "https" if tls_cert else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{self.port}"
        self.server = uvicorn.Server(self.config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        """Start serving; returns once the server accepts connections."""
        _redact_access_log()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"The server on {self.url} failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The server on {self.url} did not start in {timeout} s.")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving and wait for the thread; open event streams are ended first."""
        ctx = getattr(getattr(self.app, "state", None), "ctx", None)
        if ctx is not None:
            ctx.bus.close()
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
