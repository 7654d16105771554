"""The Dashboard Service: serves the built dashboard (``src/tercet/static``) and nothing else.

The page talks to the Object Service directly; this server plays no part after the page has
loaded, holds no token and reads no data (``tercet dashboard``, or half of ``tercet ui``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from tercet.service.middleware.static_headers import StaticHeadersMiddleware

STATIC_DIR = Path(__file__).parent.parent / "static"

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Tercet</title>
<h1>The Tercet dashboard is not built</h1>
<p>This install has no dashboard files in <code>{path}</code>. Install Tercet from a wheel, or
build it from a clone with <code>make install</code> (runs <code>npm ci &amp;&amp; npm run
build</code> in <code>dashboard/</code>).</p>
"""


def create_dashboard_app(static_dir: Path | None = None) -> ASGIApp:
    """The static file app for the built dashboard in ``static_dir`` (the packaged one by default).

    Parameters
    ----------
    static_dir
        Folder holding ``index.html`` and ``assets/``.

    Returns
    -------
    ASGIApp
        A Starlette app; when the folder has no ``index.html`` it answers every path with a
        page that says how to build the dashboard.
    """
    folder = Path(static_dir) if static_dir is not None else STATIC_DIR
    routes: list[BaseRoute]
    if not (folder / "index.html").is_file():
        page = NOT_BUILT.format(path=folder)

        async def not_built(request: Request) -> Response:
            return HTMLResponse(page, status_code=503)

        routes = [Route("/{path:path}", not_built)]
    else:
        routes = [Mount("/", app=StaticFiles(directory=str(folder), html=True))]
    return Starlette(routes=routes, middleware=[Middleware(StaticHeadersMiddleware)])


def dashboard_url(dashboard: str, service: str, token: str) -> str:
    """The URL that opens the dashboard connected to ``service`` with ``token``.

    Both travel in the fragment, which browsers never send to a server or write to its log.
    """
    from urllib.parse import quote

    return f"{dashboard.rstrip('/')}/#service={quote(service, safe='')}&token={quote(token)}"
