"""The service's DuckDB (tercet.service.query.Database) closed while a query runs: close()
interrupts it and waits for its cursor instead of failing with DuckDB's ResourceInUseException,
the interrupted request gets a 503 that says why, and no query starts after close."""

from __future__ import annotations

import threading
import time
from typing import Any

import pyarrow as pa
import pytest

from tercet.service.errors import ApiError
from tercet.service.filters import Where
from tercet.service.query import SHUTTING_DOWN, Database


class Rows:
    """The one thing Database.query reads of a source: its Arrow rows."""

    scan = pa.table({"a": [1, 2, 3]})

    def attach(self, cur: Any) -> None:
        cur.register("src", self.scan)


def test_close_interrupts_a_running_query_and_refuses_new_ones() -> None:
    db = Database(threads=1)
    started = threading.Event()
    outcome: list[BaseException | None] = []

    def endless() -> None:
        try:
            with db.query(Rows(), Where()) as cur:  # type: ignore[arg-type]
                started.set()
                cur.execute("SELECT sum(hash(i)) FROM range(1000000000000) t(i)").fetchall()
            outcome.append(None)
        except BaseException as e:  # the test reports what the thread saw
            outcome.append(e)

    worker = threading.Thread(target=endless)
    worker.start()
    assert started.wait(10)
    time.sleep(0.5)  # the query is running now
    t0 = time.monotonic()
    db.close(timeout=20)
    assert time.monotonic() - t0 < 15, "close() waited out its timeout: the query was not stopped"
    worker.join(10)
    [error] = outcome
    assert isinstance(error, ApiError) and error.status == 503 and error.detail == SHUTTING_DOWN
    with pytest.raises(ApiError, match="shutting down"):
        with db.query(Rows(), Where()):  # type: ignore[arg-type]
            pass
    db.close()  # a second close is harmless
