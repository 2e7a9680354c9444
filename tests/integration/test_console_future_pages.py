"""The live tail and monitors pages in a real browser, against scripted stand-ins.

:mod:`console_fakes` serves the stream's and the monitors' contracts from a real
uvicorn with content a test can script exactly (250 messages for the bounded buffer,
where resume starts, which actions arrived); ``test_console_browser`` drives the same
pages against the real subsystems.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import chromium_browser, require_chromium, screenshot
from console_fakes import FakeMonitors, FakeStream, serve_in_thread
from service_process import free_port

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenSigner
from stats_service.components import ComponentSpec
from stats_service.settings import load_settings
from stats_service.subsystems import SUBSYSTEMS

try:
    from playwright.sync_api import expect
except ImportError:  # require_chromium() reports it: fails under CI, skips elsewhere
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.integration

KEY = "s" * 48
SCRIPT = "<script>window.__xss = 1</script>"
IMAGE = '"><img src=x onerror="window.__xss = 2">'
MESSAGES = 250


@dataclass
class Future:
    url: str
    token: str
    stream: FakeStream
    monitors: FakeMonitors


@pytest.fixture(scope="module")
def future(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future]:
    require_chromium()
    data_dir = tmp_path_factory.mktemp("future")
    record = AccessFile(data_dir / "access.json").add("ops", ["admin"], expires_at=None, now=1)
    token = TokenSigner([KEY]).issue(record.to_claims())
    messages: list[dict[str, Any]] = [
        {"event_id": f"e-{i}", "time": f"2026-01-01T00:00:{i % 60:02}Z", "event": "bulk", "uid": ""}
        for i in range(MESSAGES - 1)
    ]
    messages.append({"event_id": "e-xss", "time": "", "event": SCRIPT, "uid": IMAGE})
    stream = FakeStream(messages)
    monitors = FakeMonitors({"id": "m1", "name": SCRIPT, "state": "active"})
    specs = (
        *(spec for spec in SUBSYSTEMS if spec.name not in {"stream", "monitors"}),
        ComponentSpec(name="stream", build=lambda _settings: stream),
        ComponentSpec(name="monitors", build=lambda _settings: monitors),
    )
    settings = load_settings(None, {"STATS_DATA_DIR": str(data_dir), "STATS_SECRET_KEYS": KEY})
    app = create_app(settings, subsystems=specs)
    with serve_in_thread(app, free_port()) as url:
        yield Future(url, token, stream, monitors)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium_browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context  # type: ignore[misc]


@pytest.fixture
def tab(browser: BrowserContext, future: Future) -> Iterator[Page]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{future.url}/console")
    page.fill("#login-token", future.token)
    page.click("#login-form button")
    page.wait_for_selector("#nav", state="visible")
    try:
        yield page
        assert page.evaluate("window.__xss") is None
        assert page.locator("#page img, #page script").count() == 0
        assert problems == []
    finally:
        page.close()


def test_the_tail_shows_the_stream_newest_first_in_a_bounded_buffer(
    tab: Page, future: Future, tmp_path: Path
) -> None:
    assert tab.locator("#nav a[data-page=tail]").is_visible()
    tab.click("#nav a[data-page=tail]")
    expect(tab.locator("#page [role=status]")).to_have_text("Live.")
    expect(tab.locator("#page tbody tr")).to_have_count(200)
    first = tab.locator("#page tbody tr").first
    expect(first).to_contain_text(SCRIPT)
    expect(first).to_contain_text(IMAGE)
    screenshot(tab, tmp_path, "tail")
    tab.get_by_role("button", name="Pause").click()
    expect(tab.locator("#page [role=status]")).to_have_text("Paused.")
    tab.get_by_role("button", name="Resume").click()
    expect(tab.locator("#page [role=status]")).to_have_text("Live.")
    # Resumed after the last event seen: nothing is shown twice.
    assert future.stream.resumed_from[-1] == "e-xss"
    expect(tab.locator("#page tbody tr")).to_have_count(200)


def test_the_tail_filters_by_event(tab: Page, future: Future) -> None:
    tab.click("#nav a[data-page=tail]")
    expect(tab.locator("#page tbody tr")).to_have_count(200)
    tab.fill("#tail-event", SCRIPT)
    tab.press("#tail-event", "Enter")
    expect(tab.locator("#page tbody tr")).to_have_count(1)


def test_monitors_list_detail_and_actions(tab: Page, future: Future, tmp_path: Path) -> None:
    tab.click("#nav a[data-page=monitors]")
    row = tab.locator("#page tbody tr").first
    expect(row).to_contain_text(SCRIPT)
    expect(row).to_contain_text("99.50 %")
    expect(row).to_contain_text("40 ms")
    screenshot(tab, tmp_path, "monitors")
    row.get_by_role("link").click()
    expect(tab.locator("#page svg.chart rect")).to_have_count(30)
    for button in ("Pause", "Resume", "Run now"):
        tab.get_by_role("button", name=button).click()
        expect(tab.locator("#page [aria-live]").first).to_contain_text("uptime")
    tab.wait_for_timeout(300)
    assert future.monitors.actions == ["pause", "resume", "run"]
    screenshot(tab, tmp_path, "monitor")
