"""``GET /api/file``: data files through aliases, thumbnails, caching, and the roots fence."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

import tercet
from tercet import Table
from tests.fixtures.service import RunningService, StartService, make_table


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def table(images: Path) -> Table:
    tercet.aliases.set("PROJECT_DATA", str(images))
    return make_table(n=10, images=images)


def test_image_through_its_alias_with_cache_headers(
    service: RunningService, table: Table, images: Path
) -> None:
    stored = table.to_arrow(["image"]).column("image")[0].as_py()
    assert stored == "<PROJECT_DATA>/img_0.png"
    response = service.client.get("/api/file", params={"url": stored})
    assert response.status_code == 200
    assert response.content == (images / "img_0.png").read_bytes()
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    again = service.client.get("/api/file", params={"url": stored}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    (images / "img_0.png").write_bytes((images / "img_1.png").read_bytes() + b"\0")
    changed = service.client.get(
        "/api/file", params={"url": stored}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_thumbnail_is_a_small_png(service: RunningService, table: Table) -> None:
    response = service.client.get(
        "/api/file", params={"url": "<PROJECT_DATA>/img_2.png", "thumb": 32}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and max(image.size) == 32 and image.size == (32, 24)
    full = service.client.get("/api/file", params={"url": "<PROJECT_DATA>/img_2.png"})
    assert response.headers["etag"] != full.headers["etag"]


def test_relative_urls_resolve_against_their_object(service: RunningService, table: Table) -> None:
    note = Path(table.url) / "notes.txt"
    note.write_text("hello")
    response = service.client.get("/api/file", params={"url": "notes.txt", "base": table.url})
    assert response.status_code == 200 and response.text == "hello"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    no_base = service.client.get("/api/file", params={"url": "notes.txt"})
    assert no_base.status_code == 422 and "base=" in no_base.json()["detail"]


def test_img_tags_open_files_with_a_grant_not_the_token(
    service: RunningService, table: Table
) -> None:
    grant = service.client.post("/api/file/grant").json()["grant"]
    with service.anonymous() as browser:
        ok = browser.get("/api/file", params={"url": "<PROJECT_DATA>/img_1.png", "grant": grant})
        refused = browser.get("/api/file", params={"url": "<PROJECT_DATA>/img_1.png"})
        token = browser.get(
            "/api/file", params={"url": "<PROJECT_DATA>/img_1.png", "token": service.token}
        )
    assert ok.status_code == 200 and refused.status_code == 401 and token.status_code == 401


def test_files_outside_the_roots_are_forbidden(
    service: RunningService, table: Table, images: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (images / "escape").symlink_to(tmp_path)
    (images / "secret-link.txt").symlink_to(secret)
    attempts = [
        {"url": str(secret)},
        {"url": "/etc/passwd"},
        {"url": "file:///etc/passwd"},
        {"url": "<PROJECT_DATA>/../secret.txt"},
        {"url": "<PROJECT_DATA>/../../../../../../etc/passwd"},
        {"url": "<PROJECT_DATA>/escape/secret.txt"},
        {"url": "<PROJECT_DATA>/secret-link.txt"},
        {"url": "../../../../../../secret.txt", "base": table.url},
        {"url": "../../../../../../../../../../etc/passwd", "base": table.url},
        {"url": str(service.root / ".." / "secret.txt")},
        {"url": "http://example.com/x.png"},
        {"url": str(tercet.config.config_dir() / "token")},
    ]
    for params in attempts:
        response = service.client.get("/api/file", params=params)
        assert response.status_code == 403, params
        assert "private" not in response.text
    outside_base = service.client.get(
        "/api/file", params={"url": "secret.txt", "base": str(tmp_path)}
    )
    assert outside_base.status_code == 403


def test_file_roots_allow_more_folders(start_service: StartService, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.bin").write_bytes(b"\x00\x01")
    service = start_service(file_roots=[str(shared)])
    response = service.client.get("/api/file", params={"url": str(shared / "a.bin")})
    assert response.status_code == 200 and response.content == b"\x00\x01"
    assert response.headers["content-type"] == "application/octet-stream"


def test_missing_files_folders_unset_aliases_and_non_images(
    service: RunningService, table: Table, images: Path
) -> None:
    (images / "notes.txt").write_text("not an image")
    cases = {
        ("<PROJECT_DATA>/nope.png", None): 404,
        ("<PROJECT_DATA>", None): 404,
        ("<NOT_SET>/x.png", None): 422,
        ("<PROJECT_DATA>/notes.txt", 64): 422,
        ("", None): 422,
    }
    for (url, thumb), status in cases.items():
        params: dict[str, str | int] = {"url": url}
        if thumb:
            params["thumb"] = thumb
        response = service.client.get("/api/file", params=params)
        assert response.status_code == status, (url, response.text)
        assert isinstance(response.json()["detail"], str)
    unset = service.client.get("/api/file", params={"url": "<NOT_SET>/x.png"}).json()["detail"]
    assert "tercet alias set NOT_SET" in unset
    huge = service.client.get(
        "/api/file", params={"url": "<PROJECT_DATA>/img_0.png", "thumb": 5000}
    )
    assert huge.status_code == 422


def test_local_paths_are_not_followed_past_the_root_by_symlinked_root_parts(
    service: RunningService, table: Table, tmp_path: Path
) -> None:
    # A symlink inside the project root that points back into the root is fine.
    inside = service.root / "demo" / "link-to-datasets"
    os.symlink(service.root / "demo" / "datasets", inside)
    target = inside / "digits" / "tables" / "train" / "object.json"
    assert service.client.get("/api/file", params={"url": str(target)}).status_code == 200


def test_a_project_alias_cannot_open_folders_outside_the_roots(
    service: RunningService, table: Table, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    inside = service.root / "demo" / "shared"
    inside.mkdir()
    (inside / "ok.txt").write_text("fine")
    # A project's own aliases.yaml is data: it may point inside the roots, not out of them.
    (service.root / "demo" / "aliases.yaml").write_text(
        f"EVERYTHING: {tmp_path}\nSHARED: {inside}\n"
    )
    tercet.aliases.clear()  # drop the cached project aliases
    tercet.aliases.set("PROJECT_DATA", str(tmp_path / "images"))
    base = {"base": table.url}
    refused = service.client.get("/api/file", params={"url": "<EVERYTHING>/secret.txt", **base})
    assert refused.status_code == 403 and "private" not in refused.text, refused.text
    allowed = service.client.get("/api/file", params={"url": "<SHARED>/ok.txt", **base})
    assert allowed.status_code == 200 and allowed.text == "fine"
