"""The live stream end to end: real uvicorn processes sharing a data dir, real tokens."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from service_process import ServiceProcess, uvicorn_workers_command
from sse_frames import Frame, frames
from websockets.sync.client import connect

pytestmark = pytest.mark.integration

_FAST = {"STATS_STREAM_POLL_INTERVAL_SECONDS": "0.02", "STATS_STREAM_HEARTBEAT_SECONDS": "0.3"}


class _Workers(ServiceProcess):
    def command(self) -> list[str]:
        return uvicorn_workers_command(self.port, 2)


@pytest.fixture
def stream_service(
    service_factory: type[ServiceProcess], tmp_path
) -> Iterator[tuple[ServiceProcess, str, str]]:
    process = service_factory(data_dir=tmp_path / "data", extra_env=_FAST)
    process.data_dir.mkdir(parents=True)
    writer, reader = process.token("app", "write"), process.token("dash", "read")
    process.start()
    return process, writer, reader


def _post(url: str, token: str, **data: object) -> str:
    response = httpx.post(
        f"{url}/log/event", json=data, headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    event_id: str = response.json()
    return event_id


@contextlib.contextmanager
def _open(
    url: str, token: str, *, params: object = None, headers: dict[str, str] | None = None
) -> Iterator[httpx.Response]:
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=10.0)) as client,
        client.stream(
            "GET",
            f"{url}/log/stream",
            params=params,  # type: ignore[arg-type]
            headers={"Authorization": f"Token {token}", **(headers or {})},
        ) as response,
    ):
        yield response


def _events(stream: Iterator[Frame], count: int) -> list[Frame]:
    found: list[Frame] = []
    for frame in stream:
        if frame.data:
            found.append(frame)
            if len(found) == count:
                break
    return found


def test_a_posted_event_arrives_as_the_stored_json_with_its_id(stream_service) -> None:
    process, writer, reader = stream_service
    with _open(process.url, reader) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = frames(response)
        assert "open" in next(stream).comments
        event_id = _post(process.url, writer, event="signup", uid="u1", plan="pro")
        (frame,) = _events(stream, 1)
    stored = httpx.get(
        f"{process.url}/log/event/{event_id}", headers={"Authorization": f"Token {reader}"}
    ).json()
    assert frame.id == event_id
    assert frame.event == "message"
    assert frame.json() == stored


def test_filters_pick_events_and_bad_ones_are_refused_before_the_stream(stream_service) -> None:
    process, writer, reader = stream_service
    with _open(process.url, reader, params=[("event", "a"), ("event", "c")]) as response:
        stream = frames(response)
        for name in ("a", "b", "c", "b"):
            _post(process.url, writer, event=name, uid="u")
        got = [frame.json()["event"] for frame in _events(stream, 2)]
    assert got == ["a", "c"]
    headers = {"Authorization": f"Token {reader}"}
    bad = httpx.get(f"{process.url}/log/stream", params={"evnt": "a"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid"
    empty = httpx.get(f"{process.url}/log/stream", params={"uid": ""}, headers=headers)
    assert empty.status_code == 422


def test_auth_failures_answer_401_and_403(stream_service) -> None:
    process, writer, _ = stream_service
    assert httpx.get(f"{process.url}/log/stream").status_code == 401
    forbidden = httpx.get(f"{process.url}/log/stream", headers={"Authorization": f"Token {writer}"})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"


def test_heartbeats_come_while_quiet(stream_service) -> None:
    process, _, reader = stream_service
    with _open(process.url, reader) as response:
        stream = frames(response)
        assert "open" in next(stream).comments
        assert "heartbeat" in next(stream).comments


def test_resume_with_last_event_id_loses_and_repeats_nothing(stream_service) -> None:
    process, writer, reader = stream_service
    with _open(process.url, reader) as response:
        stream = frames(response)
        posted = [_post(process.url, writer, event="n", uid="u", i=i) for i in range(10)]
        seen = [frame.id for frame in _events(stream, 5)]
    assert seen == posted[:5]
    posted += [_post(process.url, writer, event="n", uid="u", i=i) for i in range(10, 20)]
    with _open(process.url, reader, headers={"Last-Event-ID": seen[-1]}) as response:
        stream = frames(response)
        resumed = [frame.id for frame in _events(stream, 15)]
        posted.append(_post(process.url, writer, event="n", uid="u", i=20))
        (live,) = _events(stream, 1)
    assert resumed == posted[5:20]
    assert live.id == posted[20]


def test_an_unknown_resume_point_ends_the_stream_with_gone(stream_service) -> None:
    process, _, reader = stream_service
    with _open(process.url, reader, headers={"Last-Event-ID": "entry_nope"}) as response:
        errors = [frame for frame in frames(response) if frame.event == "error"]
    assert len(errors) == 1
    assert json.loads(errors[0].data)["error"]["code"] == "gone"


def test_streams_per_identity_are_limited(service_factory, tmp_path) -> None:
    process = service_factory(
        data_dir=tmp_path / "data", extra_env={**_FAST, "STATS_STREAM_MAX_PER_IDENTITY": "1"}
    )
    process.data_dir.mkdir(parents=True)
    reader = process.token("dash", "read")
    process.start()
    with _open(process.url, reader) as response:
        stream = frames(response)
        next(stream)  # kept: dropping the iterator would close the connection
        second = httpx.get(
            f"{process.url}/log/stream", headers={"Authorization": f"Token {reader}"}
        )
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "too_many_requests"
    # the first client's slot is freed once it has gone
    for _ in range(50):
        with _open(process.url, reader) as response:
            if response.status_code == 200:
                break
    assert response.status_code == 200


def test_two_workers_feed_one_stream(service_factory, tmp_path) -> None:
    """Events accepted by either worker process reach a stream served by one of them."""
    factory = type("_W", (service_factory,), {"command": _Workers.command})
    process = factory(data_dir=tmp_path / "data", extra_env=_FAST)
    process.data_dir.mkdir(parents=True)
    writer, reader = process.token("app", "write"), process.token("dash", "read")
    process.start()
    with _open(process.url, reader) as response:
        stream = frames(response)
        next(stream)
        # a new connection each: the kernel spreads them over the workers
        posted = [_post(process.url, writer, event="w", uid="u", i=i) for i in range(40)]
        got = [frame.id for frame in _events(stream, 40)]
    assert sorted(got) == sorted(posted)
    assert len(set(got)) == 40


def test_websocket_streams_with_the_header_or_a_token_message(stream_service) -> None:
    process, writer, reader = stream_service
    ws_url = process.url.replace("http://", "ws://") + "/log/ws"
    with (
        connect(ws_url, additional_headers={"Authorization": f"Token {reader}"}) as by_header,
        connect(ws_url + "?event=ws") as by_message,
    ):
        by_message.send(json.dumps({"token": reader}))
        threading.Event().wait(0.3)  # both subscribed before the post
        event_id = _post(process.url, writer, event="ws", uid="u")
        first = json.loads(_next_event(by_header))
        second = json.loads(_next_event(by_message))
    assert first["event_id"] == second["event_id"] == event_id
    with connect(ws_url) as anonymous:
        anonymous.send(json.dumps({"token": "nonsense"}))
        refused = json.loads(anonymous.recv(timeout=5))
        assert refused["error"]["code"] == "unauthorized"


def _next_event(socket) -> str:
    while True:
        message: str = socket.recv(timeout=10)
        if "event_id" in message:
            return message


def test_a_stopping_service_ends_its_streams_with_shutdown(stream_service) -> None:
    process, _, reader = stream_service
    with _open(process.url, reader) as response:
        stream = frames(response)
        assert "open" in next(stream).comments
        stopper = threading.Thread(target=process.stop)
        stopper.start()
        errors = [frame for frame in stream if frame.event == "error"]
        stopper.join(20)
    # ended by the service (a frame), not cut by the graceful-shutdown timeout (no frame)
    assert [json.loads(frame.data)["error"]["code"] for frame in errors] == ["shutdown"]
