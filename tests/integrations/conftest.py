"""Integrations train for real, offline: tiny models built from configs, nothing downloaded."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import tercet

# Read when transformers/datasets/huggingface_hub are imported: set before any test imports them.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("WANDB_DISABLED", "true")


@pytest.fixture(autouse=True)
def _close_active_run() -> Iterator[None]:
    yield
    active = tercet.active_run()
    if active is not None:
        active.close()
