"""The OpenAPI document of the Object Service, as committed in ``docs/openapi.json``.

Regenerate after changing a route or model::

    python -m tercet.service.openapi docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tercet.config import Config


def document() -> dict[str, Any]:
    """The OpenAPI document (independent of configuration, token and storage)."""
    from tercet.service.app import create_app

    doc: dict[str, Any] = create_app(Config(root="/nonexistent"), token="x" * 32).openapi()
    return doc


def render(doc: dict[str, Any]) -> str:
    """The document as committed: indented JSON with a final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the document to the path given (stdout without one)."""
    args = sys.argv[1:] if argv is None else argv
    text = render(document())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
