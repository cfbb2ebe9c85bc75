"""The synthetic fixture generator: determinism, schema validity, coverage, malformed lines."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import msgspec
import orjson
import pytest
import yaml

from monitor import idnumber
from monitor.categories import CATEGORIES
from monitor.fixturegen import generate, writer
from monitor.fixturegen.regions import REGIONS
from monitor.payloads import PAYLOAD_TYPES, HouseholdRecord

HOUSEHOLD_LEVEL = {"em_disaster_loss", "ca_temporary_assistance", "hs_public_housing", "hs_rural_housing_safety",
                   "agri_rrm_monitoring", "ut_utility_arrears", "ca_assistance_status", "ps_household_register"}
BAD = 30
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("fx")
    counts = generate(300, 11, out, bad_lines=BAD)
    registry = [msgspec.json.decode(line, type=HouseholdRecord)
                for line in (out / "households.jsonl").read_bytes().splitlines()]
    lines = (out / "events.jsonl").read_bytes().split(b"\n")
    assert lines.pop() == b""
    expected = json.loads((out / "expected_deadletters.json").read_text())
    bad_at = {e["line"] for e in expected}
    valid = [(no, orjson.loads(raw), raw) for no, raw in enumerate(lines, 1) if no not in bad_at]
    return {"out": out, "counts": counts, "registry": registry, "lines": lines, "expected": expected,
            "valid": valid}


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    generate(120, 5, tmp_path / "a", bad_lines=14)
    generate(120, 5, tmp_path / "b", bad_lines=14)
    generate(120, 6, tmp_path / "c", bad_lines=14)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert set(a) == {"households.jsonl", "events.jsonl", "expected_deadletters.json"}
    assert a == b
    assert a["households.jsonl"] != c["households.jsonl"]
    assert a["events.jsonl"] != c["events.jsonl"]


def test_external_sort_gives_the_same_file_as_the_in_memory_sort(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    generate(150, 3, tmp_path / "memory", bad_lines=20)
    monkeypatch.setattr(writer, "BUCKET_EVENTS", 97)        # many bucket files
    generate(150, 3, tmp_path / "buckets", bad_lines=20)
    assert _files(tmp_path / "memory") == _files(tmp_path / "buckets")
    assert not [p for p in (tmp_path / "buckets").iterdir() if p.name.startswith(".")], "temp files left"


def test_registry_records_follow_the_contract(fx: dict) -> None:
    registry: list[HouseholdRecord] = fx["registry"]
    assert len(registry) == 300 == fx["counts"]["households"]
    ids = [h.household_id for h in registry]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    seen: set[str] = set()
    for h in registry:
        assert re.fullmatch(r"H\d{6}\d{7}", h.household_id) and h.household_id[1:7] == h.region
        assert h.as_of is not None and h.as_of.isoformat() == "2023-01-01"
        assert 1 <= len(h.members) <= 6
        assert h.members[0].relation == "head"
        for m in h.members:
            assert idnumber.is_valid(m.person_id), m.person_id
            assert idnumber.birth_date_of(m.person_id) == m.birth_date
            assert idnumber.sex_of(m.person_id) == m.sex
            assert m.birth_date < h.as_of
            assert m.person_id not in seen, "a person in two households"
            seen.add(m.person_id)
    shares = collections.Counter(h.category for h in registry)
    assert set(shares) == {"tekun", "dibao", "dibian", "rigid", "rrm", "none"}
    assert shares["dibao"] == max(shares.values())
    lines = (fx["out"] / "households.jsonl").read_bytes().splitlines()
    assert list(orjson.loads(lines[0])) == ["household_id", "region", "category", "members", "assets", "as_of"]


def test_every_valid_event_validates_and_routes(fx: dict) -> None:
    registry = {h.household_id: h for h in fx["registry"]}
    members = {m.person_id: h.household_id for h in fx["registry"] for m in h.members}
    omitted = person_events = 0
    for _no, e, _raw in fx["valid"]:
        assert set(e) <= {"event_id", "category", "person_id", "household_id", "occurred_at", "reported_at",
                          "source_dept", "payload"}
        msgspec.convert(e["payload"], PAYLOAD_TYPES[e["category"]])
        assert e["source_dept"] == CATEGORIES[e["category"]].dept
        assert re.fullmatch(r"20(23-\d\d|24-0[1-6])-\d\dT\d\d:\d\d:\d\d\+08:00", e["occurred_at"])
        assert e["reported_at"] >= e["occurred_at"] and e["reported_at"].endswith("+08:00")
        if e["category"] in HOUSEHOLD_LEVEL:
            assert "person_id" not in e and e["household_id"] in registry
            continue
        pid = e["person_id"]
        assert idnumber.is_valid(pid), e["event_id"]
        person_events += 1
        if "household_id" not in e:
            omitted += 1
            assert members[pid], "an omitted household_id must be resolvable from the registry"
        else:
            assert e["household_id"] in registry
            assert members.get(pid, e["household_id"]) == e["household_id"]
        if e["category"] == "ps_birth_registration":
            assert pid not in members and "household_id" in e
            assert idnumber.birth_date_of(pid).isoformat() == e["occurred_at"][:10]
    assert 0.2 < omitted / person_events < 0.4


def test_all_48_categories_appear(fx: dict) -> None:
    seen = collections.Counter(e["category"] for _, e, _ in fx["valid"])
    assert set(seen) == set(PAYLOAD_TYPES) == set(CATEGORIES)
    assert all(fx["counts"][c] > 0 for c in CATEGORIES)


def test_event_ids_are_unique_and_exact_duplicates_are_identical(fx: dict) -> None:
    first: dict[str, bytes] = {}
    duplicates = 0
    for _no, e, raw in fx["valid"]:
        if e["event_id"] in first:
            assert first[e["event_id"]] == raw, "a conflicting duplicate not listed as a dead letter"
            duplicates += 1
        first[e["event_id"]] = raw
    assert duplicates == fx["counts"]["exact_duplicates"] >= 1
    assert len(first) == fx["counts"]["events"]
    assert len(fx["lines"]) == fx["counts"]["lines"] == fx["counts"]["events"] + BAD + duplicates


def test_feed_order_and_per_household_order(fx: dict) -> None:
    keys = [(e["occurred_at"], e["event_id"]) for _, e, _ in fx["valid"]]
    distinct = list(dict.fromkeys(keys))
    assert distinct == sorted(distinct)
    per_household: dict[str, list[str]] = collections.defaultdict(list)
    for _, e, _ in fx["valid"]:
        per_household[e["event_id"].split("-")[1]].append(e["occurred_at"])
    assert all(times == sorted(times) for times in per_household.values())


def test_expected_deadletters_point_at_the_malformed_lines(fx: dict) -> None:
    expected, lines = fx["expected"], fx["lines"]
    registry = {h.household_id for h in fx["registry"]}
    assert len(expected) == BAD
    assert [e["line"] for e in expected] == sorted(e["line"] for e in expected)
    earlier: dict[str, bytes] = {}
    listed = {e["line"]: e for e in expected}
    for no, raw in enumerate(lines, 1):
        entry = listed.get(no)
        if entry is None:
            earlier.setdefault(orjson.loads(raw)["event_id"], raw)
            continue
        reason = entry["reason"]
        if reason == "invalid_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(raw)
            continue
        doc = orjson.loads(raw)
        if reason == "not_an_object":
            assert isinstance(doc, list)
            continue
        assert isinstance(doc, dict)
        if reason == "missing_field":
            assert "event_id" not in doc or "occurred_at" not in doc
        elif reason == "bad_type":
            assert isinstance(doc["payload"].get("oop"), str) or not doc["occurred_at"].endswith("+08:00")
        elif reason == "out_of_range":
            assert any(isinstance(v, float) and v < 0 for v in doc["payload"].values())
        elif reason == "unknown_category":
            assert doc["category"] not in CATEGORIES
        elif reason == "bad_person_id":
            assert not idnumber.is_valid(doc["person_id"])
        elif reason == "unknown_household":
            assert doc["household_id"] not in registry
        elif reason == "future_timestamp":
            assert doc["occurred_at"].startswith("2099-")
        elif reason == "too_large":
            assert len(raw) > 64 * 1024
        elif reason == "duplicate_id_conflict":
            assert doc["event_id"] in earlier and orjson.loads(earlier[doc["event_id"]])["payload"] != doc["payload"]
        else:
            pytest.fail(f"unexpected reason {reason}")
    reasons = collections.Counter(e["reason"] for e in expected)
    assert len(reasons) == 11                                  # every reason of contract §4.2


def test_deliberate_data_anomalies_are_present(fx: dict) -> None:
    died: dict[str, str] = {}
    revoked: dict[str, str] = {}
    for _, e, _ in fx["valid"]:
        if e["category"] == "ps_death_registration":
            died[e["person_id"]] = e["occurred_at"]
        if e["category"] == "dis_certificate" and e["payload"]["change"] == "revoked":
            revoked[e["person_id"]] = e["occurred_at"]
    after_death = {e["category"] for _, e, _ in fx["valid"]
                   if e.get("person_id") in died and e["occurred_at"] > died[e["person_id"]]}
    assert after_death <= {"hr_pension_payment", "hr_social_insurance_contrib"}
    assert after_death == {"hr_pension_payment", "hr_social_insurance_contrib"}
    assert any(e["category"] == "dis_two_subsidies" and e.get("person_id") in revoked
               and e["occurred_at"] > revoked[e["person_id"]] for _, e, _ in fx["valid"])


def test_death_certificate_matches_the_registration(fx: dict) -> None:
    deaths = {(e["person_id"], e["occurred_at"]) for _, e, _ in fx["valid"]
              if e["category"] == "ps_death_registration"}
    certs = [(e["person_id"], e["occurred_at"]) for _, e, _ in fx["valid"]
             if e["category"] == "hlth_death_medical_cert"]
    assert certs and all(c in deaths for c in certs)


def test_no_bad_lines_means_no_deadletter_list(tmp_path: Path) -> None:
    counts = generate(40, 1, tmp_path)
    assert counts["bad_lines"] == 0 and counts["exact_duplicates"] == 0
    assert not (tmp_path / "expected_deadletters.json").exists()
    assert counts["lines"] == counts["events"] == len((tmp_path / "events.jsonl").read_bytes().splitlines())


def test_progress_reports_households(tmp_path: Path) -> None:
    seen: list[int] = []
    generate(25, 1, tmp_path, progress=seen.append)
    assert seen == [25]


def test_region_figures_mirror_rules_yaml() -> None:
    regions = yaml.safe_load((ROOT / "rules.yaml").read_text())["regions"]
    for region in REGIONS:
        resolved: dict = {}
        for key in ["default"] + [region.code[:n] for n in (2, 4, 6)]:
            resolved.update(regions.get(key, {}))
        assert (region.dibao, region.edge_mult, region.pcdi_prev) == (
            resolved["dibao"], resolved["edge_mult"], resolved["pcdi_prev"]), region.code
