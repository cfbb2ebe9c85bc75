"""`monitor run` end to end on files: outputs, dead letters, determinism, privacy of every output."""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from monitor import idnumber

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
pytestmark = pytest.mark.e2e

ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def monitor(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, env={"PATH": "/usr/bin:/bin", "MONITOR_PSEUDONYM_KEY": "e2e-test-key"})


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run1")
    proc = monitor("run", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    (out / "stdout.txt").write_text(proc.stdout)
    return out


def _alerts(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]


def test_run_on_the_bundled_fixtures_writes_all_outputs_and_a_summary(bundled: Path) -> None:
    for name in ("alerts.jsonl", "deadletter.jsonl", "monitor.duckdb"):
        assert (bundled / name).is_file()
    summary = (bundled / "stdout.txt").read_text()
    for word in ("applied", "dead-lettered", "red", "orange", "yellow", "Households by level"):
        assert word in summary
    levels = {a["level"] for a in _alerts(bundled)}
    assert levels == {"red", "orange", "yellow"}


def test_exactly_one_dead_letter_per_bad_line(bundled: Path) -> None:
    expected = json.loads((FIXTURES / "expected_deadletters.json").read_text())
    got = [json.loads(line) for line in (bundled / "deadletter.jsonl").read_text().splitlines()]
    by_line = {(d["source"]["file"], d["source"]["line"]): d["reason"] for d in got}
    assert len(got) == len(expected)
    for item in expected:
        assert by_line[("events.jsonl", item["line"])] == item["reason"], item


def test_every_alert_rule_and_family_is_exercised(bundled: Path) -> None:
    alerts = _alerts(bundled)
    rule_ids = {a["rule_id"] for a in alerts}
    for rule in ("R1_eligible_not_covered", "R2_two_headline_streams", "R3_minor_without_guardian",
                 "R4_last_earner_died", "R5_medical_cost_no_cover", "F_headline_high", "F_headline_any"):
        assert rule in rule_ids, rule
    assert {"ILL", "DIS", "UNEMP", "DEATH"} <= {a["trigger_family"] for a in alerts}
    assert any(a["supersedes"] for a in alerts)


def test_a_second_run_gives_identical_alerts_but_emitted_at(bundled: Path, tmp_path: Path) -> None:
    proc = monitor("run", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0
    strip = lambda rows: [{k: v for k, v in r.items() if k != "emitted_at"} for r in rows]  # noqa: E731
    assert strip(_alerts(bundled)) == strip(_alerts(tmp_path))


def test_no_raw_identifier_in_any_output(bundled: Path) -> None:
    for name in ("alerts.jsonl", "deadletter.jsonl", "stdout.txt"):
        text = (bundled / name).read_text()
        leaked = [m for m in ID_PATTERN.findall(text) if idnumber.is_valid(m.upper())]
        assert leaked == [], name
        assert MOBILE.findall(text) == [], name
    con = duckdb.connect(str(bundled / "monitor.duckdb"), read_only=True)
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
            for value in row:
                for m in ID_PATTERN.findall(str(value)):
                    assert not idnumber.is_valid(m.upper()), table


def test_snapshot_tables_and_read_only_access(bundled: Path) -> None:
    from monitor.runtime.snapshot import open_read_only

    con = open_read_only(bundled / "monitor.duckdb")
    tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"households", "indicator_values", "alerts", "events", "indicators", "snapshot_meta"} <= tables
    cols = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'households'").fetchall()}
    assert {"household_id", "region", "category", "member_count", "score", "level", "income", "assets",
            "expenditure", "health_disability", "employment", "family_events", "tags", "needs",
            "events_applied", "last_event_at"} <= cols
    assert con.execute("SELECT count(*) FROM indicators").fetchone() == (67,)
    with pytest.raises(duckdb.Error):
        con.execute("CREATE TABLE x (a INT)")
    with pytest.raises(duckdb.Error):
        con.execute("SELECT * FROM read_csv('/etc/passwd')")
    meta = con.execute("SELECT events_applied, events_dead_lettered FROM snapshot_meta").fetchone()
    assert meta is not None and meta[0] > 0 and meta[1] > 0


def test_shuffled_and_duplicated_input_gives_the_same_snapshot(bundled: Path, tmp_path: Path) -> None:
    lines = (FIXTURES / "events.jsonl").read_text().splitlines()
    bad = {item["line"] for item in json.loads((FIXTURES / "expected_deadletters.json").read_text())}
    good = [line for i, line in enumerate(lines, start=1) if i not in bad]
    rng = random.Random(5)
    shuffled = good + rng.sample(good, 50)
    rng.shuffle(shuffled)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(shuffled) + "\n")
    proc = monitor("run", "--households", str(FIXTURES / "households.jsonl"), "--events", str(events),
                   "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    query = ("SELECT household_id, score, level, income, assets, expenditure, health_disability, employment, "
             "family_events, events_applied FROM households ORDER BY household_id")
    a = duckdb.connect(str(bundled / "monitor.duckdb"), read_only=True).execute(query).fetchall()
    b = duckdb.connect(str(tmp_path / "out" / "monitor.duckdb"), read_only=True).execute(query).fetchall()
    assert a == b
    ids = lambda out: sorted(x["alert_id"] for x in _alerts(out))  # noqa: E731
    assert ids(bundled) == ids(tmp_path / "out")


def test_run_with_no_arguments_and_a_progress_bar_uses_the_bundled_fixtures(tmp_path: Path) -> None:
    proc = monitor("run", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "300 households" in proc.stdout
    assert (tmp_path / "monitor.duckdb").is_file()


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    proc = monitor("run", "--households", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "missing.jsonl" in proc.stderr
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("regions: [1, 2]\n")
    proc = monitor("run", "--rules", str(bad_rules), "--out", str(tmp_path))
    assert proc.returncode == 2 and "rules.yaml" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for args, named in ((("fixtures", "--households", "many", "--out", str(tmp_path)), "--households"),
                        (("snapshot", "--out", str(tmp_path / "s.duckdb"), "--jobs", "0"), "--jobs"),
                        (("run", "--out", str(tmp_path), "--jobs", "two"), "--jobs"),
                        # an output place that cannot be a directory: refused before any work, not a traceback
                        (("run", "--out", str(a_file / "out")), str(a_file / "out")),
                        (("fixtures", "--households", "2", "--out", str(a_file / "gen")), str(a_file / "gen")),
                        (("snapshot", "--out", str(a_file / "s.duckdb")), str(a_file)),
                        (("snapshot", "--out", str(tmp_path)), "is a directory"),
                        (("run", "--events", str(tmp_path), "--out", str(tmp_path)), "a directory, not a file")):
        proc = monitor(*args)
        assert proc.returncode == 2 and named in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, args


def test_the_broker_commands_say_in_one_line_that_no_broker_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "MONITOR_PSEUDONYM_KEY": "e2e-test-key", "MONITOR_BROKER": f"kafka://127.0.0.1:{port}"}
    # Side by side: kafka-python gives up bootstrapping after about 30 s.
    running = [subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for args in (("alerts",), ("snapshot", "--out", str(tmp_path / "s.duckdb")))]
    for proc in running:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, stderr
        assert len(stderr.strip().splitlines()) == 1 and "MONITOR_BROKER" in stderr and str(port) in stderr, stderr
    assert not (tmp_path / "s.duckdb").exists()


def test_profile_command_shows_a_household(bundled: Path) -> None:
    con = duckdb.connect(str(bundled / "monitor.duckdb"), read_only=True)
    (household_id,) = con.execute("SELECT household_id FROM households ORDER BY score DESC LIMIT 1").fetchone()
    proc = monitor("profile", household_id, "--out", str(bundled))
    assert proc.returncode == 0, proc.stderr
    assert household_id in proc.stdout and "Dimension scores" in proc.stdout and "Alerts" in proc.stdout
    proc = monitor("profile", "H-NOT-THERE", "--out", str(bundled))
    assert proc.returncode == 1


def test_bundled_fixtures_exercise_all_48_categories_and_all_67_indicators() -> None:
    from indicators import REGISTRY
    from monitor.categories import CATEGORIES
    from monitor.pipeline.rules import load_rules
    from monitor.privacy import Pseudonymiser
    from monitor.runtime.embedded import run_embedded

    result = run_embedded(FIXTURES / "households.jsonl", [FIXTURES / "events.jsonl"], load_rules(ROOT / "rules.yaml"),
                          Pseudonymiser(b"k"))
    assert {category for _, _, category, _ in result.event_index} == set(CATEGORIES)
    assert sorted(set(REGISTRY.ids()) - result.indicators_fired) == []
    assert {a.kind for a in result.anomalies} >= {"pension_after_death", "contribution_after_death",
                                                  "subsidy_after_revocation"}
