"""Synthetic data sets for the benchmarks: generated once per (households, seed) and cached.

`dataset(n, seed)` runs `python -m monitor fixtures` into `$BENCH_DATA_DIR/h{n}-s{seed}` (default
/tmp/hrm-bench-data) unless a complete copy is already there; a `.complete` marker, written last,
tells a finished set from one interrupted half-way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATA_ROOT", "Dataset", "dataset"]

DATA_ROOT = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/hrm-bench-data"))
MARKER = ".complete"


@dataclass(frozen=True)
class Dataset:
    """One generated registry and event file."""

    households: int
    seed: int
    root: Path
    events: int
    lines: int
    generated_s: float | None  # None when it came from the cache

    @property
    def registry(self) -> Path:
        """households.jsonl."""
        return self.root / "households.jsonl"

    @property
    def events_file(self) -> Path:
        """events.jsonl."""
        return self.root / "events.jsonl"

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the registry plus the events."""
        return self.registry.stat().st_size + self.events_file.stat().st_size


def dataset(households: int, seed: int = 1, *, log=print) -> Dataset:  # type: ignore[no-untyped-def]
    """The data set for (households, seed), generating it if it is not cached yet."""
    root = DATA_ROOT / f"h{households}-s{seed}"
    marker = root / MARKER
    generated_s: float | None = None
    if not marker.is_file():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        log(f"  generating {households:,} households (seed {seed}) into {root} ...")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "monitor", "fixtures", "--households", str(households),
                        "--seed", str(seed), "--out", str(root)], check=True, stdout=subprocess.DEVNULL)
        generated_s = time.perf_counter() - started
        lines = _count_lines(root / "events.jsonl")
        marker.write_text(json.dumps({"households": households, "seed": seed, "lines": lines,
                                      "generated_s": round(generated_s, 1)}))
        log(f"  generated {lines:,} event lines in {generated_s:.1f}s")
    meta = json.loads(marker.read_text())
    return Dataset(households, seed, root, events=meta["lines"], lines=meta["lines"], generated_s=generated_s)


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
    return count


def prefix(data: Dataset, households: int) -> Path:
    """A registry file holding only the first `households` households (for capped runs); cached."""
    path = data.root / f"households.first{households}.jsonl"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        with data.registry.open("rb") as src, tmp.open("wb") as dst:
            for n, line in enumerate(src):
                if n >= households:
                    break
                dst.write(line)
        tmp.replace(path)
    return path
