"""The faust floor: what faust itself costs per event, with no engine (`python -m bench.faust_floor worker`).

The worker's two main agents, hollowed out. A router reads the five input topics and forwards each raw
message, under its own key, to the deployment's `{app}-routed` topic; a household agent reads the registry and
that topic and writes each message's bytes to a RocksDB table with a changelog. That is the messages an event
costs the worker (one input read, one routed write and read, one state write) and nothing else: no
validation, no merge, no scoring, no alerts. `FLOOR_MODE=consume` makes both agents only count what they
read. The app has the worker's transport settings (`monitor.runtime.worker.faust_app`) and uses faust as
its documentation does (`async for` over `stream.events()`, faust's own acks and commits).

Every 0.2 s the process logs `FLOOR <router count> <household count> <first> <last>`: how many messages each
agent has read, and the `perf_counter` of the first and of the latest message either read. bench/kafka.py
reads the rate from those lines. Configured by the worker's environment (MONITOR_BROKER,
MONITOR_TOPIC_PREFIX, MONITOR_PARTITIONS, MONITOR_DATA_DIR) plus FLOOR_MODE and FLOOR_APP_ID.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from monitor.config import Settings
from monitor.runtime.topics import topics_for
from monitor.runtime.worker import ROCKSDB_OPTIONS, faust_app

__all__ = ["FLOOR_LINE", "FLOOR_MODES", "build_floor"]

FLOOR_LINE = "FLOOR"
FLOOR_MODES = {"consume": "consume only", "forward": "the worker's messages (routed hop, state write), no engine"}
REPORT_INTERVAL_S = 0.2


def build_floor(settings: Settings, name: str, *, forward: bool) -> Any:
    """The floor app: `forward` makes the router send to the routed topic and the household agent write the table."""
    topics = topics_for(settings)
    app = faust_app(settings, name)
    # Made with every topic of the deployment by `monitor produce`, before the floor starts (a topic made after
    # faust subscribed was not read in time); only the forward mode writes to it.
    routed_name = topics.routed

    def topic(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

    routed = topic(routed_name)
    table = app.Table("floor", default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                      options=dict(ROCKSDB_OPTIONS))
    counts = [0, 0]  # router, household agent
    seen = [0.0, 0.0]  # perf_counter of the first and of the latest message

    def note(agent: int) -> None:
        now = time.perf_counter()
        if not seen[0]:
            seen[0] = now
        seen[1] = now
        counts[agent] += 1

    @app.agent(topic(*topics.inputs), concurrency=1, name="router")
    async def router(stream: Any) -> None:
        async for event in stream.events():
            note(0)
            if forward:
                await routed.send(key=event.key, value=event.value)

    @app.agent(topic(topics.households, routed_name), concurrency=1, name="households")
    async def households(stream: Any) -> None:
        async for event in stream.events():
            note(1)
            if forward:
                table[event.key or b""] = event.value

    log = logging.getLogger("bench.faust_floor")

    @app.timer(interval=REPORT_INTERVAL_S)
    async def report() -> None:
        log.warning("%s %d %d %.6f %.6f", FLOOR_LINE, counts[0], counts[1], seen[0], seen[1])

    return app


if __name__ == "__main__":  # started as any worker (`worker --loglevel info`); the arguments are not read
    import faust

    # faust.Worker rather than app.main(): faust's `worker` command would switch the web server on, on port 6066.
    floor = build_floor(Settings.from_env(), os.environ["FLOOR_APP_ID"], forward=os.environ["FLOOR_MODE"] == "forward")
    faust.Worker(floor, loglevel="info").execute_from_commandline()
