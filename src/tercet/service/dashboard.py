"""The Dashboard Service: serves the built dashboard (``src/tercet/static``) and nothing else.

The page talks to the Object Service directly; this server plays no part after the page has
loaded, holds no token and reads no data (``tercet dashboard``, or half of ``tercet ui``). It
knows which Object Services the page may talk to: its Content-Security-Policy allows only those,
and ``/tercet-dashboard.json`` tells the page (and ``tercet service``, which asks whether a
dashboard runs) the same list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tercet import config
from tercet.errors import ConfigError
from tercet.service import origins
from tercet.service.middleware.static_headers import StaticHeadersMiddleware

INFO_PATH = "/tercet-dashboard.json"
# An origin, or a loopback host with any port (the test fixtures' dashboard): nothing else may
# reach the CSP header, where a ';' or a space would add a directive or a source.
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:(\d{1,5}|\*))?$")

STATIC_DIR = Path(__file__).parent.parent / "static"

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Tercet</title>
<h1>The Tercet dashboard is not built</h1>
<p>This install has no dashboard files in <code>{path}</code>. Install Tercet from a wheel, or
build it from a clone with <code>make install</code> (runs <code>npm ci &amp;&amp; npm run
build</code> in <code>dashboard/</code>).</p>
"""


def service_origin(url: str) -> str:
    """The origin of an Object Service URL (``http://host:port``), checked; trailing ``/`` and
    path dropped. Raises :class:`~tercet.errors.ConfigError` for anything else."""
    text = url.strip()
    match = re.match(r"^(https?://[^/?#\s]+)/*$", text, re.IGNORECASE)
    origin = match.group(1).lower() if match else ""
    if not _ORIGIN.match(origin):
        raise ConfigError(
            f"Not an Object Service URL: {url!r}. Give scheme, host and port, like "
            "http://127.0.0.1:5015."
        )
    return origin


def configured_services(cfg: config.Config) -> list[str]:
    """The origins of the Object Service the config describes, by every name it is reached."""
    scheme = "https" if cfg.service.tls_cert else "http"
    hosts = origins.reachable_hosts(cfg.service.host)
    return origins.origins(hosts, cfg.service.port, (scheme,))


def create_dashboard_app(
    static_dir: Path | None = None, services: Sequence[str] | None = None
) -> Starlette:
    """The static file app for the built dashboard in ``static_dir`` (the packaged one by default).

    Parameters
    ----------
    static_dir
        Folder holding ``index.html`` and ``assets/``.
    services
        Object Service URLs the page may talk to (its CSP's ``connect-src`` and ``img-src``);
        by default the service the config describes. The first is the page's default service.

    Returns
    -------
    Starlette
        The app (``state.services``: the allowed service origins); when the folder has no
        ``index.html`` it answers every path with a page that says how to build the dashboard.
    """
    folder = Path(static_dir) if static_dir is not None else STATIC_DIR
    allowed = list(
        dict.fromkeys(
            service_origin(s)
            for s in (configured_services(config.load()) if services is None else services)
        )
    )
    info = {"services": allowed}

    async def describe(request: Request) -> Response:
        return JSONResponse(info)

    routes: list[BaseRoute] = [Route(INFO_PATH, describe)]
    if not (folder / "index.html").is_file():
        page = NOT_BUILT.format(path=folder)

        async def not_built(request: Request) -> Response:
            return HTMLResponse(page, status_code=503)

        routes.append(Route("/{path:path}", not_built))
    else:
        routes.append(Mount("/", app=StaticFiles(directory=str(folder), html=True)))
    middleware = [Middleware(StaticHeadersMiddleware, services=allowed)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.services = allowed
    return app


def dashboard_url(dashboard: str, service: str, token: str, view: str = "") -> str:
    """The URL that opens the dashboard connected to ``service`` with ``token``, on ``view``
    (a fragment such as ``project=p&run=URL&mode=gallery``; the project list when empty).

    All of it travels in the fragment, which browsers never send to a server or write to a log.
    """
    from urllib.parse import quote

    url = f"{dashboard.rstrip('/')}/#service={quote(service, safe='')}&token={quote(token)}"
    return f"{url}&{view.lstrip('#&')}" if view.strip("#&") else url
