"""Our line-protocol parser against a real influxd: the same lines accepted, the same words.

Every line of the shared corpus is written alone to influxd's ``/write``; the
parser must accept exactly the lines influxd accepts and, for the others,
give the reason influxd gives (``unable to parse '<line>': <reason>``).
Lines where influxd 1.6 differs from the current grammar or from what
stats-service stores are listed, with why, in ``lineprotocol_corpus``; the
test checks that they still differ, so the list stays true.
"""

from __future__ import annotations

import httpx
import pytest
from influxd import InfluxDServer
from lineprotocol_corpus import CORPUS, INFLUXD_16_DIFFERENCES, MODEL_REFUSED, STORAGE_REFUSED
from service_process import LiveService

from stats_service.errors import InvalidEvent
from stats_service.events.lineprotocol_events import event_from_point
from stats_service.events.lineprotocol_parse import LineProtocolError, parse_line
from stats_service.events.model import Limits

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]


def _influxd_answer(client: httpx.Client, database: str, line: bytes) -> str | None:
    """None when influxd stored the line, else its error message."""
    response = client.post("/write", params={"db": database}, content=line)
    if response.status_code == 204:
        return None
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]
    return message


def _our_answer(line: bytes) -> str | None:
    try:
        parse_line(line)
    except LineProtocolError as exc:
        return f"unable to parse '{line.decode('utf-8', 'replace')}': {exc.reason}"
    return None


@pytest.fixture
def influx(influxd: InfluxDServer, influx_database: str):
    with httpx.Client(base_url=influxd.url, timeout=10) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{influx_database}"'}).raise_for_status()
        yield client, influx_database


def test_corpus_matches_influxd(influx):
    client, database = influx
    mismatches = []
    for name, line, accepted in CORPUS:
        theirs = _influxd_answer(client, database, line)
        ours = _our_answer(line)
        if theirs != ours or (ours is None) != accepted:
            mismatches.append((name, line, theirs, ours))
    assert mismatches == []


def test_documented_differences_still_differ(influx):
    client, database = influx
    for name, line, we_accept, _why in INFLUXD_16_DIFFERENCES:
        theirs = _influxd_answer(client, database, line)
        ours = _our_answer(line)
        assert (ours is None) == we_accept, name
        assert (theirs is None) != we_accept, f"{name}: influxd now agrees; drop the entry"


def test_lines_influxd_refuses_to_store_are_refused_by_our_model_too(influx):
    client, database = influx
    for name, line in STORAGE_REFUSED:
        theirs = _influxd_answer(client, database, line)
        assert theirs is not None, name
        assert theirs.startswith("partial write:"), name
        point = parse_line(line)
        with pytest.raises(InvalidEvent):
            event_from_point(point, identity="t", now_ns=1, limits=Limits())


def test_corpus_written_to_influxd_and_to_the_service(influx, live_service: LiveService):
    """Each line to both servers' ``/write``: same verdict, same words, but for the model."""
    client, database = influx
    refused_by_model = []
    with httpx.Client(base_url=live_service.url, timeout=10) as service:
        for name, line, _accepted in CORPUS:
            theirs = _influxd_answer(client, database, line)
            response = service.post(
                "/write", params={"db": "any", "p": live_service.writer}, content=line
            )
            if theirs is not None:
                assert response.status_code == 400, name
                assert response.json() == {"error": f"{theirs} (line 1)"}, name
            elif response.status_code == 400:
                refused_by_model.append(name)
                assert response.json()["error"].startswith("unable to parse '"), name
            else:
                assert response.status_code == 204, name
    assert sorted(refused_by_model) == sorted(MODEL_REFUSED)
