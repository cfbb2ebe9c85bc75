"""A tiny, hand-made, deterministic registry and event set for the Kafka tests.

Used when `monitor fixtures` is not available, and by the bad-message test, which needs to know
exactly which line is bad and why.  Every household gets a few headline events (illness, disability,
unemployment, death) spread over 2024, some keyed by household, some naming only the person; every
fifth household gets a newborn (birth registration with household_id, then a person-only event about
the baby, which only the directory learnt from the birth can route).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from monitor import idnumber

REGIONS = ("330102", "330106", "330108", "330183")


def _stamp(day: int, seconds: int) -> str:
    t = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(days=day,
                                                                                                  seconds=seconds)
    return t.isoformat()


def household(i: int, rng: random.Random) -> dict[str, Any]:
    region = REGIONS[i % len(REGIONS)]
    members = []
    head_born = dt.date(1960 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28))
    members.append({"person_id": idnumber.make(region, head_born, 2 * i + 1, "M"), "relation": "head",
                    "birth_date": head_born.isoformat(), "sex": "M", "work_capable": True,
                    "employed": rng.random() < 0.7, "monthly_income": float(rng.randrange(0, 4000)),
                    "disability": None, "chronic": rng.random() < 0.2})
    if rng.random() < 0.7:
        born = dt.date(head_born.year + rng.randrange(-3, 4), 1 + rng.randrange(12), 1 + rng.randrange(28))
        members.append({"person_id": idnumber.make(region, born, 2 * i + 2, "F"), "relation": "spouse",
                        "birth_date": born.isoformat(), "sex": "F", "work_capable": True,
                        "employed": rng.random() < 0.5, "monthly_income": float(rng.randrange(0, 3000)),
                        "disability": None, "chronic": False})
    if rng.random() < 0.6:
        born = dt.date(2008 + rng.randrange(12), 1 + rng.randrange(12), 1 + rng.randrange(28))
        members.append({"person_id": idnumber.make(region, born, 2 * i + 500, "F"), "relation": "child",
                        "birth_date": born.isoformat(), "sex": "F", "work_capable": False, "employed": False,
                        "monthly_income": 0.0, "disability": None, "chronic": False})
    return {"household_id": f"H{region}{i:07d}", "region": region,
            "category": rng.choice(["dibao", "dibian", "tekun", "rigid", "rrm", "none"]), "members": members,
            "assets": {"deposits": float(rng.randrange(0, 30000)), "financial": 0.0,
                       "owned_housing_m2": float(rng.randrange(0, 90)), "vehicles": 0},
            "as_of": "2024-01-01"}


def events_for(i: int, h: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    hid = h["household_id"]
    out: list[dict[str, Any]] = []
    n = 0

    def emit(category: str, person: str | None, payload: dict[str, Any], day: int, *, with_household: bool,
             person_only: bool = False) -> None:
        nonlocal n
        n += 1
        event: dict[str, Any] = {"event_id": f"e-{hid}-{n:03d}", "category": category,
                                 "occurred_at": _stamp(day, rng.randrange(30000)),
                                 "source_dept": "test", "payload": payload}
        if person is not None:
            event["person_id"] = person
        if with_household or person is None:
            event["household_id"] = hid
        if person_only:
            event.pop("household_id", None)
        out.append(event)

    head = h["members"][0]["person_id"]
    someone = rng.choice(h["members"])["person_id"]
    day = rng.randrange(5, 60)
    emit("med_settlement", someone, {"total_cost": 60000.0, "fund_paid": 30000.0, "oop": 30000.0,
                                     "inpatient": True}, day, with_household=rng.random() < 0.5)
    emit("hlth_major_disease_dx", someone, {"disease_code": "C34", "catalogue_major": True}, day + 1,
         with_household=rng.random() < 0.5)
    if rng.random() < 0.5:
        emit("hr_unemployment_registration", head, {"last_monthly_wage": 3000.0}, day + 20,
             with_household=rng.random() < 0.5)
    if rng.random() < 0.4:
        emit("dis_certificate", someone, {"change": "new", "category": "physical", "grade": 2}, day + 40,
             with_household=rng.random() < 0.5)
    if rng.random() < 0.25:
        emit("ps_death_registration", head, {}, day + 80, with_household=rng.random() < 0.5)
    if i % 5 == 0:
        born = dt.date(2024, 1, 1) + dt.timedelta(days=day + 10)
        baby = idnumber.make(h["region"], born, 900 + i % 90, "M")
        emit("ps_birth_registration", baby, {"relation": "child"}, day + 10, with_household=True)
        emit("med_settlement", baby, {"total_cost": 9000.0, "fund_paid": 5000.0, "oop": 4000.0}, day + 30,
             with_household=False, person_only=True)
    emit("em_disaster_loss", None, {"loss_type": "severe", "loss_value": 50000.0}, day + 100,
         with_household=True)
    return out


def write(out: Path, households: int, seed: int = 7) -> tuple[Path, Path]:
    """households.jsonl and events.jsonl (events grouped by household, each in time order)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    regs = [household(i, rng) for i in range(households)]
    events = [e for i, h in enumerate(regs) for e in events_for(i, h, rng)]
    hp, ep = out / "households.jsonl", out / "events.jsonl"
    hp.write_text("".join(json.dumps(h, ensure_ascii=False) + "\n" for h in regs))
    ep.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    return hp, ep
