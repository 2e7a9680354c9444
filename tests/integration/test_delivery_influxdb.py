"""Durable delivery against a real influxd: nothing acknowledged is lost, nothing is doubled.

Service-level tests run a real service process on the ``influxdb`` backend
behind the outbox (see ``delivery_service.py``) and check InfluxDB itself
with InfluxQL. Store-level tests drive ``DurableStore`` in this process.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from delivery_service import DeliveryServiceProcess, delivery_env
from influxd import InfluxDServer
from service_process import uvicorn_workers_command

from stats_service.delivery.backoff import Backoff
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.durable import DurableStore
from stats_service.delivery.outbox import Outbox
from stats_service.events.model import Event, format_time
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.v1 import InfluxDBStore

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000
STEP_NS = 1000  # load events are this far apart, one per counter value
OUTAGE_SECONDS = 30.0
IDENTITY = "loadgen"


# -- helpers -----------------------------------------------------------------------------


def run(scenario: Callable[[], Awaitable[T]], timeout_seconds: float = 60) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout_seconds)

    return asyncio.run(bounded())


def influxql(url: str, statement: str, database: str, **params: Any) -> list[dict[str, Any]]:
    form = {"q": statement, "db": database, "epoch": "ns"}
    if params:
        form["params"] = orjson.dumps(params).decode()
    response = httpx.post(f"{url}/query", data=form, timeout=30)
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result or "database not found" in result["error"], result
    series: list[dict[str, Any]] = result.get("series") or []
    return series


def point_count(url: str, database: str) -> int:
    series = influxql(url, 'SELECT count("event_id") FROM "analytics"', database)
    return int(series[0]["values"][0][1]) if series else 0


@dataclass(frozen=True)
class Point:
    time_ns: int
    tags: dict[str, str]
    fields: dict[str, Any]


def stored_points(url: str, database: str, since_ns: int, until_ns: int) -> dict[str, list[Point]]:
    """Every point of the measurement in the window, by event id, in windows of 10,000 steps."""
    found: dict[str, list[Point]] = {}
    window = 10_000 * STEP_NS
    for low in range(since_ns, until_ns, window):
        statement = 'SELECT * FROM "analytics" WHERE time >= $low AND time < $high GROUP BY *'
        for series in influxql(url, statement, database, low=low, high=min(until_ns, low + window)):
            tags = {k: v for k, v in series.get("tags", {}).items() if v}
            columns = series["columns"]
            for row in series["values"]:
                fields = {c: v for c, v in zip(columns[1:], row[1:], strict=True) if v is not None}
                event_id = fields.pop("event_id")
                found.setdefault(event_id, []).append(Point(row[0], tags, fields))
    return found


def wait_for(predicate: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_seconds} s")
        time.sleep(0.1)


def load_event(number: int, *, run_id: str) -> dict[str, Any]:
    return {
        "event": f"page.view{number % 5}",
        "uid": f"user-{number % 97}",
        "event_id": f"{run_id}-{number:07d}",
        "time": format_time(T0 + number * STEP_NS),
        "tags": {"env": "prod"},
        "page": f"/docs/{number % 50}",
        "n": number,
        "ratio": number / 7,
    }


def expected_point(number: int) -> Point:
    return Point(
        time_ns=T0 + number * STEP_NS,
        tags={"event": f"page.view{number % 5}", "env": "prod", "identity": IDENTITY},
        fields={
            "uid": f"user-{number % 97}",
            "page": f"/docs/{number % 50}",
            "n": number,
            "ratio": number / 7,
        },
    )


@pytest.fixture
def start_service(
    tmp_path: Path, influxd: InfluxDServer, influx_database: str
) -> Iterator[Callable[..., DeliveryServiceProcess]]:
    """Start the service on this test's database; ``overrides`` are delivery settings."""
    started: list[DeliveryServiceProcess] = []

    def start(data_dir: Path | None = None, **overrides: object) -> DeliveryServiceProcess:
        process = DeliveryServiceProcess(
            data_dir=data_dir or tmp_path / "data",
            extra_env=delivery_env(influxd.url, influx_database, **overrides),
        )
        if started:
            process.port = started[-1].port
            process.secret_key = started[-1].secret_key
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def writer_client(process: DeliveryServiceProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=process.url,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        timeout=30.0,
    )


@dataclass
class LoadRecord:
    acked: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    retry_after: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)


class Load:
    """Posts numbered batches in a thread until stopped; records each event's fate."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        run_id: str,
        batch: int,
        pause_seconds: float,
        max_requests: int,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.batch = batch
        self.pause = pause_seconds
        self.max_requests = max_requests
        self.record = LoadRecord()
        self.stop = threading.Event()
        self.requests = 0
        self.last_acked = -1
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        number = 0
        record = self.record
        while not self.stop.is_set() and self.requests < self.max_requests:
            numbers = list(range(number, number + self.batch))
            number += self.batch
            body = orjson.dumps([load_event(n, run_id=self.run_id) for n in numbers])
            self.requests += 1
            try:
                response = self.client.post("/log/events", content=body)
            except httpx.TransportError:
                record.unknown.update(numbers)
                self.stop.wait(self.pause)
                continue
            record.statuses[response.status_code] = record.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                assert response.json()["accepted"] == len(numbers), response.text
                record.acked.update(numbers)
                self.last_acked = numbers[-1]
            elif response.status_code == 503:
                record.refused.update(numbers)
                record.retry_after.add(response.headers.get("Retry-After", ""))
            else:
                record.unknown.update(numbers)
            self.stop.wait(self.pause)


def check_exactly_once(
    url: str, database: str, record: LoadRecord, run_id: str, upto: int
) -> dict[str, list[Point]]:
    points = stored_points(url, database, T0, T0 + (upto + 1) * STEP_NS)
    stored = {int(event_id.rsplit("-", 1)[1]) for event_id in points}
    doubled = {event_id for event_id, copies in points.items() if len(copies) > 1}
    assert not doubled, f"stored more than once: {sorted(doubled)[:5]}"
    missing = record.acked - stored
    assert not missing, f"{len(missing)} acknowledged events missing, e.g. {sorted(missing)[:5]}"
    assert not stored & record.refused, "an event answered 503 was stored"
    assert stored <= record.acked | record.unknown
    assert all(event_id.startswith(run_id) for event_id in points)
    for number in sorted(record.acked)[:: max(1, len(record.acked) // 200)]:
        assert points[f"{run_id}-{number:07d}"] == [expected_point(number)]
    return points


# -- through the service ----------------------------------------------------------------------


@pytest.mark.slow
def test_100k_events_through_the_api_are_all_in_influxdb(start_service, influxd, influx_database):
    total, batch = 100_000, 5000
    process = start_service()
    token = process.token(IDENTITY, "write")
    bodies = [
        orjson.dumps([load_event(n, run_id="big") for n in range(start, start + batch)])
        for start in range(0, total, batch)
    ]
    with writer_client(process, token) as client:
        for body in bodies:
            response = client.post("/log/events", content=body)
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == batch
    wait_for(lambda: point_count(influxd.url, influx_database) >= total, 90, "delivery of 100k")
    points = stored_points(influxd.url, influx_database, T0, T0 + total * STEP_NS)
    assert len(points) == total
    for number in range(total):
        assert points[f"big-{number:07d}"] == [expected_point(number)], number


def points_written(url: str) -> int:
    """How many points influxd has accepted over HTTP since it started (``/debug/vars``)."""
    stats = httpx.get(f"{url}/debug/vars", timeout=10).json()
    return sum(v["values"]["pointsWrittenOK"] for k, v in stats.items() if k.startswith("httpd"))


@dataclass
class _TwoWorkerService(DeliveryServiceProcess):
    """The service under ``uvicorn --workers 2``: two processes on one data directory."""

    def command(self) -> list[str]:
        return uvicorn_workers_command(self.port, 2)


def test_of_two_worker_processes_one_forwards_and_each_event_is_written_once(
    tmp_path, influxd, influx_database
):
    total, batch = 10_000, 250
    process = _TwoWorkerService(
        data_dir=tmp_path / "data",
        extra_env={
            **delivery_env(influxd.url, influx_database, forward_linger_seconds=0.05),
            "STATS_LOG_LEVEL": "info",
        },
    )
    process.data_dir.mkdir(parents=True)
    token = process.token(IDENTITY, "write")
    written_before = points_written(influxd.url)
    process.start()
    try:
        for start in range(0, total, batch):
            # A new connection each time, so both workers take some of the load.
            with writer_client(process, token) as client:
                body = orjson.dumps(
                    [load_event(n, run_id="two") for n in range(start, start + batch)]
                )
                response = client.post("/log/events", content=body)
                assert response.status_code == 200, response.text
        wait_for(lambda: point_count(influxd.url, influx_database) >= total, 60, "delivery")
        written = points_written(influxd.url) - written_before
    finally:
        process.stop()
    log = process.log_tail(200_000)
    assert log.count("another process forwards the outbox; this one stands by") == 1
    assert point_count(influxd.url, influx_database) == total
    assert written == total  # no batch was sent twice by two forwarders


def test_same_timestamp_events_are_all_stored_and_retries_once(
    start_service, influxd, influx_database
):
    process = start_service()
    token = process.token(IDENTITY, "write")
    reader = process.token("dashboard", "read")
    stamp = format_time(T0)
    batch = [
        {"event": "click", "uid": f"user-{i}", "event_id": f"same-{i}", "time": stamp, "n": i}
        for i in range(5)
    ]
    with writer_client(process, token) as client:
        for _ in range(2):  # the second POST is a client retry of the same batch
            response = client.post("/log/events", content=orjson.dumps(batch))
            assert response.status_code == 200, response.text
        got = client.get("/log/event/same-3", headers={"Authorization": f"Token {reader}"})
    wait_for(lambda: point_count(influxd.url, influx_database) >= 5, 30, "delivery")
    time.sleep(0.5)  # a doubled delivery would show up by now
    points = stored_points(influxd.url, influx_database, T0, T0 + 100)
    assert {event_id: [p.time_ns for p in copies] for event_id, copies in points.items()} == {
        f"same-{i}": [T0 + i] for i in range(5)
    }
    assert got.status_code == 200, got.text
    assert got.json()["time"] == format_time(T0 + 3)  # moved by 3 ns to stay distinct
    assert got.json()["uid"] == "user-3"


@pytest.mark.slow
def test_an_influxdb_outage_loses_no_acknowledged_event(start_service, influxd, influx_database):
    process = start_service(outbox_max_pending_events=1500, forward_linger_seconds=0.05)
    token = process.token(IDENTITY, "write")
    reader = process.token("dashboard", "read")
    with (
        writer_client(process, token) as client,
        Load(client, run_id="outage", batch=20, pause_seconds=0.05, max_requests=5000) as load,
    ):
        wait_for(lambda: len(load.record.acked) >= 400, 20, "a steady load")
        influxd.stop()
        try:
            outage_started = time.monotonic()
            wait_for(lambda: len(load.record.refused) > 0, OUTAGE_SECONDS, "a full outbox")
            acked_during = load.last_acked
            with httpx.Client(base_url=process.url, timeout=10) as read:
                got = read.get(
                    f"/log/event/outage-{acked_during:07d}",
                    headers={"Authorization": f"Token {reader}"},
                )
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
        finally:
            influxd.start()
        refused_before_restart = len(load.record.refused)
        wait_for(lambda: load.last_acked > acked_during + 200, 30, "acceptance after restart")
    record = load.record
    assert got.status_code == 200, got.text  # read-your-writes from the outbox while down
    assert got.json()["n"] == acked_during
    assert refused_before_restart > 0
    assert record.retry_after
    assert all(value.isdigit() for value in record.retry_after)
    assert record.unknown == set()
    upto = max(record.acked | record.refused)
    wait_for(
        lambda: point_count(influxd.url, influx_database) >= len(record.acked),
        60,
        "delivery of the backlog",
    )
    check_exactly_once(influxd.url, influx_database, record, "outage", upto)


def test_a_killed_service_delivers_every_acknowledged_event_after_restart(
    start_service, influxd, influx_database, tmp_path
):
    data_dir = tmp_path / "data"
    settings = {"forward_linger_seconds": 0.05, "forward_batch_max_events": 1000}
    process = start_service(data_dir, **settings)
    token = process.token(IDENTITY, "write")
    with (
        writer_client(process, token) as client,
        Load(client, run_id="kill", batch=200, pause_seconds=0.0, max_requests=2000) as load,
    ):
        wait_for(
            lambda: len(load.record.acked) >= 6000 and point_count(influxd.url, influx_database),
            30,
            "a load being forwarded",
        )
        process.kill()
        wait_for(lambda: len(load.record.unknown) > 0, 10, "the cut")
        load.stop.set()
    record = load.record
    with Outbox(data_dir / "outbox.sqlite3") as outbox:
        left = outbox.counts_sync()
    # The kill caught delivery mid-way: points were in InfluxDB already (checked before
    # the kill) and acknowledged events were still pending (ingestion outpaces delivery).
    assert left.pending_events > 0
    restarted = start_service(data_dir, **settings)
    assert restarted.process is not None
    upto = max(record.acked | record.unknown)
    wait_for(
        lambda: point_count(influxd.url, influx_database) >= len(record.acked),
        60,
        "delivery after restart",
    )
    check_exactly_once(influxd.url, influx_database, record, "kill", upto)


# -- DurableStore in process ----------------------------------------------------------------


def durable(influxd: InfluxDServer, database: str, path: Path, **changes: Any) -> DurableStore:
    values: dict[str, Any] = {
        "linger_seconds": 0.05,
        "backoff": Backoff(initial_seconds=0.05, max_seconds=0.5),
    }
    values.update(changes)
    return DurableStore(
        InfluxDBStore(InfluxDBConfig(url=influxd.url, database=database, timeout_seconds=5)),
        Outbox(path),
        config=DeliveryConfig(**values),
    )


async def polled(
    predicate: Callable[[], Awaitable[bool]], what: str, timeout_seconds: float = 30
) -> None:
    """Poll state that another task or thread changes; bounded in time."""
    deadline = time.monotonic() + timeout_seconds
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        await asyncio.sleep(0.02)


async def drained(store: DurableStore) -> None:
    async def nothing_pending() -> bool:
        return (await store.status()).pending_events == 0

    await polled(nothing_pending, "draining the outbox")


def event(event_id: str, number: int, value: Any) -> Event:
    return Event(
        event_id=event_id,
        measurement="analytics",
        time_ns=T0 + number,
        tags={"event": "signup", "identity": IDENTITY},
        fields={"uid": f"user-{number}", "n": value},
    )


@pytest.mark.parametrize("established", [True, False], ids=["existing-field", "new-shard"])
def test_a_type_conflict_dead_letters_only_the_bad_point(
    influxd, influx_database, tmp_path, established
):
    good = [event(f"good-{i}", i, i) for i in range(1, 5)]
    bad = event("bad", 9, "not a number")

    async def scenario():
        store = durable(influxd, influx_database, tmp_path / "outbox.sqlite3")
        await store.open()
        try:
            if established:
                await store.write([event("first", 0, 0)])
                await drained(store)
            await store.write([*good[:2], bad, *good[2:]])
            await drained(store)
            return (
                await store.status(),
                await store.deadletters(),
                [await store.get(e.event_id) for e in good],
                await store.get("bad"),
            )
        finally:
            await store.close()

    status, letters, found, missing = run(scenario)
    assert status.dead_letters == 1
    assert [(d.event.event_id, d.status) for d in letters] == [("bad", 400)]
    assert "field type conflict" in letters[0].reason
    assert found == good
    assert missing is None
    assert point_count(influxd.url, influx_database) == len(good) + established


def test_read_your_writes_and_recovery_while_influxd_is_down(influxd, influx_database, tmp_path):
    events = [event(f"e-{i}", i, i) for i in range(50)]

    async def scenario():
        store = durable(influxd, influx_database, tmp_path / "outbox.sqlite3")
        influxd.stop()
        try:
            await store.open()  # influxd is down: opening must still work
            await store.write(events)
            await asyncio.sleep(0.3)
            down = await store.status(), await store.get("e-7"), await store.health()
        finally:
            influxd.start()
        try:
            await drained(store)
            return down, await store.status(), await store.get("e-7")
        finally:
            await store.close()

    (down_status, down_get, down_health), up_status, up_get = run(scenario)
    assert down_status.pending_events == 50
    assert down_status.state == "retrying"
    assert down_status.last_error is not None
    assert "unreachable" in down_status.last_error
    assert down_get == events[7]
    assert down_health.ok is True  # backlog under its bound: still ready
    assert up_status.last_error is None
    assert up_get == events[7]
    assert point_count(influxd.url, influx_database) == 50


def test_the_command_line_can_replay_dead_letters_while_the_service_runs(
    influxd, influx_database, tmp_path
):
    path = tmp_path / "outbox.sqlite3"

    async def scenario():
        store = durable(influxd, influx_database, path, poll_interval_seconds=0.05)
        await store.open()
        try:
            await store.write([event("first", 0, 0)])
            await drained(store)
            await store.write([event("late", 1, "text")])

            async def dead_lettered() -> bool:
                return (await store.status()).dead_letters > 0

            await polled(dead_lettered, "dead-lettering")
            influxql(influxd.url, 'DROP MEASUREMENT "analytics"', influx_database)

            async def command_line() -> int:
                outbox = Outbox(path, create=False, repair_on_start=False)
                await outbox.start()
                try:
                    return await outbox.replay()
                finally:
                    await outbox.stop()

            # The command line's own event loop, as in another process.
            replayed = await asyncio.to_thread(asyncio.run, command_line())
            await drained(store)
            return replayed, await store.status(), await store.get("late")
        finally:
            await store.close()

    replayed, status, late = run(scenario)
    assert replayed == 1
    assert status.dead_letters == 0
    assert late is not None
    assert late.fields["n"] == "text"
