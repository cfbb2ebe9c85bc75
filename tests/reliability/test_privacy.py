"""Privacy checks S2, S3 and S5: keyed pseudonyms per purpose, the snapshot's column allowlist, no secrets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "SENTINEL-c0ffee-7d1e-not-a-real-key"

# Every column an analyst may see, table by table (S3).  A new column must be added here on purpose.
ALLOWLIST = {
    "households": {"household_id", "region", "category", "member_count", "score", "level", "income", "assets",
                   "expenditure", "health_disability", "employment", "family_events", "income_ratio", "tags",
                   "needs", "open_alerts", "events_applied", "last_event_at"},
    "indicator_values": {"household_id", "indicator_id", "dimension", "value", "level", "points"},
    "members": {"household_id", "member", "relation", "age_band", "sex", "present", "employed",
                "disability_grade"},
    "alerts": {"alert_id", "household_id", "level", "rule_id", "trigger_family", "score", "dimension_scores",
               "reasons", "trigger_event_id", "trigger_category", "subject", "subject_masked", "needs", "verify_by",
               "rules_version", "supersedes", "event_time"},
    "events": {"event_id", "household_id", "category", "occurred_at"},
    "indicators": {"indicator_id", "dimension", "name_zh", "name_en", "inputs", "headline", "weight"},
    "snapshot_meta": {"snapshot_id", "created_at", "rules_version", "as_of", "events_applied",
                      "events_dead_lettered", "households", "alerts"},
    "deadletters": {"reason", "detail", "event_id", "source"},
    "anomalies": {"anomaly_id", "kind", "household_id", "source_dept", "event_id", "category", "occurred_at",
                  "detail"},
}


def run(out: Path, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "run", "--out", str(out), "--quiet", *extra],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env={"PATH": "/usr/bin:/bin", "MONITOR_PSEUDONYM_KEY": key})


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    first, second = run(a, SENTINEL), run(b, SENTINEL)
    assert first.returncode == second.returncode == 0
    return a, b, first.stdout + first.stderr + second.stdout + second.stderr


def test_s2_pseudonyms_are_stable_across_runs_and_differ_by_purpose(two_runs: tuple[Path, Path, str]) -> None:
    a, b, _ = two_runs
    subjects = lambda p: [json.loads(x)["subject"] for x in (p / "alerts.jsonl").read_text().splitlines()]  # noqa
    assert subjects(a) == subjects(b) and any(subjects(a))
    alert_side = {s for s in subjects(a) if s}
    con = duckdb.connect(str(a / "monitor.duckdb"), read_only=True)
    analyst_side = {m for (m,) in con.execute("SELECT member FROM members").fetchall()}
    assert alert_side and analyst_side and not (alert_side & analyst_side)


def test_s2_another_key_gives_other_pseudonyms(two_runs: tuple[Path, Path, str], tmp_path: Path) -> None:
    a, _, _ = two_runs
    assert run(tmp_path, "another-key").returncode == 0
    first = {json.loads(x)["subject"] for x in (a / "alerts.jsonl").read_text().splitlines()}
    other = {json.loads(x)["subject"] for x in (tmp_path / "alerts.jsonl").read_text().splitlines()}
    assert not (first - {None}) & (other - {None})


def test_s3_snapshot_columns_are_on_the_allowlist(two_runs: tuple[Path, Path, str]) -> None:
    a, _, _ = two_runs
    con = duckdb.connect(str(a / "monitor.duckdb"), read_only=True)
    tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables <= ALLOWLIST.keys()
    for table in tables:
        columns = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                             "table_name = ?", [table]).fetchall()}
        assert columns <= ALLOWLIST[table], (table, columns - ALLOWLIST[table])


def test_s5_the_key_never_reaches_an_output_or_a_log(two_runs: tuple[Path, Path, str], tmp_path: Path) -> None:
    a, _, logs = two_runs
    assert SENTINEL not in logs
    for path in a.iterdir():
        assert SENTINEL.encode() not in path.read_bytes(), path.name
    # a failing run (bad rules) prints one line, without the key either
    bad = tmp_path / "rules.yaml"
    bad.write_text("regions: {}\n")
    proc = run(tmp_path / "out", SENTINEL, "--rules", str(bad))
    assert proc.returncode == 2 and SENTINEL not in proc.stdout + proc.stderr


def test_s5_no_secret_in_tracked_files() -> None:
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    assignment = re.compile(r"(?i)\b(password|passwd|secret|token|sasl_plain_password|private_key|hmac_key)\s*[:=]\s*"
                            r"['\"][^'\"]{6,}['\"]")
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".jsonl", ".json", ".duckdb"):
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), start=1):
            if assignment.search(line):
                found.append(f"{name}:{number}")
    assert found == []
