"""``/metrics``, request ids and JSON logs of a real uvicorn-served stats-service.

Also the multiprocess case: uvicorn with two worker processes and
``PROMETHEUS_MULTIPROC_DIR``, where ``/metrics`` must add up both workers'
counts whichever worker answers the scrape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import LiveService, ServiceProcess, uvicorn_workers_command

from stats_service import __version__

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _tampered(token: str) -> str:
    """The same token with one signature character changed.

    Not the last character: in unpadded base64 its low bits are padding, so
    some changes to it decode to the same signature.
    """
    at = len(token) - 5
    swapped = "A" if token[at] != "A" else "B"
    return token[:at] + swapped + token[at + 1 :]


def test_metrics_are_served_with_build_info(live_service: LiveService) -> None:
    samples = _scrape(live_service.url)
    assert _value(samples, "stats_build_info", version=__version__) == 1.0
    for name in ("stats_events_accepted_total", "stats_auth_failures_total"):
        assert any(key[0] == name for key in samples), name


def test_the_embedded_store_exports_backend_up_and_dead_letters(live_service: LiveService) -> None:
    """The series dashboards and alerts read exist on every backend, not only InfluxDB."""
    samples = _scrape(live_service.url)
    assert _value(samples, "stats_backend_up") == 1.0
    assert ("stats_deadletters_pending", frozenset()) in samples
    assert _value(samples, "stats_deadletters_pending") == 0.0


def test_ingest_outcomes_and_auth_failures_are_counted(live_service: LiveService) -> None:
    before = _scrape(live_service.url)
    with live_service.client(live_service.writer) as client:
        assert client.post("/log/event", json={"event": "m.one", "uid": "u"}).status_code == 200
        batch = [{"event": "m.b", "uid": "u"}, {"event": "m.b"}, {"event": "m.b", "uid": "v"}]
        result = client.post("/log/events", json=batch)
        assert result.status_code == 200
        assert result.json()["accepted"] == 2
        assert client.post("/log/event", json={"event": "m.bad"}).status_code == 422
        assert client.get("/log/events").status_code == 403
    forged = {"Authorization": f"Token {_tampered(live_service.writer)}"}
    event = {"event": "m.x", "uid": "u"}
    assert (
        httpx.post(f"{live_service.url}/log/event", json=event, headers=forged).status_code == 401
    )
    assert httpx.post(f"{live_service.url}/log/event", json=event).status_code == 401
    after = _scrape(live_service.url)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("stats_events_accepted_total", path="/log/event") == 1.0
    assert delta("stats_events_accepted_total", path="/log/events") == 2.0
    assert delta("stats_events_rejected_total", reason="invalid_event") == 2.0
    assert delta("stats_events_rejected_total", reason="unauthorized") == 2.0
    assert delta("stats_auth_failures_total", reason="bad_signature") == 1.0
    assert delta("stats_auth_failures_total", reason="missing") == 1.0
    assert delta("stats_auth_failures_total", reason="forbidden") == 1.0


def test_http_requests_are_labelled_by_route_template(live_service: LiveService) -> None:
    before = _scrape(live_service.url)
    with live_service.client(live_service.admin) as client:
        assert client.post("/log/event/", json={"event": "m.slash", "uid": "u"}).status_code == 200
        missing = "entry_" + "0" * 32
        assert client.get(f"/log/event/{missing}").status_code == 404
        assert client.get("/no/such/route").status_code == 404
    after = _scrape(live_service.url)
    http = "http_requests_total"

    def delta(**labels: str) -> float:
        return _value(after, http, **labels) - _value(before, http, **labels)

    assert delta(handler="/log/event", method="POST", status="200") == 1.0
    assert delta(handler="/log/event/{event_id}", method="GET", status="404") == 1.0
    assert delta(handler="none", method="GET", status="404") == 1.0
    assert not any(dict(labels).get("handler") == "/metrics" for _, labels in after)
    buckets = [key for key in after if key[0] == "http_request_duration_seconds_bucket"]
    assert buckets


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [("trace-abc-123", True), ("bad id with spaces", False), (None, False)],
    ids=["sane-is-echoed", "insane-is-replaced", "absent-is-generated"],
)
def test_request_id_header(live_service: LiveService, sent: str | None, echoed: bool) -> None:
    headers = {"X-Request-ID": sent} if sent else {}
    response = httpx.get(f"{live_service.url}/ping", headers=headers)
    request_id = response.headers["x-request-id"]
    if echoed:
        assert request_id == sent
    else:
        assert request_id != sent
        assert len(request_id) == 32
        assert int(request_id, 16) >= 0


def test_json_logs_tie_requests_together_and_never_hold_tokens(
    service_factory: type[ServiceProcess], tmp_path: Path
) -> None:
    service = service_factory(
        data_dir=tmp_path / "data",
        extra_env={"STATS_LOG_FORMAT": "json", "STATS_LOG_LEVEL": "info"},
    )
    service.data_dir.mkdir(parents=True)
    writer = service.token("logger-app", "write")
    revoked = service.token("gone-app", "write")
    revoked_id = json.loads((service.data_dir / "access.json").read_text())["tokens"][-1]
    service.cli("token", "revoke", revoked_id["token_id"])
    service.start()
    tokens = {
        "good": writer,
        "tampered": _tampered(writer),
        "revoked": revoked,
        "garbage": "not-a-token-but-still-a-secret-value",
    }
    seen: dict[str, tuple[int, str]] = {}
    for name, token in tokens.items():
        for scheme in ("Token", "Bearer"):
            response = httpx.post(
                f"{service.url}/log/event",
                json={"event": "log.check", "uid": "u"},
                headers={"Authorization": f"{scheme} {token}"},
            )
            seen[f"{name}-{scheme}"] = (response.status_code, response.headers["x-request-id"])
    service.stop()
    assert seen["good-Token"][0] == 200
    assert seen["good-Bearer"][0] == 200
    assert {status for key, (status, _) in seen.items() if not key.startswith("good")} == {401}

    text = service.log_path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = {
        line["request_id"]: line for line in lines if line["logger"] == "stats_service.access"
    }
    for status, request_id in seen.values():
        line = access[request_id]
        assert (line["method"], line["route"], line["status"]) == ("POST", "/log/event", status)
        assert line["duration_ms"] >= 0
    for token in tokens.values():
        head, _, signature = token.rpartition(".")
        for part in {token, head, signature} - {""}:
            assert part not in text, "a token (or part of one) reached the logs"
    assert service.secret_key not in text


# --- several worker processes ------------------------------------------------------


@dataclass
class _MultiWorkerService(ServiceProcess):
    """The service under ``uvicorn --factory --workers N`` in multiprocess metrics mode."""

    workers: int = 2
    multiproc_dir: Path | None = None
    writer: str = ""

    def env(self) -> dict[str, str]:
        env = super().env()
        assert self.multiproc_dir is not None
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.multiproc_dir)
        return env

    def command(self) -> list[str]:
        return uvicorn_workers_command(self.port, self.workers)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[_MultiWorkerService]:
    multiproc = tmp_path / "prometheus-multiproc"
    multiproc.mkdir()
    service = _MultiWorkerService(
        data_dir=tmp_path / "data",
        multiproc_dir=multiproc,
        extra_env={"STATS_LOG_FORMAT": "json", "STATS_LOG_LEVEL": "info"},
    )
    service.data_dir.mkdir(parents=True)
    service.writer = service.token("multi", "write")
    service.start(timeout_seconds=60.0)
    try:
        yield service
    finally:
        service.stop()


def _serving_pids(service: ServiceProcess) -> set[int]:
    pids = set()
    for line in service.log_path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "stats_service.access" and record["route"] == "/log/event":
                pids.add(record["pid"])
    return pids


@pytest.mark.slow
def test_counts_from_all_workers_add_up(two_workers: _MultiWorkerService) -> None:
    headers = {"Authorization": f"Token {two_workers.writer}"}
    sent = 0
    # Fresh connections let the kernel hand requests to both workers; stop once
    # both have served some (bounded: 40 rounds of 10).
    for _ in range(40):
        for _ in range(10):
            response = httpx.post(
                f"{two_workers.url}/log/event", json={"event": "w.e", "uid": "u"}, headers=headers
            )
            assert response.status_code == 200, response.text
            sent += 1
        if len(_serving_pids(two_workers)) >= 2:
            break
    assert len(_serving_pids(two_workers)) == 2, "requests never reached both workers"
    totals = set()
    for _ in range(10):
        samples = _scrape(two_workers.url)
        totals.add(_value(samples, "stats_events_accepted_total", path="/log/event"))
        http = _value(
            samples, "http_requests_total", handler="/log/event", method="POST", status="200"
        )
        assert http == sent
        info = [key for key in samples if key[0] == "stats_build_info"]
        assert info == [("stats_build_info", frozenset({("version", __version__)}))]
    assert totals == {float(sent)}, "every scrape, whichever worker answers, sums all workers"
