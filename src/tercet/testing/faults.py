"""A loopback HTTP proxy that puts faults between a client and an S3 server, for tests.

Point the client's endpoint at :attr:`FaultProxy.endpoint_url`; the proxy forwards every request
to the upstream server unchanged, except where a fault was asked for::

    with FaultProxy(server.endpoint_url) as proxy:
        proxy.throttle(3)              # the next 3 requests get 503 SlowDown
        proxy.delay(0.5, times=2)      # the next 2 are answered half a second late
        proxy.drop_responses(1)        # the next one is forwarded, then the connection is cut
        proxy.go_down_after(2)         # after 2 more requests the "server" is gone

``match`` narrows a fault to requests whose ``"METHOD /path?query"`` contains that text (for
example ``"uploadId="`` for multipart parts). Every request seen is kept in :attr:`requests`.
The proxy listens on 127.0.0.1 only.

It also counts what an object store charges for: :meth:`FaultProxy.traffic` gives, per HTTP
method, the requests and the body bytes sent up and down (``proxy.reset_traffic()`` between
measurements)::

    proxy.reset_traffic()
    table.to_arrow(["example_id", "score"])
    proxy.traffic()["GET"]            # Traffic(requests=3, up=0, down=812_345)
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "expect"}  # fmt: skip


@dataclass(frozen=True)
class Traffic:
    """Requests of one HTTP method and their body bytes: ``up`` to the store, ``down`` from it."""

    requests: int = 0
    up: int = 0
    down: int = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.requests + other.requests, self.up + other.up, self.down + other.down)


@dataclass
class _Fault:
    kind: str  # "error" | "delay" | "drop" | "down"
    times: int | None  # None: forever
    match: str | None
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 0.0
    after: int = 0  # "down": requests still served before going down


class FaultProxy:
    """Forwards HTTP requests to ``upstream`` and injects the faults it is told to."""

    def __init__(self, upstream: str, port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"The fault proxy only fronts loopback servers, not {upstream!r}.")
        self._upstream = (parts.hostname, parts.port or 80)
        self._port = port
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[str] = []
        self._traffic: dict[str, Traffic] = {}
        self.port = 0

    # -- faults --------------------------------------------------------------------------------
    def throttle(
        self, times: int, status: int = 503, code: str = "SlowDown", match: str | None = None
    ) -> None:
        """Answer the next ``times`` matching requests with an S3 error (default 503 SlowDown)."""
        self._add(_Fault("error", times, match, status=status, code=code))

    def delay(self, seconds: float, times: int | None = None, match: str | None = None) -> None:
        """Hold the next ``times`` matching responses back by ``seconds`` (forever if None)."""
        self._add(_Fault("delay", times, match, seconds=seconds))

    def drop_responses(self, times: int, match: str | None = None) -> None:
        """Forward the next ``times`` matching requests, then cut the connection unanswered."""
        self._add(_Fault("drop", times, match))

    def go_down_after(self, requests: int = 0, match: str | None = None) -> None:
        """After ``requests`` more matching requests, cut every connection, like a dead server."""
        self._add(_Fault("down", None, match, after=requests))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- counting --------------------------------------------------------------------------------
    def traffic(self) -> dict[str, Traffic]:
        """Requests and body bytes per HTTP method since the start or :meth:`reset_traffic`
        (answered requests only: a cut connection transfers nothing the store bills)."""
        with self._lock:
            return dict(self._traffic)

    def total(self) -> Traffic:
        """:meth:`traffic` summed over every method."""
        return sum(self.traffic().values(), Traffic())

    def reset_traffic(self) -> None:
        with self._lock:
            self._traffic.clear()

    def _count(self, method: str, up: int, down: int) -> None:
        with self._lock:
            self._traffic[method] = self._traffic.get(method, Traffic()) + Traffic(1, up, down)

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _fault_for(self, line: str) -> _Fault | None:
        with self._lock:
            self.requests.append(line)
            for fault in self._faults:
                if fault.match is not None and fault.match not in line:
                    if fault.kind == "down" and fault.after <= 0:
                        return fault
                    continue
                if fault.kind == "down":
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    return fault
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _cut(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _handle(self) -> None:
                line = f"{self.command} {self.path}"
                fault = proxy._fault_for(line)
                if fault is not None and fault.kind == "down":
                    self._cut()
                    return
                body = self._body()
                if fault is not None and fault.kind == "error":
                    xml = (
                        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                        f"{fault.code}</Code><Message>Injected fault: please reduce your request "
                        "rate.</Message><RequestId>fault</RequestId></Error>"
                    ).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))  # HEAD: length only
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers,
                                                          body)  # fmt: skip
                if fault is not None and fault.kind == "drop":
                    self._cut()
                    return
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.seconds)
                down = 0 if self.command == "HEAD" else len(payload)
                proxy._count(self.command, len(body), down)
                self.send_response(status)
                length = str(len(payload))
                for key, value in headers:
                    if key.lower() == "content-length":
                        length = value if self.command == "HEAD" else length
                    elif key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers.items():  # type: ignore[attr-defined]
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    conn.putheader(key, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
