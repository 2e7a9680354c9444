"""The live stream in Kafka mode: two real API replicas, a real broker, real SSE clients.

Every replica tails every partition of the topic, so a client streaming from
replica A sees what was posted to replica B; the SSE id is a cursor that
resumes on either replica with nothing repeated and nothing skipped.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from kafka_topology import KafkaTopology
from sse_frames import Frame, frames

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka]

_FAST = {"stream_poll_interval_seconds": 0.02, "stream_heartbeat_seconds": 0.3}


@pytest.fixture
def replicas(kafka_topologies: Callable[..., KafkaTopology]) -> tuple[KafkaTopology, str]:
    topology = kafka_topologies(**_FAST)
    topology.add_replica()
    topology.add_replica()
    return topology, topology.token()


def _post(url: str, token: str, name: str) -> str:
    response = httpx.post(
        f"{url}/log/event",
        json={"event": "page.view", "uid": name},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    event_id: str = response.json()
    return event_id


def _burst(url: str, token: str, prefix: str, count: int) -> list[str]:
    """``count`` events in one ``POST /log/events``; their ids."""
    ids = [f"{prefix}-{n:04d}" for n in range(count)]
    body = [{"event": "burst", "uid": prefix, "event_id": event_id} for event_id in ids]
    response = httpx.post(
        f"{url}/log/events", json=body, headers={"Authorization": f"Token {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return ids


@contextlib.contextmanager
def _stream(url: str, token: str, last_event_id: str | None = None) -> Iterator[Iterator[Frame]]:
    headers = {"Authorization": f"Token {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=10.0)) as client,
        client.stream("GET", f"{url}/log/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        stream = frames(response)
        assert "open" in next(stream).comments
        yield stream


def _next_event(stream: Iterator[Frame]) -> Frame:
    for frame in stream:
        assert frame.event == "message", frame.data
        if frame.data:
            return frame
    raise AssertionError("the stream ended")


def _until_quiet(stream: Iterator[Frame]) -> list[Frame]:
    """Events until the first heartbeat (the server had nothing more to send)."""
    found: list[Frame] = []
    for frame in stream:
        assert frame.event == "message", frame.data
        if frame.data:
            found.append(frame)
        elif "heartbeat" in frame.comments:
            return found
    raise AssertionError("the stream ended")


def test_a_stream_from_one_replica_shows_events_posted_to_another(replicas) -> None:
    topology, token = replicas
    replica_a, replica_b = topology.replicas
    with _stream(replica_a.url, token) as stream:
        # the first post creates the topic; replica A finds it and reads it from the start
        warm_up = _post(replica_b.url, token, "warm-up")
        assert _next_event(stream).json()["event_id"] == warm_up
        for number in range(3):
            posted_at = time.monotonic()
            event_id = _post(replica_b.url, token, f"user-{number}")
            frame = _next_event(stream)
            arrived_after = time.monotonic() - posted_at
            assert frame.json()["event_id"] == event_id
            assert frame.json()["uid"] == f"user-{number}"
            assert frame.id is not None
            assert frame.id.startswith(f"{event_id}@")  # the cursor names the event
            assert arrived_after < 2.0, f"arrived after {arrived_after:.2f} s"


@pytest.mark.parametrize("resume_on", [0, 1], ids=["same-replica", "other-replica"])
def test_a_resumed_stream_neither_repeats_nor_skips(replicas, resume_on: int) -> None:
    topology, token = replicas
    urls = [replica.url for replica in topology.replicas]
    run = uuid.uuid4().hex[:6]
    with _stream(urls[0], token) as stream:
        first = _post(urls[1], token, f"{run}-first")
        assert _next_event(stream).json()["event_id"] == first
        # two bursts at once, one to each replica: the partitions fill concurrently,
        # so the replicas' tails may read them in different interleavings
        with ThreadPoolExecutor(2) as pool:
            bursts = list(pool.map(lambda n: _burst(urls[n], token, f"{run}-{n}", 150), (0, 1)))
        posted = [*bursts[0], *bursts[1]]
        cut = [_next_event(stream) for _ in range(100)]  # the client goes after a hundred
    seen = [frame.json()["event_id"] for frame in cut]
    cursor = cut[-1].id
    assert cursor is not None
    later = [_post(urls[n % 2], token, f"{run}-later-{n}") for n in range(12)]
    missed = set(posted) - set(seen) | set(later)
    assert len(missed) == 300 - 100 + 12
    with _stream(urls[resume_on], token, last_event_id=cursor) as resumed:
        again = [_next_event(resumed).json()["event_id"] for _ in range(len(missed))]
        extra = _until_quiet(resumed)
    assert not set(again) & set(seen), "nothing seen before the cut comes again"
    assert sorted(again) == sorted(missed), "nothing missed is skipped, nothing repeats"
    assert [frame.json()["event_id"] for frame in extra] == []
