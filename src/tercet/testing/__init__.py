"""Helpers for testing Tercet and code built on it: a real S3-speaking server on loopback.

Nothing here is imported by the rest of Tercet: the product reaches the test server only through
the ordinary settings (``AWS_ENDPOINT_URL`` and friends, or ``storage_options``).
See :mod:`tercet.testing.s3server`.
"""

from __future__ import annotations
