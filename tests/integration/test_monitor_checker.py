"""One check against the real loopback website: statuses, conditions, every failure reason."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from fake_website import FakeWebsite, SelfSignedCertificate
from server_process import free_port

from stats_service.monitors.checker import Checker
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec, Reason


def monitor(url: str, **spec: object) -> Monitor:
    return Monitor(
        id="mon_1",
        spec=MonitorSpec.model_validate({"name": "site", "url": url, **spec}),
        created_at=0,
        updated_at=0,
    )


def check(target: Monitor, **options: object) -> CheckResult:
    """One check with a fresh checker, on a fresh event loop."""

    async def run() -> CheckResult:
        checker = Checker(**options)  # type: ignore[arg-type]
        try:
            return await checker.check(target)
        finally:
            await checker.aclose()

    return asyncio.run(run())


def test_a_good_response_is_ok_with_status_and_latency(website: FakeWebsite):
    result = check(monitor(website.url("/delay/30")))
    assert result.ok
    assert result.status_code == 200
    assert result.latency_us is not None
    assert result.latency_us >= 30_000
    assert result.reason is None
    assert result.failures == []


@pytest.mark.parametrize(
    ("path", "conditions", "failed"),
    [
        ("/status/500", {}, ["status_range"]),
        ("/status/404", {"status_in": [200, 204]}, ["status_in"]),
        ("/status/404", {"status_in": [404]}, []),
        ("/status/301", {"status_range": [200, 299]}, ["status_range"]),
        ("/text/all-good", {"body_contains": "all good"}, []),
        ("/text/all-bad", {"body_contains": "all good"}, ["body_contains"]),
        ("/json", {"json_path": {"path": "$.status", "equals": "up"}}, []),
        ("/json", {"json_path": {"path": "$.items[1]", "equals": 3}}, ["json_path"]),
        ("/delay/60", {"max_response_ms": 10}, ["max_response_ms"]),
        ("/status/200", {"min_cert_days": 1}, ["min_cert_days"]),
    ],
    ids=[
        "500-default",
        "status-in",
        "status-in-404",
        "range",
        "body",
        "body-missing",
        "jsonpath",
        "jsonpath-differs",
        "slow",
        "cert-on-plain-http",
    ],
)
def test_conditions_decide_and_name_what_failed(website, path, conditions, failed):
    result = check(monitor(website.url(path), conditions=conditions, follow_redirects=False))
    assert [f.condition for f in result.failures] == failed
    assert result.ok is (not failed)
    assert result.reason is None


def test_a_closed_port_is_a_connect_failure():
    result = check(monitor(f"http://127.0.0.1:{free_port()}/"))
    assert not result.ok
    assert result.reason is Reason.CONNECT
    assert result.status_code is None
    assert "Traceback" not in (result.message or "")


def test_an_unresolvable_host_is_a_dns_failure():
    result = check(monitor("http://no-such-host.invalid/", timeout_seconds=5))
    assert not result.ok
    assert result.reason is Reason.DNS


def test_a_slow_server_is_a_timeout(website):
    started = time.monotonic()
    result = check(monitor(website.url("/delay/3000"), timeout_seconds=0.3))
    assert result.reason is Reason.TIMEOUT
    assert not result.ok
    assert time.monotonic() - started < 2.5


def test_a_redirect_loop_is_named(website):
    result = check(monitor(website.url("/redirect-loop")))
    assert result.reason is Reason.REDIRECT_LOOP
    assert not result.ok


@pytest.mark.parametrize("path", ["/big", "/big-chunked"], ids=["content-length", "chunked"])
def test_a_10_mb_body_is_not_read_past_the_cap(website, path):
    result = check(monitor(website.url(path), timeout_seconds=5), max_body_bytes=65_536)
    assert result.reason is Reason.BODY_TOO_LARGE
    assert result.status_code == 200
    assert not result.ok


def test_an_untrusted_certificate_is_a_tls_failure(tls_website):
    result = check(monitor(tls_website.url("/status/200")))
    assert result.reason is Reason.TLS
    assert not result.ok


def test_verify_tls_off_accepts_the_self_signed_certificate(tls_website):
    result = check(monitor(tls_website.url("/status/200"), verify_tls=False))
    assert result.ok
    assert result.status_code == 200


def test_a_certificate_close_to_expiry_fails_min_cert_days(
    tls_website, expiring_certificate: SelfSignedCertificate
):
    trust = expiring_certificate.trust()
    url = tls_website.url("/status/200")
    soon = check(monitor(url, conditions={"min_cert_days": 14}), trust=trust)
    fine = check(monitor(url, conditions={"min_cert_days": 1}), trust=trust)
    assert soon.cert_expires_at is not None
    days_left = (soon.cert_expires_at - soon.time) / 86_400
    assert 2 < days_left <= 3
    assert [f.condition for f in soon.failures] == ["min_cert_days"]
    assert re.search(r"expires in [23]\.\d days", soon.failures[0].message)
    assert fine.ok
