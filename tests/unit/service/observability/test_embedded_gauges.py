"""``stats_backend_up`` and ``stats_deadletters_pending`` on a store without an outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stats_service.app import create_app
from stats_service.observability.gauges import ScrapeTimeCollector, StoreSnapshot
from stats_service.settings import load_settings
from stats_service.storage.embedded import EmbeddedStore

KEY = "f" * 48


def _samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_embedded_store_exports_backend_up_and_no_dead_letters(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "STATS_DATA_DIR": str(tmp_path),
            "STATS_SECRET_KEYS": KEY,
            "STATS_STORAGE_BACKEND": "embedded",
        },
    )
    app = create_app(settings)

    async def scrape() -> str:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/metrics")
                assert response.status_code == 200, response.text
                return response.text

    samples = _samples(asyncio.run(scrape()))
    assert samples["stats_backend_up"] == 1.0
    assert samples["stats_deadletters_pending"] == 0.0
    # The outbox gauges describe an outbox: the embedded store has none.
    assert not any(name.startswith("stats_outbox_") for name in samples)


def test_backend_up_follows_whether_the_embedded_store_is_writable(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "events.sqlite3")
    collector = ScrapeTimeCollector(
        version="1", status=lambda: StoreSnapshot(backend_ok=store.writable)
    )

    def up() -> float:
        return {m.name: m.samples[0].value for m in collector.collect()}["stats_backend_up"]

    assert up() == 0.0
    asyncio.run(store.open())
    try:
        assert up() == 1.0
    finally:
        asyncio.run(store.close())
    assert up() == 0.0
