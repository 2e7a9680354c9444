"""The app includes the monitors only when ``monitors_enabled``; errors become reasons."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from stats_service.app import create_app
from stats_service.monitors.checker import classify
from stats_service.monitors.model import Reason
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "k" * 48


def statuses(data_dir: Path, *, enabled: bool) -> list[int]:
    settings = load_settings(
        data_dir=data_dir, secret_keys=(KEY,), storage_backend="memory", monitors_enabled=enabled
    )
    app = create_app(settings, store=MemoryStore())

    async def scenario() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return [(await client.get(path)).status_code for path in ("/monitors", "/ping")]

    return asyncio.run(scenario())


def test_the_monitor_routes_follow_the_setting(tmp_path: Path):
    assert statuses(tmp_path, enabled=True) == [401, 200]  # there, behind authentication
    assert statuses(tmp_path, enabled=False) == [404, 200]
    assert not (tmp_path / "monitors.sqlite3").exists()  # the memory backend keeps them in memory


def _wrapped(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectTimeout("t"), Reason.TIMEOUT),
        (TimeoutError(), Reason.TIMEOUT),
        (httpx.TooManyRedirects("r"), Reason.REDIRECT_LOOP),
        (_wrapped(httpx.ConnectError("x"), socket.gaierror(-2, "unknown name")), Reason.DNS),
        (_wrapped(httpx.ConnectError("x"), ssl.SSLCertVerificationError("bad cert")), Reason.TLS),
        (_wrapped(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")), Reason.CONNECT),
        (httpx.RemoteProtocolError("garbage"), Reason.PROTOCOL),
    ],
    ids=["connect-timeout", "overall-timeout", "redirects", "dns", "tls", "refused", "protocol"],
)  # fmt: skip
def test_errors_become_reasons_with_short_messages(exc, reason):
    found, message = classify(exc)
    assert found is reason
    assert "Traceback" not in message
    assert len(message) <= 200
