"""Build households and events from compact YAML case specs (shared by the YAML-driven tests).

A case names members by index, ages in years and events in days before the evaluation time, so a
domain expert can read and extend it without knowing ID-number arithmetic:

    household: {region: "330102", category: dibao, deposits: 2000,
                members: [{relation: head, age: 45, employed: true, income: 3000}, {relation: child, age: 8}]}
    events: [{category: hlth_major_disease_dx, member: 0, days_ago: 10,
              payload: {disease_code: C34, catalogue_major: true}}]
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

from monitor import idnumber
from monitor.model import CST, DAY, Event
from monitor.payloads import PAYLOAD_TYPES, HouseholdRecord

AS_OF = dt.datetime(2024, 6, 30, 12, 0, tzinfo=CST)
AS_OF_T = int(AS_OF.timestamp())


def person_id(region: str, age: int, index: int, sex: str = "M", born: str | None = None) -> str:
    birth = dt.date.fromisoformat(born) if born else dt.date(AS_OF.year - age, 3, 15)
    return idnumber.make(region, birth, 100 + 7 * index, sex)


def household(spec: dict[str, Any], household_id: str = "H-CASE") -> HouseholdRecord:
    region = str(spec.get("region", "330102"))
    members = []
    for i, m in enumerate(spec.get("members", [])):
        sex = m.get("sex", "M" if i % 2 == 0 else "F")
        pid = person_id(region, int(m.get("age", 40)), i, sex, m.get("born"))
        members.append({
            "person_id": pid, "relation": m.get("relation", "head" if i == 0 else "other"),
            "birth_date": str(idnumber.birth_date_of(pid)), "sex": sex,
            "work_capable": m.get("work_capable", m.get("employed", False)),
            "employed": m.get("employed", False), "monthly_income": float(m.get("income", 0.0)),
            "disability": m.get("disability"), "chronic": m.get("chronic", False),
        })
    body = {
        "household_id": household_id, "region": region, "category": spec.get("category", "dibao"),
        "members": members,
        "assets": {"deposits": float(spec.get("deposits", 0.0)), "financial": float(spec.get("financial", 0.0)),
                   "owned_housing_m2": float(spec.get("owned_housing_m2", 60.0)),
                   "vehicles": int(spec.get("vehicles", 0))},
        "as_of": spec.get("as_of", "2023-01-01"),
    }
    return msgspec.convert(body, HouseholdRecord)


def events(record: HouseholdRecord, specs: list[dict[str, Any]]) -> list[Event]:
    out = []
    for i, spec in enumerate(specs):
        t = AS_OF_T - int(round(float(spec.get("days_ago", 0)) * DAY))
        member = spec.get("member")
        if isinstance(member, int):
            pid: str | None = record.members[member].person_id
        elif isinstance(member, dict):  # a new person (a newborn, a spouse moving in)
            pid = person_id(record.region, int(member.get("age", 0)), 50 + i, member.get("sex", "F"))
        else:
            pid = None
        payload = msgspec.convert(spec.get("payload", {}), PAYLOAD_TYPES[spec["category"]])
        occurred = dt.datetime.fromtimestamp(t, CST).isoformat()
        event_id = spec.get("event_id", f"case-{i:03d}")
        digest = hashlib.blake2b(f"{event_id}{t}".encode(), digest_size=8).hexdigest()
        out.append(Event(event_id, spec["category"], t, occurred, pid, record.household_id,
                         spec.get("source_dept"), payload, digest))
    return out
