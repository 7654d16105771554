"""``tercet service``, ``tercet dashboard`` and ``tercet ui``: run the Object Service, the
dashboard's static server, or both with one URL to open."""

from __future__ import annotations

import threading
import webbrowser

import typer
from rich.console import Console

from tercet import config

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


def _warn_if_exposed(host: str, tls: bool) -> None:
    from tercet.service.server import LOOPBACK

    if host not in LOOPBACK:
        console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine "
            "and has the token can read and edit your data."
            + ("" if tls else " Traffic (and the token) is unencrypted: add --tls-cert/--tls-key.")
        )


def _banner(service_url: str, dashboard: str, token: str) -> None:
    from tercet.service.auth import token_path
    from tercet.service.dashboard import dashboard_url

    console.print(f"Tercet Object Service on [bold]{service_url}[/]")
    console.print(f"Token kept in {token_path()} (or service.token).")
    console.print("Open the dashboard at:")
    # Plain print, not rich: the URL must stay one unbroken, copyable line.
    print(f"    {dashboard_url(dashboard, service_url, token)}", flush=True)


HostOpt = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1).")
TlsCert = typer.Option(None, "--tls-cert", help="TLS certificate (PEM) to serve HTTPS.")
TlsKey = typer.Option(None, "--tls-key", help="TLS private key (PEM).")


def service(
    host: str = HostOpt,
    port: int = typer.Option(None, "--port", help="Port (default 5015)."),
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
    token: str = typer.Option(None, "--token", help="Bearer token (default: saved token)."),
    tls_cert: str = TlsCert,
    tls_key: str = TlsKey,
    scan_interval: float = typer.Option(2.0, "--scan-interval", help="Seconds between scans."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the Object Service: the HTTP API the dashboard reads and writes through."""
    from tercet.service import create_app
    from tercet.service.server import serve

    cfg = _load(root, host, port)
    cert = tls_cert or cfg.service.tls_cert
    key = tls_key or cfg.service.tls_key
    app = create_app(cfg, token=token, scan_interval=scan_interval)
    scheme = "https" if cert else "http"
    url = f"{scheme}://{cfg.service.host}:{cfg.service.port}"
    _warn_if_exposed(cfg.service.host, bool(cert))
    _banner(url, f"http://{cfg.dashboard.host}:{cfg.dashboard.port}", app.state.ctx.token)
    serve(app, cfg.service.host, cfg.service.port, cert, key, log_level)


def dashboard(
    host: str = HostOpt,
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    static: str = typer.Option(None, "--static", help="Folder of a built dashboard."),
    tls_cert: str = TlsCert,
    tls_key: str = TlsKey,
) -> None:
    """Serve the dashboard's static files (it then talks to the Object Service directly)."""
    from pathlib import Path

    from tercet.service.dashboard import create_dashboard_app
    from tercet.service.server import serve

    cfg = config.load()
    host = host or cfg.dashboard.host
    port = port if port is not None else cfg.dashboard.port
    # The page holds no data and never sees the token, so plain HTTP earns no warning here.
    _warn_if_exposed(host, tls=True)
    scheme = "https" if tls_cert else "http"
    console.print(
        f"Tercet dashboard on [bold]{scheme}://{host}:{port}[/] (start `tercet service` too)"
    )
    serve(create_dashboard_app(Path(static) if static else None), host, port, tls_cert, tls_key)


def ui(
    root: str = typer.Option(None, "--root", help="Project root URL (default: from config)."),
    port: int = typer.Option(None, "--port", help="Object Service port (default 5015)."),
    dashboard_port: int = typer.Option(None, "--dashboard-port", help="Dashboard port (8000)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
    scan_interval: float = typer.Option(2.0, "--scan-interval", help="Seconds between scans."),
) -> None:
    """Start the Object Service and the dashboard in one process and open the dashboard."""
    from tercet.service import create_app
    from tercet.service.dashboard import create_dashboard_app, dashboard_url
    from tercet.service.server import ThreadedServer, serve

    cfg = _load(root, None, port)
    if dashboard_port is not None:
        cfg.dashboard.port = dashboard_port
    app = create_app(cfg, token=None, scan_interval=scan_interval)
    token = app.state.ctx.token
    # The dashboard half in a thread; the service in the foreground owns Ctrl-C.
    static = ThreadedServer(create_dashboard_app(), cfg.dashboard.host, cfg.dashboard.port)
    static.start()
    service_url = f"http://{cfg.service.host}:{cfg.service.port}"
    url = dashboard_url(static.url, service_url, token)
    console.print(f"Tercet: Object Service on {service_url}, dashboard on {static.url}")
    console.print("Open:")
    print(f"    {url}", flush=True)
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        serve(app, cfg.service.host, cfg.service.port)
    finally:
        static.stop()


def register(app: typer.Typer) -> None:
    """Add this module's subcommands to ``app``."""
    app.command("service")(service)
    app.command("dashboard")(dashboard)
    app.command("ui")(ui)
