"""Snapshot from the stream: `monitor snapshot` on a deployment holding N households, on the bench broker.

Applying a million households' events through Kafka would take hours, so a first child scores a small
real set (the `base` households of a generated data set) with the embedded engine and writes N replicas
of its final states to a fresh deployment's profiles changelog (one record per household, as compaction
leaves it), with their alerts on its alert feed (each alert once, with a new alert id).  A replica's
household id and its members' person ids are new and of the same length (the person ids keep their
region and birth date, so ages do not change), replaced in the encoded bytes.  A second child then
does what `monitor snapshot` does (`write_stream_snapshot`), timed with its own peak RSS: read and
spool the changelog, the feed and the dead letters; decode each state, evaluate its portrait at the
as-of time, build the frames; write the DuckDB file.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.proc import emit, rss_limit, run_child

__all__ = ["measure_stream_snapshot", "stream_snapshot_child"]

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _replica_person(person_id: str, i: int) -> str:
    """Region and birth date kept, the last four characters the replica number in base 36 (unique below 36**4)."""
    tail = ""
    for _ in range(4):
        i, digit = divmod(i, 36)
        tail = _BASE36[digit] + tail
    return person_id[:14] + tail


def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    from kafka import KafkaProducer

    from monitor.config import Settings
    from monitor.pipeline.profile import encode_state
    from monitor.pipeline.rules import load_rules
    from monitor.records import alert_record, encode_line
    from monitor.runtime.embedded import run_embedded
    from monitor.runtime.topics import bootstrap_servers, ensure_topics, topics_for

    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    base = run_embedded(Path(spec["base_households"]), [Path(spec["base_events"])], rules, settings.pseudonymiser(),
                        keep_states=True)
    ensure_topics(settings)
    topics = topics_for(settings)
    states = sorted(base.states.items())
    encoded = [encode_state(state) for _hid, state in states]
    alerts_of: dict[str, list[Any]] = {}
    for alert in base.alerts:
        alerts_of.setdefault(alert.household_id, []).append(alert)
    # As `monitor produce` does: every send acknowledged by the broker or counted as failed (an unchecked
    # send dropped whole batches of a 10 GB load on a slow evening), batches under the broker's 1 MB limit.
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(settings), acks="all", enable_idempotence=True,
                             linger_ms=20, batch_size=512 * 1024, max_request_size=1 << 20, retries=2**31 - 1,
                             client_id="bench-stream-snapshot")
    acked = {topics.profiles_changelog: 0, topics.alerts: 0}
    failed: list[str] = []

    def send(topic: str, key: bytes, value: bytes) -> None:
        def on_ok(_metadata: Any) -> None:
            acked[topic] += 1

        producer.send(topic, key=key, value=value).add_callback(on_ok).add_errback(
            lambda exc: failed.append(f"{topic}: {type(exc).__name__}: {exc}"))

    started = time.perf_counter()
    n, sent_bytes, alerts = int(spec["households"]), 0, 0
    for i in range(n):
        base_id, state = states[i % len(states)]
        data = encoded[i % len(states)]
        new_id = f"{base_id[:7]}{i:07d}"  # H + region + sequence: the same length as the base id
        data = data.replace(base_id.encode(), new_id.encode())
        for person_id in state.facts.members:
            data = data.replace(person_id.encode(), _replica_person(person_id, i).encode())
        send(topics.profiles_changelog, new_id.encode(), data)
        if i % 10_000 == 9_999:
            producer.flush()  # a queue of gigabytes outlives the delivery timeout of its oldest batches
        sent_bytes += len(data)
        for alert in alerts_of.get(base_id, ()):
            record = alert_record(alert, "2026-11-29T00:00:00Z")
            record.update(household_id=new_id, alert_id=f"{alert.alert_id}-{i}")
            send(topics.alerts, new_id.encode(), encode_line(record))
            alerts += 1
    producer.flush()
    producer.close()
    if failed or acked != {topics.profiles_changelog: n, topics.alerts: alerts}:
        msg = f"the replicas did not all reach the broker: acknowledged {acked}, {len(failed)} failed {failed[:3]}"
        raise RuntimeError(msg)
    return {"households": n, "base_households": len(states), "alerts": alerts, "changelog_bytes": sent_bytes,
            "produce_s": time.perf_counter() - started}


def _snapshot(spec: dict[str, Any]) -> dict[str, Any]:
    from monitor.cli import usable_cpus
    from monitor.config import Settings
    from monitor.pipeline.rules import load_rules
    from monitor.runtime.stream_snapshot import write_stream_snapshot

    settings = Settings.from_env()
    rules = load_rules(settings.rules_path)
    out = Path(spec["out"])
    jobs = spec.get("jobs") or usable_cpus()  # what `monitor snapshot` uses by default
    started, cpu_started = time.perf_counter(), time.process_time()
    stats = write_stream_snapshot(settings, out, rules, jobs=jobs)
    pool = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool's processes, reaped when it closed
    report = {"seconds": time.perf_counter() - started,
              "cpu_s": time.process_time() - cpu_started + pool.ru_utime + pool.ru_stime,
              "jobs": jobs, "pool_peak_rss_bytes": pool.ru_maxrss * 1024 if jobs > 1 else 0,
              "file_bytes": out.stat().st_size, **vars(stats)}
    out.unlink()
    return report


def stream_snapshot_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Child side: prepare the deployment, or take its snapshot."""
    return _prepare(spec) if spec["mode"] == "prepare" else _snapshot(spec)


def measure_stream_snapshot(env: dict[str, str], base: Path, base_events: Path, households: int, out: Path,
                            log: Callable[[str], None], *, single_process_too: bool = False) -> dict[str, Any]:
    """Fill a deployment (`env`: its MONITOR_* settings) with `households` replicas, then time its snapshot.

    With `single_process_too`, the same snapshot is then timed again with `--jobs 1`, for the side-by-side.
    """
    row: dict[str, Any] = {"households": households}
    spec = {"base_households": str(base), "base_events": str(base_events), "households": households}
    prepared = run_child("bench.stream_snapshot", {**spec, "mode": "prepare"}, env=env, rss_limit_bytes=rss_limit(16))
    if not prepared.ok:
        row["error"] = "preparing: " + (prepared.killed or prepared.stderr_tail[-1500:])
        log(f"  stream snapshot of {households:,} households FAILED {row['error'][-800:]}")
        return row
    row["prepared"] = prepared.report
    log(f"  {households:,} replicated states ({prepared.report['changelog_bytes'] / 1e9:.2f} GB) and "
        f"{prepared.report['alerts']:,} alerts produced in {prepared.report['produce_s']:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    child = run_child("bench.stream_snapshot", {**spec, "mode": "snapshot", "out": str(out / "stream.duckdb")},
                      env=env, rss_limit_bytes=rss_limit(16))
    row.update(peak_rss_bytes=child.peak_rss_bytes, killed=child.killed)
    if not child.ok:
        row["error"] = child.killed or child.stderr_tail[-1500:]
        log(f"  stream snapshot of {households:,} households FAILED: {row['error'][-800:]}")
        return row
    rep = child.report
    if rep["households"] != households:  # a figure for fewer households than asked for is not the figure
        row.update(error=f"the snapshot saw {rep['households']:,} of the {households:,} households produced",
                   incomplete=rep)
        log(f"  stream snapshot FAILED: {row['error']}")
        return row
    row.update(rep)
    if single_process_too and rep["jobs"] > 1:
        alone = run_child("bench.stream_snapshot", {**spec, "mode": "snapshot", "out": str(out / "stream.duckdb"),
                                                    "jobs": 1}, env=env, rss_limit_bytes=rss_limit(16))
        row["single_process"] = {"peak_rss_bytes": alone.peak_rss_bytes, **alone.report} if alone.ok else \
            {"error": alone.killed or alone.stderr_tail[-1500:]}
    pool = f" (each of its {rep['jobs']} pool processes at most {rep['pool_peak_rss_bytes'] / 1e9:.2f} GB, " \
        "pages shared with it by fork included)" if rep["jobs"] > 1 else ""
    log(f"  monitor snapshot (write_stream_snapshot, --jobs {rep['jobs']}) of {rep['households']:,} households, "
        f"{rep['alerts']:,} alerts: {rep['seconds']:.1f} s (CPU {rep['cpu_s']:.1f} s): read and spool "
        f"{rep['read_s']:.1f} s, decode + portraits + frames {rep['build_s']:.1f} s, final write "
        f"{rep['write_s']:.1f} s; {rep['file_bytes'] / 1024**2:.0f} MiB, peak RSS {child.peak_rss_bytes / 1e9:.2f} "
        f"GB{pool}")
    alone = row.get("single_process") or {}
    if alone.get("seconds") is not None:
        log(f"    the same with --jobs 1: {alone['seconds']:.1f} s (CPU {alone['cpu_s']:.1f} s; decode + portraits + "
            f"frames {alone['build_s']:.1f} s), peak RSS {alone['peak_rss_bytes'] / 1e9:.2f} GB")
    elif alone:
        log(f"    the same with --jobs 1 FAILED: {alone['error'][-800:]}")
    return row


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    emit(stream_snapshot_child(json.loads(sys.argv[2])))
