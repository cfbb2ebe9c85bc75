"""JSON-lines helpers the end-to-end tests share: the fixture lines that are objects, and writing rows back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["objects", "write_jsonl"]


def objects(path: Path) -> list[dict[str, Any]]:
    """The lines of a JSON-lines file that are JSON objects (the bad lines of the fixtures left out)."""
    found = []
    for raw in path.read_bytes().splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict):
            found.append(row)
    return found


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSON lines; returns the path."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
