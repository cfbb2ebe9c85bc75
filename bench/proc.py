"""Child processes with their own peak RSS: every measured engine run happens in a fresh interpreter.

`run_child` starts `python -m bench.<module> --child SPEC_JSON`, polls /proc/PID/status every 0.1 s
(VmRSS and VmHWM, so a run can be stopped before it threatens the shared machine), and reaps it with
`os.wait4`, whose `ru_maxrss` is that one child's peak resident set (KiB on Linux).  The child prints
its own measurements as one JSON object on the last line of stdout.  For a child with processes of its own
(`monitor run --jobs`), `tree=True` also sums the proportional set size (Pss, from /proc/PID/smaps_rollup:
pages shared by fork counted once, split between their sharers) of the child and its descendants every
0.5 s, and reports the largest sum seen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["GB", "GIB", "ChildResult", "emit", "rss_limit", "run_child"]

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3
GB = 10**9


@dataclass
class ChildResult:
    """What a child reported, plus what the parent saw from outside."""

    ok: bool
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    report: dict[str, Any] = field(default_factory=dict)
    killed: str | None = None
    stderr_tail: str = ""
    status_at_kill: dict[str, Any] | None = None
    crossed: dict[str, Any] | None = None  # wall time and child status when RSS first passed `watch_bytes`
    tree_peak_pss_bytes: int = 0  # with tree=True: the largest Pss summed over the child and its descendants


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as handle:
                children = [int(x) for x in handle.read().split()]
        except (OSError, ValueError):
            children = []
        found += children
        todo += children
    return found


def _tree_pss_kib(pid: int) -> int:
    total = 0
    for member in (pid, *_descendants(pid)):
        try:
            with open(f"/proc/{member}/smaps_rollup") as handle:
                total += next((int(line.split()[1]) for line in handle if line.startswith("Pss:")), 0)
        except (OSError, ValueError):
            pass
    return total


def rss_limit(default_gb: float = 12) -> int:
    """The safety limit for one child's RSS on this shared machine: BENCH_RSS_LIMIT_GB, else `default_gb` GB.

    (Past it the child is killed by us, before the kernel's OOM killer picks a process of its own.)
    """
    return int(float(os.environ.get("BENCH_RSS_LIMIT_GB", default_gb)) * GB)


def _read_status(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def run_child(module: str, spec: dict[str, Any], *, rss_limit_bytes: int | None = None,
              timeout_s: float | None = None, env: dict[str, str] | None = None,
              status: Path | None = None, watch_bytes: int | None = None, tree: bool = False) -> ChildResult:
    """Run `python -m module --child SPEC` and measure it; killed past `rss_limit_bytes` or `timeout_s`.

    `status` is a JSON file the child rewrites as it goes (read when RSS first passes `watch_bytes`
    and when the child is killed, to say how far it got).
    """
    rss_limit_bytes = rss_limit_bytes or rss_limit()
    if status is not None:
        status.unlink(missing_ok=True)
        spec = {**spec, "status": str(status)}
    argv = [sys.executable, "-m", module, "--child", json.dumps(spec)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(stream, buf), daemon=True)
               for stream, buf in ((proc.stdout, out), (proc.stderr, err))]
    for reader in readers:
        reader.start()
    killed: str | None = None
    crossed: dict[str, Any] | None = None
    status_at_kill: dict[str, Any] | None = None
    seen_peak_kib = tree_peak_kib = polls = 0
    # Reap this one child ourselves (never Popen.poll, which would reap it first): wait4 gives its own
    # rusage, not the maximum over all children.
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss_kib = _status_kib(proc.pid, "VmRSS:")
        seen_peak_kib = max(seen_peak_kib, rss_kib, _status_kib(proc.pid, "VmHWM:"))
        polls += 1
        if tree and polls % 5 == 0:
            tree_peak_kib = max(tree_peak_kib, _tree_pss_kib(proc.pid))
        if crossed is None and watch_bytes is not None and rss_kib * 1024 > watch_bytes:
            crossed = {"wall_s": time.perf_counter() - started, "status": _read_status(status)}
        if not killed and rss_kib * 1024 > rss_limit_bytes:
            killed = f"RSS {rss_kib * 1024 / GB:.1f} GB passed the safety limit {rss_limit_bytes / GB:.0f} GB"
        elif not killed and timeout_s is not None and time.perf_counter() - started > timeout_s:
            killed = f"still running after the {timeout_s:.0f} s timeout"
        if killed and status_at_kill is None:
            status_at_kill = _read_status(status) or {}
            proc.send_signal(signal.SIGKILL)
        time.sleep(0.1)
    returncode = os.waitstatus_to_exitcode(wait_status)
    peak_kib = usage.ru_maxrss
    proc.returncode = returncode
    wall_s = time.perf_counter() - started
    for reader in readers:
        reader.join(timeout=5)
    stdout = b"".join(out).decode(errors="replace")
    stderr = b"".join(err).decode(errors="replace")
    report: dict[str, Any] = {}
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            report = json.loads(line)
            break
    peak = max(peak_kib, seen_peak_kib) * 1024
    return ChildResult(ok=returncode == 0 and not killed and bool(report), returncode=returncode, wall_s=wall_s,
                       peak_rss_bytes=peak, report=report, killed=killed, stderr_tail=stderr[-2000:],
                       status_at_kill=status_at_kill, crossed=crossed, tree_peak_pss_bytes=tree_peak_kib * 1024)


def emit(report: dict[str, Any]) -> None:
    """Child side: print the report as the last line of stdout."""
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    sys.stdout.flush()
