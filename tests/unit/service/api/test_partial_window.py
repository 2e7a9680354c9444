"""``GET /log/events`` while the backend is down: partial pages from the outbox, and
cursors that carry a pagination across the outage with no event twice and none missing.

The backend is a memory store that can be switched off (its reads and writes
then raise ``ServiceUnavailable``, as the InfluxDB backends do). This process
never holds the forwarding lease, so the test forwards by hand, exactly when
it wants to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.durable import DurableStore
from stats_service.delivery.lease import MemoryLeases
from stats_service.delivery.memory import MemoryQueue
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.settings import load_settings
from stats_service.storage.base import EventPage, EventQuery, StoreHealth
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48
NOW = 1_800_000_000.0
BASE = 1_700_000_000  # event times, epoch seconds


class SwitchableBackend:
    """A memory store that is down while ``up`` is false."""

    backend_name = "influxdb"

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.up = True

    def _check(self) -> None:
        if not self.up:
            raise ServiceUnavailable("InfluxDB at http://127.0.0.1:1 is unreachable")

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def write(self, events: Sequence[Event]) -> None:
        self._check()
        await self.store.write(events)

    async def get(self, event_id: str) -> Event | None:
        self._check()
        return await self.store.get(event_id)

    async def query(self, query: EventQuery) -> EventPage:
        self._check()
        return await self.store.query(query)

    async def health(self) -> StoreHealth:
        return StoreHealth("influxdb", ok=self.up)


class Harness:
    def __init__(self, client: httpx.AsyncClient, queue: MemoryQueue, backend: SwitchableBackend):
        self.client = client
        self.queue = queue
        self.backend = backend

    async def log(self, *seconds: int) -> list[str]:
        """Log one event per time (epoch seconds); their ids."""
        batch = [{"event": "e", "uid": "u", "time": BASE + s} for s in seconds]
        response = await self.client.post("/log/events", json=batch)
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()["ids"]
        return ids

    async def forward(self) -> None:
        """Deliver every pending event to the backend, as the forwarder would."""
        while batch := await self.queue.next_batch(1000, 1 << 30):
            await self.backend.write([entry.event for entry in batch])
            await self.queue.settle(batch)

    async def page(self, cursor: str | None, limit: int = 2) -> httpx.Response:
        params: dict[str, Any] = {"limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        response = await self.client.get("/log/events", params=params)
        assert response.status_code == 200, response.text
        return response


def _run(tmp_path: Path, scenario: Callable[[Harness], Awaitable[None]]) -> None:
    access = AccessFile(tmp_path / "access.json")
    record = access.add("app", ["read", "write"], expires_at=None, now=int(NOW))
    token = TokenSigner([KEY]).issue(
        TokenClaims("app", record.token_id, record.scopes, int(NOW), None)
    )
    settings = load_settings(None, {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY})
    backend = SwitchableBackend()
    queue = MemoryQueue()
    leases = MemoryLeases()
    assert leases.lease().try_acquire()  # another process forwards: this one never does
    store = DurableStore(
        backend,
        queue,
        config=DeliveryConfig(poll_interval_seconds=3600.0),
        lease=leases.lease(),
    )
    app = create_app(settings, store=store, clock=lambda: NOW)

    async def go() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Token {token}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers
            ) as client:
                await asyncio.wait_for(scenario(Harness(client, queue, backend)), 20)

    asyncio.run(go())


def _ids(response: httpx.Response) -> list[str]:
    return [event["event_id"] for event in response.json()["events"]]


def test_a_window_read_while_the_backend_is_down_is_a_partial_page(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        stored = await h.log(10, 30)
        await h.forward()
        h.backend.up = False
        pending = await h.log(20, 40)
        response = await h.page(None, limit=10)
        body = response.json()
        assert _ids(response) == pending
        assert body["partial"] is True
        assert body["next_cursor"] is None
        assert response.headers["x-stats-partial"] == "backend-unavailable"
        assert body["warnings"]
        assert "backend-unavailable" in body["warnings"][0]
        assert "127.0.0.1" not in response.text  # the backend's own error stays in the log
        assert body["resume_cursor"]
        h.backend.up = True
        complete = await h.page(None, limit=10)
        assert complete.json()["partial"] is False
        assert "x-stats-partial" not in complete.headers
        assert "resume_cursor" not in complete.json()
        assert _ids(complete) == [stored[0], pending[0], stored[1], pending[1]]

    _run(tmp_path, scenario)


def _collect(pages: list[httpx.Response]) -> list[str]:
    return [event_id for page in pages for event_id in _ids(page)]


@pytest.mark.parametrize("forwarded", [True, False], ids=["forwarded-on-recovery", "still-pending"])
@pytest.mark.parametrize("follow", ["next_cursor", "resume_cursor"])
def test_a_pagination_across_an_outage_sees_every_event_once(
    tmp_path: Path, forwarded: bool, follow: str
) -> None:
    """Complete pages, the backend goes, partial pages, it comes back: each event once."""

    async def scenario(h: Harness) -> None:
        before = await h.log(1, 3, 5, 7, 9, 11)
        await h.forward()
        first = await h.page(None)
        assert first.json()["partial"] is False
        h.backend.up = False
        during = await h.log(2, 4, 6, 8, 10, 12)
        second = await h.page(first.json()["next_cursor"])
        assert second.json()["partial"] is True
        # Events of the backend after the complete pages (5, 7, ...) are missing here;
        # the pending ones after the position come (2 is behind it: see test below).
        assert _ids(second) == during[1:3]
        cursor = second.json()[follow]
        assert cursor is not None
        h.backend.up = True
        if forwarded:
            await h.forward()
        pages = [first, second]
        while cursor is not None:
            page = await h.page(cursor)
            assert page.json()["partial"] is False
            pages.append(page)
            cursor = page.json()["next_cursor"]
        seen = _collect(pages)
        assert len(seen) == len(set(seen)), "an event came twice"
        # Every event but 2, logged behind the position after the first page (as
        # with any keyset cursor, an insert behind the position is not seen).
        assert set(seen) == set(before) | set(during[1:]), "an event is missing"

    _run(tmp_path, scenario)


def test_partial_pages_paginate_through_the_pending_events(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        stored = await h.log(1, 2, 3)
        await h.forward()
        h.backend.up = False
        pending = await h.log(4, 5, 6, 7, 8)
        pages = [await h.page(None)]
        while pages[-1].json()["next_cursor"] is not None:
            pages.append(await h.page(pages[-1].json()["next_cursor"]))
        assert all(page.json()["partial"] for page in pages)
        assert _collect(pages) == pending
        resume = pages[-1].json()["resume_cursor"]
        h.backend.up = True
        await h.forward()
        rest = [await h.page(resume)]
        while rest[-1].json()["next_cursor"] is not None:
            rest.append(await h.page(rest[-1].json()["next_cursor"]))
        assert _collect(rest) == stored

    _run(tmp_path, scenario)


def test_a_partial_page_is_refused_when_the_backend_took_writes_meanwhile(
    tmp_path: Path,
) -> None:
    """An event forwarded after the partial pages began, behind a pending one the next
    partial page would give: that page cannot be answered without a gap, so 503."""

    async def scenario(h: Harness) -> None:
        await h.log(1, 2)
        h.backend.up = False
        first = await h.page(None, limit=1)
        assert first.json()["partial"] is True
        assert first.json()["next_cursor"] is not None
        h.backend.up = True
        await h.forward()  # 1 and 2 reach the backend...
        h.backend.up = False  # ...which cannot be queried for the next page
        await h.log(3)
        response = await h.client.get(
            "/log/events", params={"limit": "1", "cursor": first.json()["next_cursor"]}
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        assert "Retry-After" in response.headers
        h.backend.up = True
        rest = await h.page(first.json()["next_cursor"], limit=10)
        assert [e["time"][:19] for e in rest.json()["events"]] == [
            "2023-11-14T22:13:22",
            "2023-11-14T22:13:23",
        ]

    _run(tmp_path, scenario)


def test_openapi_documents_the_partial_page(tmp_path: Path) -> None:
    settings = load_settings(None, {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY})
    spec = create_app(settings, store=MemoryStore()).openapi()
    ok = spec["paths"]["/log/events"]["get"]["responses"]["200"]
    assert "X-Stats-Partial" in ok["headers"]
    fields = spec["components"]["schemas"]["EventList"]["properties"]
    assert {"partial", "warnings", "resume_cursor"} <= set(fields)
    assert "503" in spec["paths"]["/log/events"]["get"]["responses"]
