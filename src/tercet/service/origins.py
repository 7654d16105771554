"""The names a listening address is reached by, as URLs and browser origins.

A service bound to ``127.0.0.2`` is opened as ``http://127.0.0.2:…``; one bound to ``0.0.0.0``
(every interface) by this machine's name or one of its addresses, never by ``0.0.0.0``. Banners
print these URLs, CORS allows the dashboard's origins on them, and the dashboard's
Content-Security-Policy lets the page talk to the service's.
"""

from __future__ import annotations

import functools
import ipaddress
import socket

WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def is_wildcard(host: str) -> bool:
    """Whether binding ``host`` listens on every interface."""
    return host in WILDCARDS


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@functools.cache
def machine_names() -> tuple[str, ...]:
    """This machine's name, its fully qualified name and its addresses (IPv4 first)."""
    names: list[str] = []
    hostname = socket.gethostname()
    for name in (hostname, socket.getfqdn()):
        if name and name not in names and name != "localhost":
            names.append(name)
    try:
        infos = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    addresses = [(family, str(sockaddr[0])) for family, *_, sockaddr in infos]
    addresses.append((socket.AF_INET, _outbound_address()))
    for family, address in sorted(addresses, key=lambda a: a[0] != socket.AF_INET):
        shown = f"[{address}]" if family == socket.AF_INET6 else address
        if address and not is_loopback(address) and shown not in names:
            names.append(shown)
    return tuple(names)


def _outbound_address() -> str:
    """The address this machine's default route leaves from ('' without one). A UDP "connect"
    only picks the route; no packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed to anyone
            return str(probe.getsockname()[0])
        except OSError:
            return ""


def shown_host(host: str) -> str:
    """The host to print in a URL for a server bound to ``host``."""
    if is_wildcard(host):
        names = machine_names()
        return names[0] if names else "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def reachable_hosts(host: str) -> list[str]:
    """Every host name a browser may use for a server bound to ``host`` (URL form)."""
    if is_wildcard(host):
        return [*machine_names(), "127.0.0.1", "localhost"]
    shown = shown_host(host)
    if host in ("127.0.0.1", "localhost"):
        return ["127.0.0.1", "localhost"]
    return [shown]


def url(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port`` with the host as a browser would type it."""
    return f"{scheme}://{shown_host(host)}:{port}"


def origins(
    hosts: list[str], port: int | str, schemes: tuple[str, ...] = ("http", "https")
) -> list[str]:
    """The browser origins ``scheme://host:port`` for each host and scheme, without repeats."""
    return list(dict.fromkeys(f"{s}://{h}:{port}" for h in hosts for s in schemes))
