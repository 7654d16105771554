"""``GET /api/file``: bytes of data files (images) referenced by tables, and PNG thumbnails.

Only files under the allowed roots are served (see :mod:`tercet.service.access`): the URL is
checked when it is resolved, and storage checks it again, as a data file, when it reads it
(:func:`tercet.storage.data_files`). Data files are
treated as immutable for an hour of browser caching; the ETag changes with size and mtime, so an
edited file is refetched after revalidation.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mimetypes
import os
import threading
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from tercet import storage
from tercet.errors import OutsideRootsError, TercetError
from tercet.service.context import ServiceContext, get_ctx
from tercet.service.errors import ApiError
from tercet.service.models import FileGrant
from tercet.storage import files as storage_files

router = APIRouter(tags=["files"])
grant_router = APIRouter(tags=["files"])  # needs the token itself: a grant cannot renew itself
Ctx = Annotated[ServiceContext, Depends(get_ctx)]

DEFAULT_MAX_PIXELS = 40_000_000  # service.max_image_pixels

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


class ImageTooLarge(ApiError):
    """An image whose header announces more pixels than the service decodes (413)."""

    def __init__(self, where: str, width: int, height: int, limit: int) -> None:
        super().__init__(
            413,
            f"{where} is {width}x{height} = {width * height:,} pixels, over the "
            f"{limit:,} this service decodes for a thumbnail (setting service.max_image_pixels). "
            "Request it without thumb= to get its bytes.",
        )


def thumbnail(
    source: bytes | IO[bytes],
    size: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    slots: threading.BoundedSemaphore | None = None,
    where: str = "The image",
) -> bytes:
    """A PNG at most ``size`` pixels on its longer side, EXIF rotation applied.

    The header is read first: an image of more than ``max_pixels`` pixels is refused
    (:class:`ImageTooLarge`) before any pixel is decoded, so a small file that announces a huge
    canvas (a "decompression bomb") costs nothing. Decoding happens under ``slots``, which bounds
    how many full-size images are in memory at once; JPEG decodes at a reduced scale.
    """
    from PIL import Image, ImageOps

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(stream) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise ImageTooLarge(where, width, height, max_pixels)
            with slots or contextlib.nullcontext():
                opened.draft("RGB", (size, size))  # JPEG decodes at 1/2, 1/4 or 1/8 scale
                # In place, and before the EXIF rotation: the rotation then copies the small
                # image, not the full one.
                opened.thumbnail((size, size), reducing_gap=2.0)
            image = ImageOps.exif_transpose(opened)
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=False)
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (MAX_IMAGE_PIXELS) when service.max_image_pixels is set above it,
        # or its warning raised as an error where warnings are errors.
        raise ApiError(
            413,
            f"{where} is refused by Pillow's limit ({exc}); this service decodes at most "
            f"{max_pixels:,} pixels for a thumbnail (setting service.max_image_pixels).",
        ) from None
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
            with _open(target) as fh:
                data = thumbnail(
                    fh,
                    thumb,
                    ctx.config.service.max_image_pixels,
                    ctx.decodes,
                    where=url,
                )
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


@contextlib.contextmanager
def _open(target: str) -> Iterator[IO[bytes]]:
    # A stream, not the whole file: a refused image costs its header only.
    try:
        with storage.data_files(), storage_files.open_read(target) as fh:
            yield fh
    except OutsideRootsError as exc:
        raise ApiError(403, str(exc)) from None
    except TercetError as exc:
        raise ApiError(404, str(exc)) from None


def _read(target: str) -> bytes:
    try:
        with storage.data_files():
            return storage.read_bytes(target)
    except OutsideRootsError as exc:
        raise ApiError(403, str(exc)) from None
    except TercetError as exc:
        raise ApiError(404, str(exc)) from None
