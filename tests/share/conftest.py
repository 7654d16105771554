"""Share tests start from a run trained on machine A (see machines.py and fixtures.py)."""

from __future__ import annotations

from tests.share.fixtures import bundle, machine_a, machine_b

__all__ = ["bundle", "machine_a", "machine_b"]
