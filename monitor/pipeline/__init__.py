"""The pure core, in the order an event meets it; no faust, kafka or duckdb imports here.

    raw bytes ──validate──▶ Event ──route──▶ (household) ──apply_event──────────────────────────▶ Applied
       │ (validate.py)          (route.py)        │ profile.py: dedupe by event_id, keep event-time order
       ▼                                          ├─ household.py: advance the facts (members, incomes, ...)
    dead letter                                   ├─ score.py: 67 indicators → 6 dimension scores → score
                                                  └─ alerts.py: rules.yaml → at most one alert per event

`portrait.py` re-evaluates a household at the run's as-of time for the profile and the snapshot.
Both runtimes (monitor/runtime/embedded.py and monitor/runtime/worker.py) call exactly these functions.
"""

from monitor.pipeline.profile import Applied, HouseholdState, Status, apply_event, new_state
from monitor.pipeline.route import Directory
from monitor.pipeline.validate import decode_household, validate_event

__all__ = ["Applied", "Directory", "HouseholdState", "Status", "apply_event", "decode_household", "new_state",
           "validate_event"]
