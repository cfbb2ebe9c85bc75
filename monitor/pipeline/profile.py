"""Stage 4: the household state (一户一画像) and the one function that applies an event to it.

`apply_event` is the fold every runtime calls.  It applies each event id at most once, keeps the
applied events in event-time order, and makes the state a function of the SET of events applied:
an event that arrives in order is applied incrementally; one that arrives late triggers a replay of
the household from its registry baseline, so any arrival order ends in the same state (the replay
scores the household again only from just before the late event: nothing before it can change).
A duplicate is not applied again, but the alerts it triggered are handed back so the runtime can
send them again under the same ids (a crash between the state write and the alert send must not
lose an alert).

A state is bounded: an event that would make its household's encoded state larger than
`MAX_STATE_BYTES` is refused (`Status.TOO_LARGE`, reliability.md F17), because the Kafka runtime
writes the whole state as one changelog record and a record over the producer's limit would stop the
worker for every household of its partition.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
from msgspec import Struct

from indicators.base import Context, Region
from monitor.household import HouseholdFacts, IncomeRows, advance, facts_from_record
from monitor.model import Event
from monitor.payloads import HouseholdRecord
from monitor.pipeline.alerts import Alert, OpenAlert, decide_alert
from monitor.pipeline.anomalies import Anomaly, check_event
from monitor.pipeline.rules import RuleSet
from monitor.pipeline.score import EMPTY_SCORES, Scores, score_household
from monitor.privacy import Pseudonymiser

__all__ = ["MAX_STATE_BYTES", "TOO_LARGE_DETAIL", "Applied", "HouseholdState", "Status", "apply_event",
           "decode_state", "encode_state", "new_state"]

# The changelog record of a state must fit faust's `producer_max_request_size` (1,000,000 bytes) with its
# key and the record's framing; 100 kB of headroom covers both many times over.
MAX_STATE_BYTES = 900_000
TOO_LARGE_DETAIL = f"applying it would make its household's state larger than {MAX_STATE_BYTES:,} bytes"


class Status(StrEnum):
    """What `apply_event` did with the event."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    # Not applied: the state would outgrow MAX_STATE_BYTES.  The state passed in may be half-changed, so
    # the caller goes back to its last stored form (the bytes of the previous `Applied.encoded`).
    TOO_LARGE = "too_large"


class HouseholdState(Struct, dict=True):
    """Everything known about one household; a full-state value, so storing it is idempotent.

    (`dict=True` lets a runtime cache the event index on the object without it being serialised.)
    """

    record: HouseholdRecord
    events: list[Event]
    facts: HouseholdFacts
    alerts: list[Alert]
    open_alerts: dict[str, OpenAlert]
    scores: Scores
    digests: dict[str, str]
    holding: list[str] = []
    anomalies: list[Anomaly] = []
    # A late event replays the household and can create alerts triggered by OTHER events; they are
    # remembered under the late event's id so that its redelivery re-sends them too.
    created_by: dict[str, list[str]] = {}


@dataclass
class Applied:
    """The outcome of one `apply_event` call."""

    state: HouseholdState
    status: Status
    new_alerts: list[Alert] = field(default_factory=list)
    resend_alerts: list[Alert] = field(default_factory=list)
    new_anomalies: list[Anomaly] = field(default_factory=list)
    encoded: bytes = b""  # the new state as `encode_state` gives it (APPLIED only): what a runtime stores


def new_state(record: HouseholdRecord) -> HouseholdState:
    """A household with its registry baseline and no events yet."""
    return HouseholdState(record=record, events=[], facts=facts_from_record(record), alerts=[], open_alerts={},
                          scores=EMPTY_SCORES, digests={})


@dataclass(slots=True)
class _EventIndex:
    """A state's applied events by category, and each event's time by id: what scoring reads."""

    by_category: dict[str, list[Event]] = field(default_factory=dict)
    times: dict[str, int] = field(default_factory=dict)


@dataclass
class _Stepper:
    """Applies events in order to a state, scoring and deciding alerts after each one."""

    state: HouseholdState
    rules: RuleSet
    pseudonymiser: Pseudonymiser
    by_category: dict[str, list[Event]]
    times: dict[str, int]

    def step(self, event: Event) -> Alert | None:
        """Apply one event, in order; returns the alert it raised, if any (anomalies go onto the state)."""
        state = self.state
        region = self.rules.region(state.facts.region)
        previous = state.scores
        if not self.times:  # the first event: compare with the registry baseline, not with zero
            previous = score_household(Context(facts=state.facts, events_by_category={}, t=event.t, region=region),
                                       self.rules)
        ctx = self.score(event, region)
        alert, state.holding = decide_alert(self.rules, ctx, state.scores, previous, event, state.open_alerts,
                                            state.holding, self.pseudonymiser, self.times.get)
        if alert is not None:
            state.alerts.append(alert)
            state.open_alerts[alert.trigger_family] = OpenAlert(alert.alert_id, alert.level, event.t)
        return alert

    def follow(self, event: Event) -> IncomeRows:
        """Apply one event, in order, to the facts, the anomalies and the event index, without scoring it."""
        state = self.state
        incomes = advance(state.facts, event)
        anomaly = check_event(state.facts, state.facts.members.get(event.person_id or ""), event)
        if anomaly is not None:
            state.anomalies.append(anomaly)
        self.by_category.setdefault(event.category, []).append(event)
        self.times[event.event_id] = event.t
        return incomes

    def rescore(self, event: Event) -> None:
        """Apply one event, in order, and work out the scores and the rules holding after it, not its alert.

        The rules holding after an event depend on its scores and on the scores before it (a "rising" score
        rule), not on which rules held before: the event before this one must have been scored.
        """
        state = self.state
        previous = state.scores
        ctx = self.score(event, self.rules.region(state.facts.region))
        _, state.holding = decide_alert(self.rules, ctx, state.scores, previous, event, state.open_alerts,
                                        state.holding, self.pseudonymiser, self.times.get)

    def score(self, event: Event, region: Region) -> Context:
        """Follow the event, score the household after it (onto the state), and return the context scored."""
        incomes = self.follow(event)
        ctx = Context(facts=self.state.facts, events_by_category=self.by_category, t=event.t, region=region,
                      trigger=event, known_incomes=incomes)
        self.state.scores = score_household(ctx, self.rules)
        return ctx


def apply_event(state: HouseholdState, event: Event, rules: RuleSet, pseudonymiser: Pseudonymiser, *,
                max_bytes: int = MAX_STATE_BYTES) -> Applied:
    """Apply one routed, validated event to its household's state (mutated and returned)."""
    known = state.digests.get(event.event_id)
    if known is not None:
        if known != event.digest:
            return Applied(state, Status.CONFLICT)
        created = set(state.created_by.get(event.event_id, ()))
        resend = [a for a in state.alerts if a.trigger.event_id == event.event_id or a.alert_id in created]
        return Applied(state, Status.DUPLICATE, resend_alerts=resend)
    state.digests[event.event_id] = event.digest
    if not state.events or state.events[-1].key <= event.key:
        stepper = _stepper_for(state, rules, pseudonymiser)
        state.events.append(event)
        known_anomalies = len(state.anomalies)
        alert = stepper.step(event)
        return _bounded(Applied(state, Status.APPLIED, new_alerts=[alert] if alert else [],
                                new_anomalies=state.anomalies[known_anomalies:]), max_bytes)
    before = {a.alert_id for a in state.alerts}
    seen = {x.anomaly_id for x in state.anomalies}
    at = bisect_left(state.events, event.key, key=_key)
    state.events.insert(at, event)
    rebuilt = _replay_from(state, at, rules, pseudonymiser)
    new_alerts = [a for a in rebuilt.alerts if a.alert_id not in before]
    rebuilt.created_by = dict(state.created_by)
    others = [a.alert_id for a in new_alerts if a.trigger.event_id != event.event_id]
    if others:
        rebuilt.created_by[event.event_id] = others
    return _bounded(Applied(rebuilt, Status.APPLIED, new_alerts=new_alerts,
                            new_anomalies=[x for x in rebuilt.anomalies if x.anomaly_id not in seen]), max_bytes)


def _bounded(applied: Applied, max_bytes: int) -> Applied:
    """The applied outcome with its encoded state, or TOO_LARGE when that encoding is over `max_bytes`."""
    encoded = encode_state(applied.state)
    if len(encoded) > max_bytes:
        return Applied(applied.state, Status.TOO_LARGE)
    applied.encoded = encoded
    return applied


def _stepper_for(state: HouseholdState, rules: RuleSet, pseudonymiser: Pseudonymiser) -> _Stepper:
    # The index of applied events is built only when the state is new to this process, and kept on the state.
    # The stepper itself is not kept there: it refers to the state, and that cycle left every state a worker's
    # cache dropped to the cyclic garbage collector, whose full collections then ran every second or two and
    # took 140 to 325 ms each (a worker with a 500-state cache, 5,000 households; BENCHMARKS.md, twelfth session).
    index = state.__dict__.get("_index")
    if not isinstance(index, _EventIndex):
        index = state.__dict__["_index"] = _EventIndex()
        for event in state.events:
            index.by_category.setdefault(event.category, []).append(event)
            index.times[event.event_id] = event.t
    return _Stepper(state, rules, pseudonymiser, index.by_category, index.times)


def _replay_from(state: HouseholdState, at: int, rules: RuleSet, pseudonymiser: Pseudonymiser) -> HouseholdState:
    """`replay` of the state's events, the late one at index `at`, scoring again only from just before it.

    What the household scores, raises and holds after an event depends only on the events up to it, and
    the state is the replay of its events (under one rules file). So the events before the late one are
    only followed (facts, anomalies, the event index), the last two of them scored (the scores and, for
    the last, the rules holding, which the late event is compared with), and their alerts and open
    alerts are the ones the state already has. A late event near the end of a long history then costs
    the events after it, not the whole history: a worker that receives a household's events a little
    out of order does not crawl through one full replay per event. (After a change of rules.yaml, the
    alerts the events before the late one raised stand as they were sent; a full replay would raise
    them again under the new rules, as new alerts about old events.)
    """
    events = state.events
    if at < 2:  # too few events before it to score two of them: replay them all
        return replay(state.record, events, rules, pseudonymiser, digests=state.digests)
    rebuilt = new_state(state.record)
    stepper = _stepper_for(rebuilt, rules, pseudonymiser)
    rebuilt.events.extend(events)  # (after the stepper is made: it indexes the events it follows)
    for event in events[:at - 2]:
        stepper.follow(event)
    region = rules.region(rebuilt.facts.region)
    stepper.score(events[at - 2], region)  # its scores are what the next event's rules compare with
    stepper.rescore(events[at - 1])
    rebuilt.alerts = [a for a in state.alerts if a.trigger.event_id in stepper.times]  # (the events before it)
    for alert in rebuilt.alerts:
        rebuilt.open_alerts[alert.trigger_family] = OpenAlert(alert.alert_id, alert.level,
                                                              stepper.times[alert.trigger.event_id])
    for event in events[at:]:
        stepper.step(event)
    rebuilt.digests = state.digests
    return rebuilt


def _key(event: Event) -> tuple[int, str]:
    return event.key


def replay(record: HouseholdRecord, events: list[Event], rules: RuleSet, pseudonymiser: Pseudonymiser,
           digests: dict[str, str] | None = None) -> HouseholdState:
    """The state from the registry baseline and these (already sorted, de-duplicated) events."""
    state = new_state(record)
    stepper = _stepper_for(state, rules, pseudonymiser)
    for event in events:
        state.events.append(event)
        stepper.step(event)
    state.digests = digests if digests is not None else {e.event_id: e.digest for e in events}
    return state


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(HouseholdState)


def encode_state(state: HouseholdState) -> bytes:
    """The state as bytes, for a key-value store or a changelog."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> HouseholdState:
    """Inverse of `encode_state`."""
    return _decoder.decode(data)
