"""Unmodified InfluxDB clients write through a real stats-service (uvicorn).

The official ``influxdb-client`` (2.x API) and a 1.x-style client (plain
HTTP with ``u``/``p`` and with Basic auth, as 1.x libraries and Telegraf send
them) are given only the service's URL and one of our tokens. The points are
read back with ``GET /log/events?measurement=``; on the ``influxdb`` backend
they are also found in the real influxd behind the service.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from delivery_service import DeliveryServiceProcess, delivery_env
from influxd import InfluxDServer
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from service_process import LiveService

pytestmark = [pytest.mark.integration]

T_SECONDS = 1_700_000_000


def _measurement() -> str:
    return f"lp_{uuid.uuid4().hex[:10]}"


def _read(live_url: str, reader: str, measurement: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.get(
            "/log/events",
            params={"measurement": measurement},
            headers={"Authorization": f"Token {reader}"},
        )
    response.raise_for_status()
    events: list[dict[str, object]] = response.json()["events"]
    return events


def _write_with_influxdb_client(url: str, token: str, measurement: str, *, gzip: bool) -> None:
    with InfluxDBClient(url=url, token=token, org="any-org", enable_gzip=gzip) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(
            bucket="any-bucket",
            record=[
                Point(measurement)
                .tag("host", "a")
                .field("usage", 0.5)
                .field("count", 3)
                .time(T_SECONDS * 10**9, WritePrecision.NS),
                f'{measurement},host=b usage=0.25,note="x y" {T_SECONDS + 1}000000000',
            ],
        )


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_influxdb_client_v2(live_service: LiveService, gzip: bool) -> None:
    measurement = _measurement()
    _write_with_influxdb_client(live_service.url, live_service.writer, measurement, gzip=gzip)
    events = _read(live_service.url, live_service.reader, measurement)
    assert [(e["host"], e["usage"], e["time"]) for e in events] == [
        ("a", 0.5, "2023-11-14T22:13:20.000000000Z"),
        ("b", 0.25, "2023-11-14T22:13:21.000000000Z"),
    ]
    assert events[0]["count"] == 3
    assert events[1]["note"] == "x y"
    assert {e["identity"] for e in events} == {"app"}


def test_influxdb_client_sees_influxdb_errors(live_service: LiveService) -> None:
    measurement = _measurement()
    with InfluxDBClient(url=live_service.url, token=live_service.writer, org="o") as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(ApiException) as caught:
            write.write(bucket="b", record=f"{measurement} v=1 1\n{measurement} v=NaN 2")
    assert caught.value.status == 400
    assert "unable to parse" in str(caught.value.body)
    assert "(line 2)" in str(caught.value.body)
    assert [e["v"] for e in _read(live_service.url, live_service.reader, measurement)] == [1.0]
    with InfluxDBClient(url=live_service.url, token=live_service.reader, org="o") as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(ApiException) as caught:
            write.write(bucket="b", record=f"{measurement} v=1 1")
    assert caught.value.status == 403


def test_v1_style_client(live_service: LiveService) -> None:
    measurement = _measurement()
    with httpx.Client(base_url=live_service.url, timeout=30) as client:
        by_query = client.post(
            "/write",
            params={"db": "telegraf", "u": "telegraf", "p": live_service.writer, "precision": "s"},
            content=f"{measurement},via=query v=1i {T_SECONDS}\n".encode(),
        )
        by_basic = client.post(
            "/write",
            params={"db": "telegraf", "precision": "ms"},
            auth=("telegraf", live_service.writer),
            content=f"{measurement},via=basic v=2i {T_SECONDS}001\n".encode(),
        )
        refused = client.post(
            "/write",
            params={"db": "telegraf", "u": "telegraf", "p": "wrong"},
            content=f"{measurement} v=3i".encode(),
        )
    assert [by_query.status_code, by_basic.status_code, refused.status_code] == [204, 204, 401]
    events = _read(live_service.url, live_service.reader, measurement)
    assert [(e["via"], e["v"]) for e in events] == [("query", 1), ("basic", 2)]
    assert live_service.writer not in live_service.process.log_path.read_text()


@pytest.fixture
def influx_backed_service(
    tmp_path: Path, influxd: InfluxDServer, influx_database: str
) -> Iterator[tuple[DeliveryServiceProcess, str]]:
    process = DeliveryServiceProcess(
        data_dir=tmp_path / "data", extra_env=delivery_env(influxd.url, influx_database)
    )
    process.data_dir.mkdir(parents=True)
    token = process.token("telegraf", "write", "read")
    process.start()
    try:
        yield process, token
    finally:
        process.stop()


@pytest.mark.influxdb
def test_through_the_service_into_influxd(
    influx_backed_service: tuple[DeliveryServiceProcess, str],
    influxd: InfluxDServer,
    influx_database: str,
) -> None:
    process, token = influx_backed_service
    measurement = _measurement()
    _write_with_influxdb_client(process.url, token, measurement, gzip=True)
    with httpx.Client(base_url=process.url, timeout=30) as client:
        response = client.post(
            "/write",
            params={"db": "x", "u": "telegraf", "p": token, "precision": "s"},
            content=f"{measurement},host=c usage=1.0 {T_SECONDS + 2}".encode(),
        )
    assert response.status_code == 204
    deadline = time.monotonic() + 30
    rows: list[list[object]] = []
    while time.monotonic() < deadline:
        answer = httpx.post(
            f"{influxd.url}/query",
            data={"q": f'SELECT "host", "usage" FROM "{measurement}"', "db": influx_database},
            timeout=10,
        ).json()
        series = answer["results"][0].get("series")
        rows = series[0]["values"] if series else []
        if len(rows) == 3:
            break
        time.sleep(0.1)
    assert [row[1:] for row in rows] == [["a", 0.5], ["b", 0.25], ["c", 1.0]]
    assert len(_read(process.url, token, measurement)) == 3
