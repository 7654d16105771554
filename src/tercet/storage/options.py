"""Backend settings: the config's ``storage_options`` plus the standard AWS variables."""

from __future__ import annotations

import os
from typing import Any

from tercet import config

DEFAULT_S3_RETRIES: dict[str, Any] = {"max_attempts": 8, "mode": "adaptive"}


def options(proto: str) -> dict[str, Any]:
    """The keyword arguments for the fsspec filesystem of ``proto`` (``s3``, ``gs`` …)."""
    try:
        opts = dict(config.current().storage_options.get(proto, {}))
    except Exception:  # a broken config must not hide the storage error behind it
        opts = {}
    if proto == "s3":
        # s3fs does not read AWS_ENDPOINT_URL itself in every version; honour the standard variable.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        client_kwargs = opts.get("client_kwargs") or {}
        if endpoint and "endpoint_url" not in opts and "endpoint_url" not in client_kwargs:
            opts["endpoint_url"] = endpoint
        # Retries are botocore's; keys the user sets (timeouts, …) are merged, not replaced.
        config_kwargs = dict(opts.get("config_kwargs") or {})
        config_kwargs.setdefault("retries", dict(DEFAULT_S3_RETRIES))
        opts["config_kwargs"] = config_kwargs
        # Other machines write into the bucket: a cached listing would hide their objects.
        opts.setdefault("use_listings_cache", False)
    return opts
