"""Clear errors instead of wrong ones: a missing bucket or a dead endpoint is said to be one (not
read as an empty root), and hostile input to the service is a 4xx that says what is wrong, never
a 5xx. Each test here failed before its fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from tercet import storage
from tercet.errors import NoSuchBucketError, StoreUnreachableError
from tercet.testing.s3server import S3Server
from tests.fixtures.service import StartService

CLI = [sys.executable, "-c", "from tercet.cli import main; main()"]


def _tercet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "400"},
        timeout=120,
    )


# -- a bucket that does not exist --------------------------------------------------------------
@pytest.fixture
def missing_bucket(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a bucket that was never created>/projects``, set as ``TERCET_ROOT``."""
    root = f"s3://tercet-missing-{os.getpid()}-{time.monotonic_ns()}/projects"
    monkeypatch.setenv("TERCET_ROOT", root)
    return root


@pytest.mark.s3
def test_ls_names_a_missing_bucket_and_fails(missing_bucket: str) -> None:
    proc = _tercet("ls", env={})
    bucket = missing_bucket.split("/")[2]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"bucket '{bucket}' does not exist" in proc.stderr
    assert "No projects" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.s3
def test_every_storage_call_on_a_missing_bucket_says_so(missing_bucket: str) -> None:
    url = f"{missing_bucket}/demo/datasets/d/tables/t/object.json"
    calls: dict[str, Callable[[], object]] = {
        "ls": lambda: storage.ls(missing_bucket),
        "walk_files": lambda: storage.walk_files(missing_bucket),
        "exists": lambda: storage.exists(url),
        "read_bytes": lambda: storage.read_bytes(url),
        "read_parquet": lambda: storage.read_parquet(url.replace("object.json", "r.parquet")),
        "write_json": lambda: storage.write_json(url, {}),
    }
    for name, call in calls.items():
        with pytest.raises(NoSuchBucketError, match="does not exist") as info:
            call()
        assert not isinstance(info.value, FileNotFoundError), name


@pytest.mark.s3
def test_an_empty_prefix_of_an_existing_bucket_is_still_empty(s3_root: str) -> None:
    assert storage.ls(s3_root) == []
    assert storage.walk_files(s3_root) == []
    assert not storage.exists(f"{s3_root}/nothing/object.json")


@pytest.mark.s3
def test_service_answers_a_missing_bucket_with_its_name(
    missing_bucket: str, start_service: StartService
) -> None:
    service = start_service()
    response = service.client.get("/api/projects")
    assert response.status_code == 502, response.text
    assert "does not exist" in response.json()["detail"]
    assert missing_bucket.split("/")[2] in response.json()["detail"]
    response = service.client.get("/api/projects/demo/tables")
    assert response.status_code == 502 and "does not exist" in response.json()["detail"]


# -- an endpoint where nothing listens ---------------------------------------------------------
@pytest.fixture
def dead_endpoint(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``AWS_ENDPOINT_URL`` at a loopback port where nothing listens (retries left at default)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("TERCET_ROOT", "s3://tercet-dead/projects")
    yield endpoint


@pytest.mark.s3
def test_ls_says_at_once_that_nothing_answers_at_the_endpoint(dead_endpoint: str) -> None:
    started = time.monotonic()
    proc = _tercet("ls", env={})
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Cannot reach the S3 endpoint {dead_endpoint}" in proc.stderr
    assert "connect_timeout" in proc.stderr and "AWS_ENDPOINT_URL" in proc.stderr
    assert elapsed < 15, f"took {elapsed:.1f} s: the retry budget was spent first"


@pytest.mark.s3
def test_storage_calls_fail_fast_on_a_dead_endpoint(dead_endpoint: str) -> None:
    for call in (
        lambda: storage.ls("s3://tercet-dead/projects"),
        lambda: storage.read_bytes("s3://tercet-dead/a/object.json"),
        lambda: storage.write_bytes("s3://tercet-dead/a/object.json", b"{}"),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnreachableError, match="Cannot reach the S3 endpoint"):
            call()
        assert time.monotonic() - started < 10


@pytest.mark.s3
def test_service_answers_a_dead_endpoint_with_its_address(
    dead_endpoint: str, start_service: StartService
) -> None:
    service = start_service()
    started = time.monotonic()
    response = service.client.get("/api/projects")
    assert response.status_code == 502, response.text
    assert f"Cannot reach the S3 endpoint {dead_endpoint}" in response.json()["detail"]
    assert time.monotonic() - started < 15
