"""Log formats, redaction and the request-id / access-log ASGI middleware."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.requests import HTTPConnection

from stats_service.observability.logging import (
    ACCESS_LOGGER,
    JsonFormatter,
    Redactor,
    RequestContextMiddleware,
    RequestIdFilter,
    RequestLog,
    RouteTemplates,
    TextFormatter,
    configure_logging,
    current_request_id,
    new_request_id,
    sane_request_id,
)

_TOKEN = (
    "eyJzdWIiOiJhcHAiLCJqdGkiOiJ0b2tfMWYwYzlhM2I1ZDdlMjQ2OCIsInNjcCI6WyJ3cml0ZSJdLCJpYXQiOjE3M"
    "DAwMDAwMDB9.X9G3UhL7RCbPMGHVhQ-xPuzrz772L7YhufwknSDIZ4o"
)
_COMPRESSED_TOKEN = (
    ".eJw1S9sOgjAM_Zc-rwl4A_crxpiyFa3KRroJEuO_uxg9L-f-gvTowALhxLrgPYYziueQJS8YaGDso2KKRSTWSRx_zX"
    ".g3PSuFGRnfQDDS4VlsjNr_HGoYcqh9jArc4zsj1hLc8"
)


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Restore the root and uvicorn loggers after a test reconfigures them."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _record(message: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object):
    record = logging.LogRecord(
        "stats_service.test", logging.WARNING, __file__, 1, message, args, None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"abc-123", "abc-123"),
        (b"4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        (b"01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        (b"trace:span.1_x", "trace:span.1_x"),
        (b"a" * 128, "a" * 128),
        (b"a" * 129, None),
        (b"", None),
        (b"-leading-dash", None),
        (b"has space", None),
        (b"new\nline", None),
        (b"<script>", None),
        ("caf\u00e9".encode(), None),
    ],
    ids=[
        "simple",
        "hex",
        "ulid",
        "punctuation",
        "max-length",
        "too-long",
        "empty",
        "leading-dash",
        "space",
        "newline",
        "markup",
        "non-ascii",
    ],
)
def test_sane_request_id(raw, expected):
    assert sane_request_id(raw) == expected


def test_new_request_ids_are_sane_and_distinct():
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(sane_request_id(i.encode()) == i for i in ids)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        (f"Authorization: Token {_TOKEN}", _TOKEN),
        (f"bearer {_TOKEN}", _TOKEN),
        (f"got token={_TOKEN} here", _TOKEN),
        (f"compressed {_COMPRESSED_TOKEN}", _COMPRESSED_TOKEN),
        ("header was 'Token not-one-of-ours-but-secret'", "not-one-of-ours-but-secret"),
    ],
    ids=["token-scheme", "bearer-scheme", "bare-token", "compressed-token", "foreign-token"],
)
def test_redactor_blanks_tokens(text, leaked):
    redacted = Redactor()(text)
    assert leaked not in redacted
    assert "<redacted>" in redacted


def test_redactor_blanks_configured_secrets_and_keeps_ordinary_text():
    redact = Redactor(["s3cr3t-signing-key-0123456789abcdef", ""])
    assert redact("key s3cr3t-signing-key-0123456789abcdef used") == "key <redacted> used"
    ordinary = "POST /log/event 200 1.2ms entry_4a42fcc243884bb58cb6d00759c2955d host.example.org"
    assert redact(ordinary) == ordinary


def test_json_formatter_writes_one_object_with_extras_and_request_id():
    formatter = JsonFormatter()
    line = formatter.format(_record(request_id="rid-1", route="/log/event", status=201))
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["message"] == "hello world"
    assert payload["level"] == "warning"
    assert payload["logger"] == "stats_service.test"
    assert payload["request_id"] == "rid-1"
    assert payload["route"] == "/log/event"
    assert payload["status"] == 201
    assert payload["time"].endswith("Z")
    assert "args" not in payload
    assert "msg" not in payload


def _failure() -> ValueError:
    return ValueError(f"bad token {_TOKEN}")


def test_json_formatter_redacts_messages_extras_and_tracebacks():
    formatter = JsonFormatter(Redactor(["very-secret-key-material-000000000"]))
    record = _record("using %s", ("very-secret-key-material-000000000",), detail=f"Token {_TOKEN}")
    error = _failure()
    record.exc_info = (ValueError, error, None)
    line = formatter.format(record)
    assert _TOKEN not in line
    assert "very-secret-key-material" not in line
    assert "ValueError" in json.loads(line)["exception"]


def test_json_formatter_time_is_utc_with_milliseconds():
    record = _record()
    record.created = 1700000000.25
    assert json.loads(JsonFormatter().format(record))["time"] == "2023-11-14T22:13:20.250Z"
    record.created = 1700000001.999
    assert json.loads(JsonFormatter().format(record))["time"] == "2023-11-14T22:13:21.999Z"


def test_text_formatter_shows_request_id_and_redacts():
    line = TextFormatter().format(_record("auth header Token %s", (_TOKEN,), request_id="rid-9"))
    assert "[rid-9]" in line
    assert "WARNING stats_service.test" in line
    assert _TOKEN not in line


def test_request_id_filter_marks_lines_outside_requests():
    record = _record()
    assert RequestIdFilter().filter(record) is True
    assert record.request_id == "-"


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("log_format", ["json", "text"], ids=["json", "text"])
def test_configure_logging_routes_uvicorn_through_one_handler(log_format):
    stream = io.StringIO()
    configure_logging(log_format=log_format, level="info", stream=stream)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("stats_service.x").debug("not shown at info")
    logging.getLogger("uvicorn.access").info("uvicorn's own access line")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "Started server process" in lines[0]
    if log_format == "json":
        assert json.loads(lines[0])["logger"] == "uvicorn.error"
    assert not logging.getLogger("uvicorn.access").hasHandlers()


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_twice_replaces_its_own_handler_only():
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(log_format="json", stream=second)
    logging.getLogger("stats_service.x").warning("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    assert foreign in logging.getLogger().handlers


def test_configure_logging_refuses_unknown_formats():
    with pytest.raises(ValueError, match="log_format"):
        configure_logging(log_format="xml")  # type: ignore[arg-type]


# --- the ASGI middleware, driven directly -------------------------------------------


def _templates(scope) -> str | None:
    """A stand-in for RouteTemplates: one parameterised route."""
    return "/log/event/{event_id}" if scope["path"].startswith("/log/event/") else None


def _scope(path: str = "/log/event/x", headers: list[tuple[bytes, bytes]] | None = None):
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": headers or [],
        "query_string": b"token=should-never-be-logged",
    }


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


def _drive(app, scope):
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, _receive, send))
    return sent


def _inner(status: int = 200, *, seen: list[str | None] | None = None):
    async def app(scope, receive, send):
        if seen is not None:
            seen.append(current_request_id())
        logging.getLogger("stats_service.inner").warning("inside the request")
        await send({"type": "http.response.start", "status": status, "headers": [(b"a", b"b")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


class _Clock:
    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


def _headers(sent) -> dict[bytes, bytes]:
    return dict(sent[0]["headers"])


@pytest.fixture
def logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_middleware_generates_a_request_id_and_returns_it(logs):
    seen: list[str | None] = []
    app = RequestContextMiddleware(
        _inner(seen=seen),
        request_log=RequestLog(
            clock=_Clock(1.0, 1.0125), new_id=lambda: "gen-1", route_templates=_templates
        ),
    )
    sent = _drive(app, _scope())
    assert _headers(sent)[b"x-request-id"] == b"gen-1"
    assert _headers(sent)[b"a"] == b"b"
    assert seen == ["gen-1"]
    access = [r for r in logs.records if r.name == ACCESS_LOGGER]
    assert len(access) == 1
    line = access[0]
    assert (line.method, line.route, line.status, line.duration_ms) == (
        "GET",
        "/log/event/{event_id}",
        200,
        12.5,
    )
    assert line.path == "/log/event/x"
    assert line.getMessage() == "GET /log/event/{event_id} 200 12.5ms"
    inner = [r for r in logs.records if r.name == "stats_service.inner"]
    assert inner, "the app's own log line was not captured"
    assert current_request_id() is None, "the request id leaked out of the request"


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [(b"client-id-42", b"client-id-42"), (b"bad id\r\nX-Evil: 1", b"gen-1")],
    ids=["sane-is-echoed", "insane-is-replaced"],
)
def test_middleware_echoes_only_sane_incoming_ids(incoming, expected):
    app = RequestContextMiddleware(_inner(), request_log=RequestLog(new_id=lambda: "gen-1"))
    sent = _drive(app, _scope(headers=[(b"x-request-id", incoming)]))
    assert _headers(sent)[b"x-request-id"] == expected


def test_access_line_never_carries_the_query_string_or_headers(logs):
    app = RequestContextMiddleware(_inner())
    _drive(app, _scope(headers=[(b"authorization", f"Token {_TOKEN}".encode())]))
    text = " ".join(str(vars(r)) for r in logs.records)
    assert "should-never-be-logged" not in text
    assert _TOKEN not in text


@pytest.mark.parametrize(
    ("path", "status", "logged"),
    [
        ("/metrics", 200, False),
        ("/metrics/", 200, False),
        ("/health/ready", 200, False),
        ("/health/ready", 503, True),
        ("/log/event", 200, True),
    ],
    ids=["scrape", "scrape-slash", "probe-ok", "probe-failing", "ingest"],
)
def test_successful_scrapes_and_probes_are_not_logged(logs, path, status, logged):
    _drive(
        RequestContextMiddleware(
            _inner(status), request_log=RequestLog(route_templates=_templates)
        ),
        _scope(path),
    )
    assert any(r.name == ACCESS_LOGGER for r in logs.records) is logged


def test_access_log_can_be_switched_off(logs):
    sent = _drive(
        RequestContextMiddleware(_inner(), request_log=RequestLog(access_log=False)), _scope()
    )
    assert b"x-request-id" in _headers(sent)
    assert not any(r.name == ACCESS_LOGGER for r in logs.records)


def test_a_crash_is_logged_as_500_and_propagates(logs):
    async def crashing(scope, receive, send):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _drive(
            RequestContextMiddleware(
                crashing,
                request_log=RequestLog(new_id=lambda: "gen-500", route_templates=_templates),
            ),
            _scope("/x"),
        )
    access = [r for r in logs.records if r.name == ACCESS_LOGGER]
    assert [(r.status, r.route) for r in access] == [(500, "-")]


def test_long_and_control_character_paths_are_tamed(logs):
    path = "/x\n" + "a" * 500
    _drive(
        RequestContextMiddleware(_inner(404), request_log=RequestLog(route_templates=_templates)),
        _scope(path),
    )
    line = next(r for r in logs.records if r.name == ACCESS_LOGGER)
    assert "\n" not in line.path
    assert len(line.path) <= 203


def test_non_http_scopes_pass_through_untouched():
    seen = []

    async def lifespan_app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(RequestContextMiddleware(lifespan_app)({"type": "lifespan"}, _receive, None))
    assert seen == ["lifespan"]


# --- route templates --------------------------------------------------------------


def _routed_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/log")

    @router.post("/event")
    async def log_event() -> None:
        return None

    @router.get("/event/{event_id}")
    async def get_event(event_id: str) -> str:
        return event_id

    app.include_router(router)

    @app.get("/ping")
    async def ping() -> None:
        return None

    return app


def _http(app: FastAPI, method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "app": app}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/log/event", "/log/event"),
        ("POST", "/log/event/", "/log/event"),
        ("GET", "/log/event/entry_123", "/log/event/{event_id}"),
        ("GET", "/log/event/entry_123/", "/log/event/{event_id}"),
        ("GET", "/ping", "/ping"),
        ("DELETE", "/ping", "/ping"),
        ("GET", "/nowhere", None),
        ("GET", "/", None),
    ],
    ids=[
        "static",
        "trailing-slash",
        "parameter",
        "parameter-trailing-slash",
        "plain-route",
        "wrong-method-still-named",
        "unknown",
        "root-unknown",
    ],
)
def test_route_templates_name_paths_like_the_router(method, path, expected):
    app = _routed_app()
    assert RouteTemplates()(_http(app, method, path)) == expected
    if path == path.rstrip("/"):
        library = get_route_name(HTTPConnection(_http(app, method, path)), False)
        assert library == expected, "must agree with the instrumentator's own lookup"


def test_route_templates_cache_static_routes_only():
    app = _routed_app()
    templates = RouteTemplates()
    for path in ("/log/event", "/log/event/a", "/log/event/b", "/nowhere"):
        templates(_http(app, "GET" if path != "/log/event" else "POST", path))
    assert list(templates._static) == [("POST", "/log/event")]
    app.router.routes.clear()  # a cached answer no longer needs the routes
    assert templates(_http(app, "POST", "/log/event")) == "/log/event"
    assert templates(_http(app, "GET", "/log/event/a")) is None
