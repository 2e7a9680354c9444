"""stats-probe against a real service, through the fault-injecting proxy on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from service_process import ServiceProcess

from stats_client.probe import FaultProxy, Probe, ProbeConfig, ProbeMetrics

pytestmark = pytest.mark.integration

_FAST = {"STATS_STREAM_POLL_INTERVAL_SECONDS": "0.02"}


@pytest.fixture
def probed(service_factory: type[ServiceProcess], tmp_path) -> tuple[ServiceProcess, str]:
    process = service_factory(data_dir=tmp_path / "data", extra_env=_FAST)
    process.data_dir.mkdir(parents=True)
    token = process.token("probe", "read", "write")
    process.start()
    return process, token


@pytest.fixture
def proxy_to() -> Iterator[Callable[[str], FaultProxy]]:
    started: list[FaultProxy] = []

    def start(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream, seed=15)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def _config(url: str, token: str, **options: float) -> ProbeConfig:
    values: dict[str, float] = {
        "interval_seconds": 0.01,
        "post_retries": 0,
        "confirm_after_seconds": 1.0,
        "mark_lost_after_seconds": 2.0,
        "tick_seconds": 0.2,
        "reconnect_max_seconds": 0.5,
        "metrics_port": 0,
    }
    values.update(options)
    return ProbeConfig(url=url, token=token, **values)  # type: ignore[arg-type]


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _run_probe(probe: Probe, events: int) -> None:
    """Send ``events`` on the schedule, then let the loss timeout pass."""
    listener = threading.Thread(target=probe.listener.run, daemon=True)
    listener.start()
    assert _wait(lambda: probe.listener.connects > 0, 10)
    for _ in range(events):
        probe.send_one()
        time.sleep(probe.config.interval_seconds)
    time.sleep(probe.config.mark_lost_after_seconds + 0.5)
    probe.tick()


def test_a_five_percent_drop_shows_as_a_five_percent_missing_share(probed, proxy_to) -> None:
    process, token = probed
    proxy = proxy_to(process.url)
    probe = Probe(
        _config(proxy.url, token, stream_url=process.url), ProbeMetrics(CollectorRegistry())
    )
    proxy.set_faults(drop_share=0.05)
    try:
        _run_probe(probe, 400)
    finally:
        probe.stop()
    counts = proxy.snapshot()
    dropped = counts["dropped_posts"]
    share = probe.tracker.missing_share["10m"]
    # each dropped post is exactly one missing event: the shares agree to one event
    assert share == pytest.approx(dropped / 400, abs=1 / 400)
    # and the proxy dropped about 5 %: 3 sigma of a binomial with n=400, p=0.05 is 0.033
    assert share == pytest.approx(0.05, abs=0.033)
    assert probe.tracker.counts.post_failed == dropped
    assert probe.tracker.counts.received == 400 - dropped
    assert probe.tracker.counts.duplicates == 0


def test_added_latency_shows_in_the_histogram(probed, proxy_to) -> None:
    process, token = probed
    proxy = proxy_to(process.url)
    registry = CollectorRegistry()
    probe = Probe(
        _config(proxy.url, token, stream_url=process.url, interval_seconds=0.1),
        ProbeMetrics(registry),
    )
    proxy.set_faults(delay_share=0.5, delay_seconds=0.6)
    try:
        _run_probe(probe, 40)
    finally:
        probe.stop()

    def bucket(le: str) -> float:
        value = registry.get_sample_value("probe_event_latency_seconds_bucket", {"le": le})
        assert value is not None
        return value

    total = bucket("+Inf")
    assert total == 40
    fast, slow = bucket("0.5"), total - bucket("0.5")
    assert 8 <= slow <= 32, (fast, slow)  # about half were held 0.6 s by the proxy
    assert bucket("2.0") == total


def test_an_outage_drives_the_missing_share_to_one_and_back(probed) -> None:
    process, token = probed
    config = _config(
        process.url,
        token,
        interval_seconds=0.1,
        mark_lost_after_seconds=1.0,
        post_timeout_seconds=0.5,
    )
    probe = Probe(config, ProbeMetrics(CollectorRegistry()), windows_seconds={"short": 2.0})
    probe.start()
    try:
        assert _wait(lambda: probe.tracker.counts.received >= 10, 10)
        assert probe.tracker.missing_share["short"] == 0.0
        connects = probe.listener.connects
        process.stop()
        assert _wait(lambda: probe.tracker.missing_share["short"] == 1.0, 8)
        process.start()
        assert _wait(lambda: probe.listener.connects > connects, 10)
        assert _wait(lambda: probe.tracker.missing_share["short"] == 0.0, 10)
        assert all(thread.is_alive() for thread in probe._threads)
    finally:
        probe.stop()
    assert probe.tracker.counts.post_failed > 0
