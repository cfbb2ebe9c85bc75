"""What each size measures.  Targets are the issue's and are not to be changed here.

Quick must stay well under 10 minutes on the 2-core benchmark machine, so its 100k-household engine
run has its apply phase capped by a time budget (the read phase runs over every line); full runs
100k households completely and caps the apply phase at 1M households; scale runs the 1M households
completely (about an hour of scoring: `--size scale --only embedded`), for the 1M targets' verdicts,
and scale-pooled does the same with `monitor run`'s default `--jobs` (a pool of processes).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIZES", "TARGETS", "EngineCase", "KafkaPlan", "Plan"]


@dataclass(frozen=True)
class EngineCase:
    """One embedded data set: households generated with `seed`, apply phase capped at `budget_s` (None: not).

    `jobs` are the engine runs on it, one after the other: 1 is one process (the one-core figure), 0 is
    `monitor run`'s default `--jobs` (every CPU the run may use; only for complete runs, budget_s None).
    """

    households: int
    budget_s: float | None
    seed: int = 1
    jobs: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class KafkaPlan:
    """The Kafka measurements: end-to-end set size, worker counts, the steady-rate latency run."""

    households: int  # generated households whose registry and events go end to end
    workers: tuple[int, ...]
    latency_rate: int  # events per second, sent at a fixed pace
    # Rates sent before it, on the same worker, lowest first: how far one worker keeps p99 within the target.
    latency_context_rates: tuple[int, ...]
    latency_seconds: float
    latency_wait_s: float  # how long to wait for the last alerts after the last send
    # The target rate sent again to this many workers (0: not run): does scaling out reach the target here?
    latency_scaled_workers: int
    e2e_timeout_s: float


@dataclass(frozen=True)
class Plan:
    """Everything one `--size` runs."""

    engine: tuple[EngineCase, ...]
    stages_households: int
    snapshot_households: int
    snapshot_base: int  # real households the snapshots' households are replicated from
    stream_snapshot_households: int  # replicated households on a profiles changelog, for `monitor snapshot`
    stream_snapshot_single_process_too: bool  # also time `--jobs 1` beside the default (all CPUs)
    kafka: KafkaPlan


SIZES: dict[str, Plan] = {
    "quick": Plan(
        engine=(EngineCase(10_000, None, jobs=(1, 0)), EngineCase(100_000, 20.0)),
        stages_households=5_000,
        snapshot_households=100_000,
        snapshot_base=1_000,
        stream_snapshot_households=20_000,
        stream_snapshot_single_process_too=True,
        kafka=KafkaPlan(households=500, workers=(1, 2), latency_rate=1_000,
                        latency_context_rates=(100, 200, 400), latency_seconds=5.0,
                        latency_wait_s=20.0, latency_scaled_workers=2, e2e_timeout_s=240.0),
    ),
    "full": Plan(
        engine=(EngineCase(100_000, None, jobs=(1, 0)), EngineCase(1_000_000, 300.0)),
        stages_households=5_000,
        snapshot_households=1_000_000,
        snapshot_base=1_000,
        stream_snapshot_households=1_000_000,
        stream_snapshot_single_process_too=False,  # (it would add 10 min)
        kafka=KafkaPlan(households=5_000, workers=(1, 2), latency_rate=1_000,
                        latency_context_rates=(100, 200, 400), latency_seconds=30.0,
                        latency_wait_s=90.0, latency_scaled_workers=2, e2e_timeout_s=900.0),
    ),
}
SIZES["scale"] = Plan(
    engine=(EngineCase(1_000_000, None),),
    stages_households=SIZES["full"].stages_households,
    snapshot_households=SIZES["full"].snapshot_households,
    snapshot_base=SIZES["full"].snapshot_base,
    stream_snapshot_households=SIZES["full"].stream_snapshot_households,
    stream_snapshot_single_process_too=False,
    kafka=SIZES["full"].kafka,
)
# The complete 1M run again with `monitor run`'s default --jobs (`--size scale-pooled --only embedded`).
SIZES["scale-pooled"] = Plan(**{**SIZES["scale"].__dict__, "engine": (EngineCase(1_000_000, None, jobs=(0,)),)})

# The targets (issue 5).
TARGETS = {
    "embedded_100k_events_per_s": 100_000,
    "embedded_1m_events_per_s": 50_000,
    "embedded_1m_peak_rss_bytes": 6 * 10**9,
    "kafka_one_worker_events_per_s": 10_000,
    "kafka_one_worker_share_of_raw": 0.5,
    "kafka_p99_ms_at_1000_per_s": 100.0,
    "snapshot_1m_seconds": 20.0,
}
