"""The `monitor` command (contract §5): run, check, indicators, profile, fixtures, worker, produce, alerts, snapshot.

Argument and configuration mistakes exit with status 2 and one line naming the file and field; bad
events never stop a run (they become dead letters).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from monitor.config import PACKAGE_ROOT, Settings
from monitor.errors import ConfigError, InputFileError, MonitorError

__all__ = ["main", "usable_cpus"]

FIXTURES = PACKAGE_ROOT / "fixtures"


class UsageError(MonitorError):
    """A bad command-line argument."""


def _existing(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        msg = f"{path}: " + ("a directory, not a file" if p.is_dir() else "no such file")
        raise UsageError(msg)
    return p


def _output_dir(path: Path, flag: str = "--out") -> Path:
    """Create an output directory before any work: a run of hours must not end in a traceback at its first write."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{flag}: cannot create the directory {path} ({exc.strerror or type(exc).__name__})"
        raise UsageError(msg) from None
    if not os.access(path, os.W_OK | os.X_OK):
        msg = f"{flag}: cannot write in the directory {path}"
        raise UsageError(msg)
    return path


def _snapshot_file(text: str) -> Path:
    """`monitor snapshot --out`: a file path, in a directory that can be written."""
    path = Path(text)
    if path.is_dir():
        msg = f"--out: {text} is a directory; give the snapshot file's path (e.g. {path / 'monitor.duckdb'})"
        raise UsageError(msg)
    _output_dir(path.parent)
    return path


def _rules(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    from monitor.pipeline.rules import load_rules

    return load_rules(Path(args.rules) if args.rules else settings.rules_path)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Embedded mode on files (default: the bundled fixtures)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor.runtime.embedded import run_to_files
    from monitor.runtime.summary import print_summary

    households = _existing(args.households) if args.households else FIXTURES / "households.jsonl"
    events = [_existing(e) for e in args.events] if args.events else sorted(FIXTURES.glob("events*.jsonl"))
    as_of = None
    if args.as_of:
        try:
            as_of = dt.datetime.fromisoformat(args.as_of)
        except ValueError:
            msg = f"--as-of: '{args.as_of}' is not an ISO date or date-time"
            raise UsageError(msg) from None
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    rules = _rules(args, settings)
    out = _output_dir(Path(args.out))
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as bar:
        task = bar.add_task("reading events", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description="reading events" if stage == "read" else "scoring households",
                       completed=done, total=total or None)

        result = run_to_files(households, events, rules, settings.pseudonymiser(), out, as_of=as_of,
                              progress=progress, jobs=args.jobs)
    print_summary(result, out, time.perf_counter() - started, settings.key_is_development)
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Validate rules.yaml and the indicator catalogue."""
    from indicators import REGISTRY

    rules = _rules(args, settings)
    dims = sorted({i.dimension.value for i in REGISTRY})
    print(f"{rules.path}: ok (rules_version {rules.version}; {len(REGISTRY)} indicators in {len(dims)} dimensions; "
          f"{len(rules.rules)} alert rules; {len(rules.regions)} region blocks)")
    return 0


def cmd_indicators(args: argparse.Namespace, settings: Settings) -> int:
    """List the catalogue."""
    from rich.console import Console
    from rich.table import Table

    from indicators import REGISTRY

    rules = _rules(args, settings)
    table = Table(title=f"{len(REGISTRY)} indicators", show_lines=False)
    for column in ("id", "dimension", "中文", "English", "weight", "inputs"):
        table.add_column(column)
    for ind in REGISTRY:
        table.add_row(ind.id + (" *" if ind.headline else ""), ind.dimension.value, ind.name_zh, ind.name_en,
                      f"{rules.indicators[ind.id].weight:.2f}", ", ".join(sorted(ind.inputs)))
    Console(width=200).print(table)
    print("* headline indicator")
    return 0


def cmd_profile(args: argparse.Namespace, settings: Settings) -> int:
    """One household's profile from a run's snapshot."""
    from monitor.runtime.profile_view import show_profile

    return show_profile(Path(args.out) / "monitor.duckdb", args.household_id)


def cmd_fixtures(args: argparse.Namespace, settings: Settings) -> int:
    """Generate a synthetic registry and event history."""
    from rich.progress import Progress

    from monitor.fixturegen import generate

    if args.households < 1:
        msg = "--households must be at least 1"
        raise UsageError(msg)
    out = _output_dir(Path(args.out))
    started = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("households", total=args.households)
        counts = generate(args.households, args.seed, out, bad_lines=args.bad_lines,
                          progress=lambda n: bar.update(task, completed=n))
    print(f"wrote {counts.get('households', 0):,} households and {counts.get('events', 0):,} events "
          f"to {out} in {time.perf_counter() - started:.1f}s")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A faust-streaming worker on the Kafka topics."""
    from monitor.runtime.worker import run_worker

    return run_worker(settings, web_port=args.web_port, loglevel=args.loglevel)


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    """Send a registry file and event files to their topics."""
    from monitor.runtime.produce import produce_files

    households = _existing(args.households) if args.households else None
    events = [_existing(e) for e in args.events]
    return produce_files(settings, households, events, quiet=args.quiet)


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    """Read the alert feed."""
    from monitor.runtime.feed import read_alerts

    if args.level and args.level not in ("red", "orange", "yellow"):
        msg = f"--level: '{args.level}' is not one of red, orange, yellow"
        raise UsageError(msg)
    return read_alerts(settings, follow=args.follow, level=args.level, as_json=args.json,
                       timeout_s=args.timeout)


def cmd_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    """The DuckDB snapshot from the Kafka-side state."""
    from monitor.runtime.stream_snapshot import snapshot_from_stream

    return snapshot_from_stream(settings, _snapshot_file(args.out), _rules(args, settings), jobs=args.jobs)


class _OneLineErrors(argparse.ArgumentParser):
    """argparse, but a bad argument is one line naming it (without the usage block; `-h` has that)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def usable_cpus() -> int:
    """The CPUs this process may run on (the affinity mask where the OS has one, as on Linux).

    `monitor run --jobs` and `monitor snapshot --jobs` default to it (the benchmark times that default).
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _jobs(text: str) -> int:
    """--jobs: a whole number of processes, at least 1."""
    if not text.isdigit() or int(text) < 1:
        msg = f"must be a whole number of processes, at least 1 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="monitor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="embedded mode on files")
    run.add_argument("--households")
    run.add_argument("--events", nargs="+")
    run.add_argument("--rules")
    run.add_argument("--out", default="out")
    run.add_argument("--as-of", dest="as_of", help="evaluate profiles as of this time (default: latest event)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--jobs", type=_jobs, default=usable_cpus(),
                     help="processes applying the households (default: the CPUs this process may use); "
                          "the outputs are the same for any number")
    run.set_defaults(fn=cmd_run)
    check = sub.add_parser("check", help="validate rules.yaml and the catalogue")
    check.add_argument("--rules")
    check.set_defaults(fn=cmd_check)
    ind = sub.add_parser("indicators", help="list the indicator catalogue")
    ind.add_argument("--rules")
    ind.set_defaults(fn=cmd_indicators)
    prof = sub.add_parser("profile", help="one household's profile (一户一画像) from a run")
    prof.add_argument("household_id")
    prof.add_argument("--out", default="out")
    prof.set_defaults(fn=cmd_profile)
    fix = sub.add_parser("fixtures", help="generate synthetic data")
    fix.add_argument("--households", type=int, required=True)
    fix.add_argument("--seed", type=int, default=1)
    fix.add_argument("--out", default="fixtures-generated")
    fix.add_argument("--bad-lines", dest="bad_lines", type=int, default=0)
    fix.set_defaults(fn=cmd_fixtures)
    work = sub.add_parser("worker", help="faust-streaming worker")
    work.add_argument("--web-port", dest="web_port", type=int, default=None)
    work.add_argument("--loglevel", default="warning")
    work.set_defaults(fn=cmd_worker)
    prod = sub.add_parser("produce", help="send files to the Kafka topics")
    prod.add_argument("--households")
    prod.add_argument("--events", nargs="*", default=[])
    prod.add_argument("--quiet", action="store_true")
    prod.set_defaults(fn=cmd_produce)
    feed = sub.add_parser("alerts", help="read the alert feed")
    feed.add_argument("--follow", action="store_true")
    feed.add_argument("--level")
    feed.add_argument("--json", action="store_true", help="print JSON lines")
    feed.add_argument("--timeout", type=float, default=5.0, help="stop after this many idle seconds (no --follow)")
    feed.set_defaults(fn=cmd_alerts)
    snap = sub.add_parser("snapshot", help="DuckDB snapshot from the stream's state")
    snap.add_argument("--out", required=True)
    snap.add_argument("--rules")
    snap.add_argument("--jobs", type=_jobs, default=usable_cpus(),
                      help="processes evaluating the portraits (default: the CPUs this process may use; "
                           "1 beside busy workers)")
    snap.set_defaults(fn=cmd_snapshot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.fn(args, settings))
    except (ConfigError, InputFileError, UsageError) as exc:
        print(f"monitor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
