"""``GET /api/file``: bytes of data files (images) referenced by tables, and PNG thumbnails.

Only files under the allowed roots are served (see :mod:`tercet.service.access`): the URL is
checked when it is resolved, and storage checks it again, as a data file, when it reads it
(:func:`tercet.storage.data_files`). Data files are
treated as immutable for an hour of browser caching; the ETag changes with size and mtime, so an
edited file is refetched after revalidation.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from tercet import storage
from tercet.errors import OutsideRootsError, TercetError
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.models import FileGrant

router = APIRouter(tags=["files"])
grant_router = APIRouter(tags=["files"])  # needs the token itself: a grant cannot renew itself
Ctx = Annotated[ServiceContext, Depends(get_ctx)]

CACHE_CONTROL = "private, max-age=3600"
# A data file is never a page: no script runs from it, whatever the file holds.
SAFE_HEADERS = {
    "Cache-Control": CACHE_CONTROL,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes (PNG for thumbnails).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
}


def _stat(target: str) -> tuple[int, str]:
    if storage.is_local(target):
        try:
            st = os.stat(target)
        except FileNotFoundError:
            raise ApiError(404, f"No file at {target}.") from None
        except OSError as exc:
            raise ApiError(404, f"Cannot read {target}: {exc.strerror}.") from None
        if not os.path.isfile(target):
            raise ApiError(404, f"{target} is a folder, not a file.")
        return st.st_size, str(st.st_mtime_ns)
    with storage.data_files():
        info = storage.file_info(target)
    if info.get("type") == "directory":
        raise ApiError(404, f"{target} is a folder, not a file.")
    return int(info["size"]), str(info["mtime"])


def thumbnail(data: bytes, size: int) -> bytes:
    """A PNG at most ``size`` pixels on its longer side, EXIF rotation applied."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (size, size))  # JPEG decodes at a reduced scale: much faster
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((size, size))
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=False)
    except Exception as exc:  # Pillow raises many kinds for foreign or damaged files
        raise ApiError(
            422,
            f"Not a readable image ({type(exc).__name__}); request it without "
            "thumb= to get its bytes.",
        ) from None
    return out.getvalue()


@router.get("/api/file", response_class=Response, responses=FILE_RESPONSE)
def get_file(
    request: Request,
    ctx: Ctx,
    url: Annotated[str, Query(min_length=1, max_length=4096, description="File URL.")],
    base: Annotated[
        str | None,
        Query(max_length=4096, description="URL of the object that holds a relative url."),
    ] = None,
    thumb: Annotated[int | None, Query(ge=16, le=1024, description="Thumbnail size.")] = None,
) -> Response:
    """The bytes of a data file (alias-expanded; relative URLs need ``base``)."""
    base_url = project_url = None
    if base is not None:
        base_url = ctx.access.object_url(base)
        project = ctx.index.project_of(base_url)
        # Not indexed yet (written a moment ago): its project is the root's child holding it.
        project_url = project.url if project else ctx.access.project_folder(base_url)
    target = ctx.access.file_url(url, base_url, project_url)
    size, mtime = _stat(target)
    digest = hashlib.sha256(f"{target}\0{size}\0{mtime}\0{thumb}".encode()).hexdigest()[:32]
    etag = f'"{digest}"'
    headers = {**SAFE_HEADERS, "ETag": etag}
    given = request.headers.get("if-none-match", "")
    if etag in [t.strip() for t in given.split(",")] or given.strip() == "*":
        return Response(status_code=304, headers=headers)
    if thumb is not None:
        key = ("thumb", digest)

        def load() -> tuple[bytes, int]:
            data = thumbnail(_read(target), thumb)
            return data, len(data)

        png: bytes = ctx.sources.cache.get(key, load)
        return Response(png, media_type="image/png", headers=headers)
    media_type = mimetypes.guess_type(target)[0] or "application/octet-stream"
    if storage.is_local(target):
        return FileResponse(target, media_type=media_type, headers=headers)
    return Response(_read(target), media_type=media_type, headers=headers)


@grant_router.post("/api/file/grant", response_model=FileGrant)
def file_grant(ctx: Ctx) -> FileGrant:
    """A short-lived grant for ``GET /api/file?…&grant=…``: ``<img src>`` cannot send the token,
    and the token never goes in a URL (see :mod:`tercet.service.grants`)."""
    grant, expires = ctx.grants.issue("/api/file")
    return FileGrant(grant=grant, expires=expires, ttl=ctx.grants.ttl)


def _read(target: str) -> bytes:
    try:
        with storage.data_files():
            return storage.read_bytes(target)
    except OutsideRootsError as exc:
        raise ApiError(403, str(exc)) from None
    except TercetError as exc:
        raise ApiError(404, str(exc)) from None
