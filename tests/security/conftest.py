"""The security tests of ``share import`` start from the share tests' machines and bundle."""

from __future__ import annotations

from tests.share.fixtures import bundle, machine_a, machine_b

__all__ = ["bundle", "machine_a", "machine_b"]
