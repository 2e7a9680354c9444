"""InfluxDB2Store against a local recording HTTP server that plays InfluxDB 2.x.

No 2.x server runs here, so these tests pin the exact requests the official
client library makes for us (path, org/bucket/precision, token, gzip, line
protocol, Flux with bound parameters) and how canned answers map back.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event
from stats_service.storage.base import EventQuery
from stats_service.storage.influx.config import InfluxDB2Config
from stats_service.storage.influx.errors import (
    InfluxQueryFailed,
    InfluxUnavailable,
    InfluxWriteRejected,
)
from stats_service.storage.influx.lineprotocol import encode_events
from stats_service.storage.influx.v2 import InfluxDB2Store

T = TypeVar("T")
TOKEN = "secret-token-123"
T0 = 1_763_850_000_123_456_789


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 30)

    return asyncio.run(bounded())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Recorder:
    """A loopback HTTP server that records requests and plays queued answers per path."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: dict[str, list[Answer]] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                url = urlsplit(self.path)
                recorder.requests.append(
                    Recorded(
                        method=self.command,
                        path=url.path,
                        query=parse_qs(url.query),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=raw,
                    )
                )
                queue = recorder.answers.get(url.path) or []
                answer = queue.pop(0) if queue else Answer(204)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = _handle  # noqa: N815 - http.server's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, *answers: Answer) -> None:
        self.answers.setdefault(path, []).extend(answers)

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=10)


@pytest.fixture
def store(recorder: Recorder) -> InfluxDB2Store:
    return InfluxDB2Store(
        InfluxDB2Config(url=recorder.url, org="my org", bucket="stats/b", token=TOKEN)
    )


def event(event_id: str, **overrides) -> Event:
    values = {
        "event_id": event_id,
        "measurement": "analytics",
        "time_ns": T0,
        "tags": {"event": "signup"},
        "fields": {"uid": "u1"},
    }
    values.update(overrides)
    return Event(**values)


def error(status: int, message: str, **headers: str) -> Answer:
    body = json.dumps({"code": "invalid", "message": message}).encode()
    return Answer(status, body, {"Content-Type": "application/json", **headers})


def csv_table(table: int, columns: list[tuple[str, str, bool]], rows: list[list[str]]) -> str:
    """One annotated-CSV table: columns are (label, datatype, in group key)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["#datatype", "string", "long", *(kind for _, kind, _ in columns)])
    writer.writerow(
        ["#group", "false", "false", *("true" if g else "false" for _, _, g in columns)]
    )
    writer.writerow(["#default", "_result", "", *("" for _ in columns)])
    writer.writerow(["", "result", "table", *(label for label, _, _ in columns)])
    for row in rows:
        writer.writerow(["", "", str(table), *row])
    return out.getvalue()


def flux_answer(*tables: str) -> Answer:
    body = "\r\n".join(tables).encode()
    return Answer(200, body, {"Content-Type": "text/csv; charset=utf-8"})


BOUNDS = [
    ("_start", "dateTime:RFC3339", True),
    ("_stop", "dateTime:RFC3339", True),
    ("_time", "dateTime:RFC3339Nano", False),
    ("_measurement", "string", True),
]
BOUND_VALUES = ["1970-01-01T00:00:00Z", "2262-04-11T23:47:16Z", "2025-11-22T22:20:00.123456789Z"]


def extern(request: Recorded) -> dict[str, tuple[str, object]]:
    """The query's bound parameters: name -> (literal type, value)."""
    found = {}
    for statement in request.json()["extern"]["body"]:
        assignment = statement["assignment"]
        found[assignment["id"]["name"]] = (assignment["init"]["type"], assignment["init"]["value"])
    return found


# -- writes -----------------------------------------------------------------------------


def test_write_sends_gzip_line_protocol_with_org_bucket_precision_and_token(recorder, store):
    batch = [event("a", fields={"uid": "u1", "n": 1, "x": 1.0, "s": 'q"\n'}), event("b")]

    async def scenario() -> None:
        async with store:
            await store.write(batch)

    run(scenario)
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.path == "/api/v2/write"
    assert request.query == {"org": ["my org"], "bucket": ["stats/b"], "precision": ["ns"]}
    assert request.headers["authorization"] == f"Token {TOKEN}"
    assert request.headers["content-encoding"] == "gzip"
    assert request.body == encode_events([batch[0]]) + b"\n" + encode_events([batch[1]])


def test_duplicates_in_a_batch_are_sent_once(recorder, store):
    async def scenario() -> None:
        async with store:
            await store.write([event("a"), event("a", time_ns=T0 + 1)])

    run(scenario)
    assert recorder.requests[0].body == encode_events([event("a")])


def test_write_lines_sends_the_lines_as_they_are_the_first_of_an_id_once(recorder, store):
    lines = [("a", b"m,t=1 x=1i 5"), ("b", b"m x=2i 6"), ("a", b"m x=3i 7")]

    async def scenario() -> None:
        async with store:
            await store.write_lines(lines)

    run(scenario)
    (request,) = recorder.requests
    assert request.path == "/api/v2/write"
    assert request.body == b"m,t=1 x=1i 5\nm x=2i 6"


def test_a_refused_one_line_write_names_its_event(recorder, store):
    recorder.answer("/api/v2/write", error(400, "unable to parse 'm x=1i 5': bad"))

    async def scenario() -> InfluxWriteRejected:
        async with store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write_lines([("a", b"m x=1i 5")])
            return caught.value

    rejected = run(scenario)
    assert (rejected.influx_status, rejected.rejected_event_ids) == (400, frozenset({"a"}))


def test_an_unencodable_event_refuses_the_whole_write(recorder, store):
    async def scenario() -> InvalidEvent:
        async with store:
            with pytest.raises(InvalidEvent) as caught:
                await store.write([event("good"), event("bad", tags={"event": "x\\"})])
            return caught.value

    invalid = run(scenario)
    assert invalid.key == "x\\"
    assert "'bad'" in invalid.message
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("answer", "batch_ids", "expected"),
    [
        (
            error(422, 'partial write: field type conflict: input field "n" dropped=1'),
            ["a", "b"],
            (422, 1, None),
        ),
        (error(400, "unable to parse 'x': bad"), ["a"], (400, None, frozenset({"a"}))),
        (error(413, "too large"), ["a", "b"], (413, None, frozenset({"a", "b"}))),
    ],
    ids=["partial-write-unknown-which", "one-event-batch", "too-large"],
)
def test_rejections(recorder, store, answer, batch_ids, expected):
    recorder.answer("/api/v2/write", answer)

    async def scenario() -> InfluxWriteRejected:
        async with store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write([event(i, time_ns=T0 + n) for n, i in enumerate(batch_ids)])
            return caught.value

    rejected = run(scenario)
    assert (rejected.influx_status, rejected.dropped, rejected.rejected_event_ids) == expected
    assert rejected.reason == json.loads(answer.body)["message"]


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (error(503, "busy", **{"Retry-After": "5"}), 5),
        (error(500, "internal"), 1),
        (error(429, "slow down", **{"Retry-After": "2"}), 2),
        (error(401, "unauthorized"), 1),
        (error(404, 'bucket "stats/b" not found'), 1),
    ],
    ids=["503", "500", "429", "401", "404-bucket"],
)
def test_retryable_answers_raise_unavailable_without_the_token(
    recorder, store, answer, retry_after
):
    recorder.answer("/api/v2/write", answer)

    async def scenario() -> InfluxUnavailable:
        async with store:
            with pytest.raises(InfluxUnavailable) as caught:
                await store.write([event("a")])
            return caught.value

    unavailable = run(scenario)
    assert isinstance(unavailable, ServiceUnavailable)
    assert unavailable.influx_status == answer.status
    assert unavailable.retry_after_seconds == retry_after
    assert TOKEN not in str(unavailable)
    assert TOKEN not in repr(store.config)


def test_a_server_that_is_down_is_unavailable_and_unhealthy(recorder, store):
    recorder.server.shutdown()
    recorder.server.server_close()

    async def scenario() -> tuple[bool, InfluxUnavailable]:
        async with store:
            health = await store.health()
            with pytest.raises(InfluxUnavailable) as caught:
                await store.write([event("a")])
            return health.ok, caught.value

    ok, unavailable = run(scenario)
    assert ok is False
    assert "unreachable" in str(unavailable)


def test_health_pings_and_a_closed_store_is_not_ok(recorder, store):
    async def scenario() -> list[bool]:
        before = (await store.health()).ok
        async with store:
            during = (await store.health()).ok
        after = (await store.health()).ok
        with pytest.raises(ServiceUnavailable):
            await store.write([event("a")])
        return [before, during, after]

    assert run(scenario) == [False, True, False]
    assert [r.path for r in recorder.requests] == ["/ping"]
    assert recorder.requests[0].headers["authorization"] == f"Token {TOKEN}"


# -- reads ---------------------------------------------------------------------------------

PIVOTED = [
    *BOUNDS,
    ("event", "string", True),
    ("team", "string", True),
    ("event_id", "string", False),
    ("uid", "string", False),
    ("n", "long", False),
    ("ratio", "double", False),
    ("ok", "boolean", False),
    ("note", "string", False),
    ("_time_ns", "long", False),
]


def pivoted_row(event_id: str, time_ns: int, *, team: str = "blue", note: str = "") -> list[str]:
    values = ["analytics", "signup", team, event_id, "u1", "3", "1", "true", note, str(time_ns)]
    return [*BOUND_VALUES, *values]


def test_query_maps_annotated_csv_to_events_with_types_and_tags(recorder, store):
    recorder.answer(
        "/api/v2/query",
        flux_answer(
            csv_table(0, PIVOTED, [pivoted_row("e2", T0 + 1, note='a "q", b')]),
            csv_table(1, PIVOTED, [pivoted_row("e1", T0, team="")]),
        ),
    )

    async def scenario():
        async with store:
            return await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=5))

    page = run(scenario)
    fields = {"uid": "u1", "n": 3, "ratio": 1.0, "ok": True}
    assert page.events == [
        event("e1", tags={"event": "signup"}, fields=fields),
        event(
            "e2",
            time_ns=T0 + 1,
            tags={"event": "signup", "team": "blue"},
            fields={**fields, "note": 'a "q", b'},
        ),
    ]
    assert type(page.events[0].fields["ratio"]) is float
    assert type(page.events[0].fields["n"]) is int
    assert page.next_after is None


def test_query_binds_every_value_as_a_typed_parameter(recorder, store):
    hostile = 'x") |> drop() //'
    recorder.answer("/api/v2/query", flux_answer(csv_table(0, PIVOTED, [])))

    async def scenario():
        async with store:
            return await store.query(
                EventQuery(
                    since_ns=T0,
                    until_ns=T0 + 10,
                    limit=2,
                    event=hostile,
                    uid=hostile,
                    measurement=hostile,
                    after=(T0 + 1, hostile),
                )
            )

    assert run(scenario).events == []
    (request,) = recorder.to("/api/v2/query")
    assert request.query == {"org": ["my org"]}
    assert request.headers["authorization"] == f"Token {TOKEN}"
    source = request.json()["query"]
    assert hostile not in source
    assert "pivot(" in source
    assert "limit(n: rows)" in source
    assert extern(request) == {
        "bucket": ("StringLiteral", "stats/b"),
        "since": ("IntegerLiteral", str(T0)),
        "until": ("IntegerLiteral", str(T0 + 10)),
        "rows": ("IntegerLiteral", "3"),
        "measurement": ("StringLiteral", hostile),
        "event": ("StringLiteral", hostile),
        "uid": ("StringLiteral", hostile),
        "after_time": ("IntegerLiteral", str(T0 + 1)),
        "after_id": ("StringLiteral", hostile),
    }


def test_query_pages_merge_series_and_report_the_next_key(recorder, store):
    # Each series answers up to limit + 1 rows; the merge keeps the first limit.
    recorder.answer(
        "/api/v2/query",
        flux_answer(
            csv_table(0, PIVOTED, [pivoted_row("b", T0), pivoted_row("d", T0 + 2)]),
            csv_table(
                1, PIVOTED, [pivoted_row("a", T0, team="red"), pivoted_row("c", T0 + 1, team="red")]
            ),
        ),
    )

    async def scenario():
        async with store:
            return await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=3))

    page = run(scenario)
    assert [e.event_id for e in page.events] == ["a", "b", "c"]
    assert page.next_after == (T0 + 1, "c")


@pytest.mark.parametrize(
    "query",
    [
        EventQuery(since_ns=T0, until_ns=T0, limit=5),
        EventQuery(since_ns=T0, until_ns=T0 + 1, limit=5, event=""),
    ],
    ids=["empty-window", "empty-event"],
)
def test_queries_that_cannot_match_send_nothing(recorder, store, query):
    async def scenario():
        async with store:
            return await store.query(query)

    assert run(scenario).events == []
    assert recorder.requests == []


def test_a_limit_below_one_is_refused(store):
    async def scenario():
        async with store:
            await store.query(EventQuery(since_ns=0, until_ns=1, limit=0))

    with pytest.raises(ValueError, match="limit"):
        run(scenario)


def test_get_finds_the_point_then_reads_its_row(recorder, store):
    found = [
        *BOUNDS,
        ("event", "string", True),
        ("team", "string", True),
        ("_field", "string", True),
        ("_value", "string", False),
        ("_time_ns", "long", False),
    ]
    recorder.answer(
        "/api/v2/query",
        flux_answer(
            csv_table(
                0,
                found,
                [[*BOUND_VALUES, "analytics", "signup", "blue", "event_id", "e1", str(T0)]],
            )
        ),
        flux_answer(csv_table(0, PIVOTED, [pivoted_row("e1", T0)])),
    )

    async def scenario():
        async with store:
            return await store.get("e1")

    got = run(scenario)
    assert got == event(
        "e1",
        tags={"event": "signup", "team": "blue"},
        fields={"uid": "u1", "n": 3, "ratio": 1.0, "ok": True},
    )
    first, second = recorder.to("/api/v2/query")
    assert extern(first)["event_id"] == ("StringLiteral", "e1")
    assert extern(second) == {
        "bucket": ("StringLiteral", "stats/b"),
        "since": ("IntegerLiteral", str(T0)),
        "until": ("IntegerLiteral", str(T0 + 1)),
        "measurement": ("StringLiteral", "analytics"),
        "event_id": ("StringLiteral", "e1"),
    }
    assert "e1" not in first.json()["query"] + second.json()["query"]


def test_get_of_an_unknown_id_makes_one_query(recorder, store):
    recorder.answer("/api/v2/query", flux_answer(csv_table(0, BOUNDS, [])))

    async def scenario():
        async with store:
            return await store.get("x'; drop bucket; '")

    assert run(scenario) is None
    assert len(recorder.to("/api/v2/query")) == 1


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (error(400, "compilation failed"), InfluxQueryFailed),
        (error(503, "busy"), InfluxUnavailable),
        (error(401, "unauthorized"), InfluxUnavailable),
    ],
    ids=["bad-query", "busy", "unauthorized"],
)
def test_query_errors(recorder, store, answer, raised):
    recorder.answer("/api/v2/query", answer)

    async def scenario():
        async with store:
            await store.get("a")

    with pytest.raises(raised) as caught:
        run(scenario)
    assert TOKEN not in str(caught.value)
