"""The architecture is enforced, not described: the core imports no faust, kafka or duckdb, and ruff is clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = [p for p in (ROOT / "monitor").rglob("*.py") if "runtime" not in p.parts] + list(
    (ROOT / "indicators").glob("*.py"))
FORBIDDEN = {"faust", "kafka", "aiokafka", "duckdb", "rocksdict", "mode"}


def test_the_core_imports_no_runtime_library() -> None:
    offenders = []
    for path in CORE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert len(CORE) > 20


def test_ruff_is_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "monitor", "indicators", "tests", "bench"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
