"""The console in a real browser (Debian's chromium) against a real uvicorn service.

One service for the module, seeded over HTTP with ordinary events, a page's worth more,
and events and a token identity whose text is markup; every page is checked to show
that markup as text. Screenshots go to the pytest temp dir (``browser.screenshot``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from browser import chromium_browser, require_chromium, screenshot
from service_process import LiveService, ServiceProcess

try:
    from playwright.sync_api import expect
except ImportError:  # require_chromium() reports it: fails under CI, skips elsewhere
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.integration

SCRIPT = "<script>window.__xss = 1</script>"
IMAGE = '"><img src=x onerror="window.__xss = 2">'
XSS_IDENTITY = '<img src=x onerror="window.__xss=3">'


def _service(data_dir: Path, extra_env: dict[str, str] | None = None) -> LiveService:
    """A service process (not started yet) with a writer, a reader and an admin token."""
    process = ServiceProcess(data_dir=data_dir, extra_env=extra_env or {})
    process.data_dir.mkdir(parents=True)
    return LiveService(
        process=process,
        writer=process.token("app", "write"),
        reader=process.token("dashboard", "read"),
        admin=process.token("ops", "admin"),
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    require_chromium()
    live = _service(tmp_path_factory.mktemp("console") / "data")
    process = live.process
    process.token(XSS_IDENTITY, "read")
    process.start()
    now = time.time()
    events: list[dict[str, Any]] = [
        {"event": "signup", "uid": f"user-{i}", "time": now - 120 + i} for i in range(3)
    ]
    events += [{"event": "page", "uid": f"reader-{i}", "time": now - 60 + i} for i in range(30)]
    markup = {"event": SCRIPT, "uid": IMAGE, "note": f"{SCRIPT}{IMAGE}", "event_id": "xss-1"}
    events.append({**markup, "time": now})
    with live.client(live.writer) as client:
        assert client.post("/log/events", json=events).json()["accepted"] == len(events)
    try:
        yield live
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium_browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context  # type: ignore[misc]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


class Watch:
    """What a page did that it must not: dialogs, script errors, CSP refusals, headers."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.console_responses: list[tuple[str, dict[str, str]]] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"CSP refusal: {message.text}")

    def _response(self, response: Any) -> None:
        if "/console" in response.url:
            self.console_responses.append((response.url, response.headers))


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[tuple[Page, Watch]]:
    tab = browser.new_page()  # a new tab: a fresh sessionStorage
    watch = Watch(tab)
    try:
        yield tab, watch
    finally:
        tab.close()


def _login(page: Page, service: LiveService, token: str) -> None:
    page.goto(f"{service.url}/console")
    page.fill("#login-token", token)
    page.click("#login-form button")
    page.wait_for_selector("#nav", state="visible")


def _go(page: Page, service: LiveService, where: str) -> None:
    page.goto(f"{service.url}/console#/{where}")


def _no_markup_ran(page: Page, watch: Watch) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("#page img, #page script").count() == 0
    assert watch.problems == []


def test_login_shows_the_overview_with_the_chart(
    page: tuple[Page, Watch], service: LiveService, shots: Path
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    tab.wait_for_selector("svg.chart")
    assert tab.locator("#who").inner_text().startswith("ops (admin, read, write)")
    assert tab.get_by_role("cell", name="page", exact=True).is_visible()
    heading = tab.locator("h2", has_text="Events stored per minute").inner_text()
    assert "(34)" in heading
    assert tab.locator("svg.chart rect").count() == 60
    # The token is kept for this tab only, never in the address.
    assert tab.evaluate("Object.keys(sessionStorage)") == ["stats-service.console.token"]
    assert service.admin not in tab.url
    screenshot(tab, shots, "overview")
    assert watch.problems == []


@pytest.mark.parametrize(
    ("which", "message"), [("garbage", "refused"), ("writer", "read scope")], ids=str
)
def test_a_wrong_token_shows_an_error_not_a_blank_page(
    page: tuple[Page, Watch], service: LiveService, shots: Path, which: str, message: str
) -> None:
    tab, watch = page
    tab.goto(f"{service.url}/console")
    tab.fill("#login-token", "not-a-token" if which == "garbage" else service.writer)
    tab.click("#login-form button")
    error = tab.locator("#login-error")
    error.wait_for(state="visible")
    expect(error).to_contain_text(message)
    assert tab.locator("#login-form").is_visible()
    assert tab.evaluate("sessionStorage.length") == 0
    screenshot(tab, shots, f"wrong-token-{which}")
    assert watch.problems == []


def test_filter_the_table_page_through_it_and_open_an_event(
    page: tuple[Page, Watch], service: LiveService, shots: Path
) -> None:
    tab, watch = page
    _login(tab, service, service.reader)
    _go(tab, service, "events")
    tab.fill("#filter-event", "page")
    tab.select_option("#filter-limit", "25")
    tab.click("form.filters button[type=submit]")
    expect(tab.locator("#page p.muted")).to_contain_text("Page 1: 25 events")
    assert set(tab.locator("tbody tr td:nth-child(2)").all_inner_texts()) == {"page"}
    tab.get_by_role("button", name="Next").click()
    expect(tab.locator("#page p.muted")).to_contain_text("Page 2: 5 events")
    assert tab.get_by_role("button", name="Next").is_disabled()
    tab.get_by_role("button", name="Previous").click()
    expect(tab.locator("#page p.muted")).to_contain_text("Page 1: 25 events")
    screenshot(tab, shots, "events")
    first_id = tab.locator("tbody tr td:nth-child(5) a").first.inner_text()
    tab.locator("tbody tr td:nth-child(5) a").first.click()
    expect(tab.locator("pre.json")).to_contain_text(first_id)
    shown = tab.locator("pre.json").inner_text()
    with service.client(service.reader) as client:
        stored = client.get(f"/log/event/{first_id}").json()
    assert json.loads(shown) == stored
    screenshot(tab, shots, "event")
    assert watch.problems == []


def test_create_a_token_see_it_once_and_revoke_it(
    page: tuple[Page, Watch], service: LiveService, shots: Path
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    _go(tab, service, "tokens")
    tab.fill("#token-identity", "ci-bot")
    tab.check("input[name=scopes][value=write]")
    tab.select_option("#token-expiry", "30d")
    tab.get_by_role("button", name="Create token").click()
    token = tab.locator("#new-token").inner_text()
    assert token.count(".") >= 1
    row = tab.locator("tbody tr", has_text="ci-bot")
    row.wait_for()
    assert "read, write" in row.inner_text()
    screenshot(tab, shots, "tokens")
    with service.client(token) as client:
        assert client.get("/log/events").status_code == 200
    # The listing never holds the token, and leaving the page forgets it.
    assert token not in tab.locator("table").inner_text()
    tab.get_by_role("button", name="Done").click()
    assert tab.locator("#new-token").count() == 0
    revoke = row.get_by_role("button")
    revoke.click()
    assert revoke.inner_text() == "Confirm revoke"
    revoke.click()
    tab.locator("tbody tr", has_text="ci-bot").filter(has_text="revoked").wait_for()
    with service.client(token) as client:
        assert client.get("/log/events").status_code == 401
    assert watch.problems == []


def test_a_read_token_gets_the_apis_refusal_on_the_tokens_page(
    page: tuple[Page, Watch], service: LiveService
) -> None:
    tab, watch = page
    _login(tab, service, service.reader)
    _go(tab, service, "tokens")
    expect(tab.locator("#page p.error")).to_contain_text("admin")
    assert watch.problems == []


@pytest.fixture(scope="module")
def bare_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service with the stream and the monitors switched off."""
    require_chromium()
    off = {"STATS_STREAM_ENABLED": "false", "STATS_MONITORS_ENABLED": "false"}
    live = _service(tmp_path_factory.mktemp("bare") / "data", off)
    process = live.process
    process.start()
    try:
        yield live
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("where", "title", "path"),
    [("tail", "The live tail", "/log/stream"), ("monitors", "Monitoring", "/monitors")],
    ids=["tail", "monitors"],
)
def test_pages_whose_api_is_absent_are_hidden_with_a_notice(
    page: tuple[Page, Watch],
    bare_service: LiveService,
    shots: Path,
    where: str,
    title: str,
    path: str,
) -> None:
    tab, watch = page
    service = bare_service
    _login(tab, service, service.admin)
    assert tab.locator(f"#nav a[data-page={where}]").is_hidden()
    assert tab.locator("#nav a[data-page=tokens]").is_visible()
    _go(tab, service, where)
    notice = tab.locator("#page .notice")
    notice.wait_for()
    assert path in notice.inner_text()
    assert tab.locator("#page h1").inner_text() == title
    screenshot(tab, shots, f"absent-{where}")
    assert watch.problems == []


@pytest.mark.parametrize("where", ["overview", "events", "events/xss-1", "tokens"])
def test_markup_in_stored_data_renders_as_text(
    page: tuple[Page, Watch], service: LiveService, where: str
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    _go(tab, service, where)
    expected = {
        "overview": SCRIPT,
        "events": IMAGE,
        "events/xss-1": json.dumps(f"{SCRIPT}{IMAGE}"),
        "tokens": XSS_IDENTITY,
    }[where]
    expect(tab.locator("#page")).to_contain_text(expected)
    _no_markup_ran(tab, watch)


def test_every_console_response_carries_the_policy(
    page: tuple[Page, Watch], service: LiveService
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    for where in ("events", "events/xss-1", "tokens", "tail"):
        _go(tab, service, where)
        tab.wait_for_load_state("networkidle")
    urls = {url for url, _ in watch.console_responses}
    assert any(url.endswith("/console/static/js/main.js") for url in urls)
    assert any("/console/api/features" in url for url in urls)
    for url, headers in watch.console_responses:
        policy = headers.get("content-security-policy", "")
        assert policy.startswith("default-src 'self'"), url
    with httpx.Client(base_url=service.url) as client:
        missing = client.get("/console/static/missing.js")
    assert missing.status_code == 404
    assert missing.headers["content-security-policy"].startswith("default-src 'self'")
    assert watch.problems == []


@pytest.mark.parametrize("where", ["overview", "events", "events/xss-1", "tokens"])
def test_every_page_fits_360_pixels(
    browser: BrowserContext, service: LiveService, shots: Path, where: str
) -> None:
    tab = browser.new_page()
    tab.set_viewport_size({"width": 360, "height": 740})
    try:
        _login(tab, service, service.admin)
        _go(tab, service, where)
        tab.wait_for_load_state("networkidle")
        tab.wait_for_timeout(200)
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{where} is {width} px wide"
        screenshot(tab, shots, f"narrow-{where.replace('/', '-')}")
    finally:
        tab.close()


@pytest.mark.parametrize("where", ["overview", "events", "tokens"])
def test_every_control_is_labelled_and_the_pages_are_reachable_by_keyboard(
    page: tuple[Page, Watch], service: LiveService, where: str
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    _go(tab, service, where)
    tab.wait_for_load_state("networkidle")
    unlabelled = tab.evaluate(
        "[...document.querySelectorAll('#page input, #page select')]"
        ".filter(el => el.labels.length === 0).map(el => el.outerHTML)"
    )
    assert unlabelled == []
    # From the page (focused after login), Shift+Tab reaches the navigation.
    tab.locator("#main").focus()
    for _ in range(12):
        tab.keyboard.press("Shift+Tab")
        if tab.evaluate("document.activeElement.dataset.page") == "events":
            break
    else:
        pytest.fail("the Events link is not reachable by keyboard")
    tab.keyboard.press("Enter")
    expect(tab.locator("#page h1")).to_have_text("Events")
    assert watch.problems == []


def test_an_event_posted_now_appears_in_the_live_tail_within_two_seconds(
    page: tuple[Page, Watch], service: LiveService, shots: Path
) -> None:
    tab, watch = page
    _login(tab, service, service.admin)
    _go(tab, service, "tail")
    expect(tab.locator("#page [role=status]")).to_have_text("Live.")
    name = f"tail-{time.time_ns()}"
    with service.client(service.writer) as client:
        assert client.post("/log/event", json={"event": name, "uid": SCRIPT}).status_code == 200
    expect(tab.locator("#page tbody tr").first).to_contain_text(name, timeout=2_000)
    expect(tab.locator("#page tbody tr").first).to_contain_text(SCRIPT)
    screenshot(tab, shots, "tail-real")
    _no_markup_ran(tab, watch)


def test_a_real_monitor_is_paused_and_resumed_from_its_page(
    page: tuple[Page, Watch], service: LiveService, shots: Path
) -> None:
    tab, watch = page
    spec = {"name": "console-ping", "url": f"{service.url}/ping", "interval_seconds": 5}
    with service.client(service.admin) as client:
        created = client.post("/monitors", json=spec)
        assert created.status_code == 201, created.text
        monitor_id = created.json()["id"]
        assert client.post(f"/monitors/{monitor_id}/run").status_code == 200
    _login(tab, service, service.admin)
    _go(tab, service, "monitors")
    row = tab.locator("#page tbody tr", has_text="console-ping")
    expect(row).to_contain_text("up")
    row.get_by_role("link").click()
    expect(tab.locator("#page [aria-live]").first).to_contain_text("uptime")

    def state() -> str:
        with service.client(service.reader) as client:
            return str(client.get(f"/monitors/{monitor_id}/status").json()["state"])

    tab.get_by_role("button", name="Pause").click()
    deadline = time.monotonic() + 5
    while state() != "paused" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state() == "paused"
    tab.get_by_role("button", name="Resume").click()
    deadline = time.monotonic() + 5
    while state() == "paused" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state() != "paused"
    screenshot(tab, shots, "monitor-real")
    _no_markup_ran(tab, watch)
