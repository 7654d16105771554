"""``tercet service``, ``tercet dashboard`` and ``tercet ui``: run the Object Service, the
dashboard's static server, or both with one URL to open.

Every banner says what is true: the address a browser will use (never ``0.0.0.0``), where the
token came from, and whether a dashboard really answers at the URL it prints.
"""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from tercet import config

if TYPE_CHECKING:
    from tercet.service.auth import ServiceToken

console = Console(stderr=True, highlight=False, soft_wrap=True)


def _load(root: str | None, host: str | None, port: int | None) -> config.Config:
    cfg = config.load()
    if root:
        cfg.root = root
    if host:
        cfg.service.host = host
    if port is not None:
        cfg.service.port = port
    return cfg


def _warn_if_exposed(host: str, what: str, tls: bool) -> None:
    from tercet.service import origins

    if origins.is_loopback(host):
        return
    where = "every interface" if origins.is_wildcard(host) else host
    console.print(
        f"[bold yellow]warning:[/] the {what} listens on {escape(where)}: anyone who can reach "
        "this machine can connect, and with the token read and edit your data."
        + ("" if tls else " Traffic (and the token) is unencrypted: add --tls-cert/--tls-key.")
    )


def _token(cfg: config.Config, flag: str | None, token_file: Path | None) -> ServiceToken:
    from tercet.service.auth import resolve_token

    if flag is not None:
        console.print(
            "[bold yellow]warning:[/] --token is visible to every user of this machine (`ps`) "
            "and stays in your shell history; prefer --token-file PATH."
        )
    return resolve_token(cfg, flag=flag, token_file=token_file)


def _say_where(host: str, url: str, what: str) -> None:
    from tercet.service import origins

    console.print(f"Tercet {what} on [bold]{escape(url)}[/]")
    if origins.is_wildcard(host):
        others = [n for n in origins.machine_names() if n not in url]
        also = f"; also reachable as {escape(', '.join(others))}" if others else ""
        console.print(f"  (listening on every interface, {escape(host or '0.0.0.0')}{also})")


def _dashboard_services(url: str) -> list[str] | None:
    """The services a Tercet dashboard at ``url`` may talk to, or ``None`` when none answers."""
    import httpx

    from tercet.service.dashboard import INFO_PATH

    try:
        response = httpx.get(url + INFO_PATH, timeout=1.5)
        services = response.json()["services"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return [str(s) for s in services] if isinstance(services, list) else None


def _allows(services: list[str], service_url: str) -> bool:
    for allowed in services:
        if allowed == service_url:
            return True
        if allowed.endswith(":*") and service_url.rpartition(":")[0] == allowed[:-2]:
            return True
    return False


def _print_url(url: str) -> None:
    # Plain print, not rich: the URL must stay one unbroken, copyable line.
    print(f"    {url}", flush=True)


TOKEN_FILE_HELP = "Read the bearer token from this file (first line). Preferred over --token."
HostOpt = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1).")
TlsCert = typer.Option(None, "--tls-cert", help="TLS certificate (PEM) to serve HTTPS.")
TlsKey = typer.Option(None, "--tls-key", help="TLS private key (PEM).")
TokenFile = typer.Option(None, "--token-file", help=TOKEN_FILE_HELP)
ServicesOpt = typer.Option(
    None,
    "--service",
    help="Object Service URL the page may talk to (repeatable; default: from config).",
)


def service(
    host: str = HostOpt,
    port: int = typer.Option(None, "--port", help="Port (default 5015)."),
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
    token_file: Path = TokenFile,
    token: str = typer.Option(
        None, "--token", help="Bearer token; visible in `ps`, prefer --token-file."
    ),
    tls_cert: str = TlsCert,
    tls_key: str = TlsKey,
    scan_interval: float = typer.Option(2.0, "--scan-interval", help="Seconds between scans."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the Object Service: the HTTP API the dashboard reads and writes through."""
    from tercet.service import create_app, origins
    from tercet.service.dashboard import dashboard_url
    from tercet.service.server import serve

    cfg = _load(root, host, port)
    cert = tls_cert or cfg.service.tls_cert
    key = tls_key or cfg.service.tls_key
    resolved = _token(cfg, token, token_file)
    app = create_app(cfg, token=resolved.value, scan_interval=scan_interval)
    url = origins.url("https" if cert else "http", cfg.service.host, cfg.service.port)
    _warn_if_exposed(cfg.service.host, "Object Service", bool(cert))
    _say_where(cfg.service.host, url, "Object Service")
    console.print(f"Token from {escape(resolved.source)}.")
    dashboard = origins.url("http", cfg.dashboard.host, cfg.dashboard.port)
    services = _dashboard_services(dashboard)
    if services is None:
        console.print(
            f"No dashboard answers at {escape(dashboard)}: start one with `tercet dashboard` "
            "(or run `tercet ui` for both), then open:"
        )
    elif not _allows(services, url):
        console.print(
            f"The dashboard at {escape(dashboard)} may not talk to this service: restart it "
            f"with `tercet dashboard --service {escape(url)}`, then open:"
        )
    else:
        console.print("Open the dashboard at:")
    _print_url(dashboard_url(dashboard, url, resolved.value))
    serve(app, cfg.service.host, cfg.service.port, cert, key, log_level)


def dashboard(
    host: str = HostOpt,
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    static: str = typer.Option(None, "--static", help="Folder of a built dashboard."),
    services: list[str] = ServicesOpt,
    tls_cert: str = TlsCert,
    tls_key: str = TlsKey,
) -> None:
    """Serve the dashboard's static files (it then talks to the Object Service directly)."""
    from tercet.service import origins
    from tercet.service.dashboard import create_dashboard_app
    from tercet.service.server import serve

    cfg = config.load()
    host = host or cfg.dashboard.host
    port = port if port is not None else cfg.dashboard.port
    app = create_dashboard_app(Path(static) if static else None, services or None)
    # The page holds no data and never sees the token, so plain HTTP earns no TLS warning here.
    _warn_if_exposed(host, "dashboard", tls=True)
    url = origins.url("https" if tls_cert else "http", host, port)
    _say_where(host, url, "dashboard")
    allowed = ", ".join(app.state.services)
    console.print(f"It may talk to the Object Service at {escape(allowed)}.")
    console.print("Start the service with `tercet service` (it prints the URL to open).")
    serve(app, host, port, tls_cert, tls_key)


def ui(
    host: str = typer.Option(
        None, "--host", help="Address both services bind and the browser uses (127.0.0.1)."
    ),
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
    port: int = typer.Option(None, "--port", help="Object Service port (default 5015)."),
    dashboard_port: int = typer.Option(None, "--dashboard-port", help="Dashboard port (8000)."),
    token_file: Path = TokenFile,
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
    scan_interval: float = typer.Option(2.0, "--scan-interval", help="Seconds between scans."),
    open_view: str = typer.Option(
        "",
        "--open",
        help="The view to open: a dashboard URL's part after '#', without service and token "
        "(e.g. 'project=p&run=URL&mode=gallery'). Default: the project list.",
    ),
) -> None:
    """Start the Object Service and the dashboard in one process and open the dashboard.

    With --host ADDR both listen on ADDR (a GPU node's address, or 0.0.0.0 for every interface)
    and the printed URL is the one to open from a workstation.
    """
    from tercet.service import create_app, origins
    from tercet.service.dashboard import create_dashboard_app, dashboard_url
    from tercet.service.server import ThreadedServer, serve

    cfg = _load(root, host, port)
    if host:
        cfg.dashboard.host = host
    if dashboard_port is not None:
        cfg.dashboard.port = dashboard_port
    resolved = _token(cfg, None, token_file)
    app = create_app(cfg, token=resolved.value, scan_interval=scan_interval)
    bind = cfg.service.host
    service_url = origins.url("http", bind, cfg.service.port)
    services = origins.origins(origins.reachable_hosts(bind), cfg.service.port, ("http",))
    # The dashboard half in a thread; the service in the foreground owns Ctrl-C.
    static = ThreadedServer(
        create_dashboard_app(services=services), cfg.dashboard.host, cfg.dashboard.port
    )
    static.start()
    dashboard = origins.url("http", cfg.dashboard.host, static.port)
    url = dashboard_url(dashboard, service_url, resolved.value, open_view)
    _warn_if_exposed(bind, "Object Service and the dashboard", tls=False)
    _say_where(bind, service_url, "Object Service")
    console.print(f"Tercet dashboard on [bold]{escape(dashboard)}[/]")
    console.print(f"Token from {escape(resolved.source)}.")
    console.print("Open:")
    _print_url(url)
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        serve(app, bind, cfg.service.port)
    finally:
        static.stop()


def register(app: typer.Typer) -> None:
    """Add this module's subcommands to ``app``."""
    app.command("service")(service)
    app.command("dashboard")(dashboard)
    app.command("ui")(ui)
