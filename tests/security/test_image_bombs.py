"""Image decompression bombs: a thumbnail is made only for an image whose header announces at
most ``service.max_image_pixels`` pixels, and at most ``service.image_decoders`` images are
decoded at once. A 17 KiB PNG of 144 megapixels used to be decoded in full on every request."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tercet.config import ServiceConfig
from tests.fixtures.service import StartService
from tests.security import bounded

BOMB_SIDE = 12_000  # 144 megapixels
MAX_RSS = 350 * 1024 * 1024  # the service is ~150 MiB; one decoded bomb alone is more


def write_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """A tiny file announcing a huge canvas: one bit per pixel, all zero, compressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("1", (side, side)).save(path, format="PNG", optimize=True)
    return path


def write_photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (640, 480), (200, 30, 30)).save(path, format="JPEG")
    return path


SERVICE_SCRIPT = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
from tercet import config
from tercet.service import create_app
from tercet.service.server import ThreadedServer
bomb, photo = sys.argv[1], sys.argv[2]
token = "t" * 40
app = create_app(config.load(), token=token, scan_interval=60)
server = ThreadedServer(app).start()
try:
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": "Bearer " + token}, timeout=120
    )
    def get(args):
        url, size = args
        r = client.get("/api/file", params={"url": url, "thumb": size})
        return [r.status_code, r.text if r.status_code != 200 else len(r.content)]
    # Four sizes of the bomb at once (as a grid of thumbnails asks), then a normal photo.
    with ThreadPoolExecutor(4) as pool:
        bombs = list(pool.map(get, [(bomb, s) for s in (64, 128, 256, 512)]))
    print(json.dumps({"bombs": bombs, "photo": get((photo, 128))}))
finally:
    server.stop()
"""


def test_thumbnail_of_a_decompression_bomb_is_refused_with_bounded_memory(root: Path) -> None:
    bomb = write_bomb(root / "demo" / "data" / "bomb.png")
    photo = write_photo(root / "demo" / "data" / "photo.jpg")
    assert bomb.stat().st_size < 64 * 1024

    done = bounded.run(["-c", SERVICE_SCRIPT, str(bomb), str(photo)])

    assert done.returncode == 0, done.output[-3000:]
    assert done.max_rss < MAX_RSS, f"service peaked at {done.max_rss / 2**20:.0f} MiB"
    result = json.loads(done.stdout)
    for status, text in result["bombs"]:
        assert status == 413, text
        detail = json.loads(text)["detail"]
        assert "12000x12000 = 144,000,000 pixels" in detail
        assert "40,000,000" in detail and "service.max_image_pixels" in detail
    assert result["photo"][0] == 200  # ordinary thumbnails still work


def test_the_pixel_limit_is_a_setting(start_service: StartService, root: Path) -> None:
    photo = write_photo(root / "demo" / "data" / "photo.jpg")  # 307,200 pixels
    service = start_service(max_image_pixels=300_000)
    response = service.client.get("/api/file", params={"url": str(photo), "thumb": 64})
    assert response.status_code == 413
    assert "640x480 = 307,200 pixels, over the 300,000" in response.json()["detail"]
    # The file itself is still served: only decoding is refused.
    assert service.client.get("/api/file", params={"url": str(photo)}).status_code == 200

    service = start_service(max_image_pixels=400_000)
    response = service.client.get("/api/file", params={"url": str(photo), "thumb": 64})
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert max(thumb.size) == 64


def test_decodes_wait_for_a_free_decoder(start_service: StartService, root: Path) -> None:
    photo = write_photo(root / "demo" / "data" / "photo.jpg")
    service = start_service(image_decoders=1)
    decodes = service.app.state.ctx.decodes
    results: list[int] = []

    def ask() -> None:
        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}
        ) as client:
            response = client.get("/api/file", params={"url": str(photo), "thumb": 96})
            results.append(response.status_code)

    assert decodes.acquire(timeout=5)  # the one decoder is busy
    try:
        asking = threading.Thread(target=ask)
        asking.start()
        asking.join(1.0)
        assert asking.is_alive() and not results  # waiting, not decoding
    finally:
        decodes.release()
    asking.join(30)
    assert results == [200]


def test_defaults_are_well_under_pillows_limit() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    assert ServiceConfig().max_image_pixels * 2 <= Image.MAX_IMAGE_PIXELS
    assert ServiceConfig().image_decoders >= 1


@pytest.mark.parametrize("side", [15_000])
def test_table_load_image_keeps_pillows_limit(root: Path, side: int) -> None:
    """Training reads the user's own data and decides: Pillow's limit applies there (an error
    beyond 2 x Image.MAX_IMAGE_PIXELS); the service's stricter one applies to thumbnails."""
    from tercet import Table

    bomb = write_bomb(root / "data" / "huge.png", side)  # 225 megapixels
    table = Table.create(
        {"image": [str(bomb)]}, project="demo", dataset="d", name="t", roles={"image": "image"}
    )
    with pytest.raises(Image.DecompressionBombError):
        table.load_image(table.to_pandas().image[0])
