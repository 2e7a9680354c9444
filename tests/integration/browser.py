"""Debian's ``chromium`` under Playwright, for the console's browser tests.

Playwright's own browser download is not used: the browser is the system one at
:data:`CHROMIUM` (``make chromium`` installs it). Under ``CI=true`` a missing browser
fails the run; elsewhere its tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium_browser", "require_chromium", "screenshot"]

CHROMIUM = Path(os.environ.get("STATS_TEST_CHROMIUM", "/usr/bin/chromium"))

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> Path:
    """The browser's path; fails under CI, skips elsewhere, when it or Playwright is absent."""
    problem = None
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(str(CHROMIUM)):
        problem = f"{CHROMIUM} is not installed (make chromium)"
    else:
        try:
            import playwright  # noqa: F401, PLC0415 -- only to learn whether it is installed
        except ImportError:
            problem = "the playwright package is not installed (make install)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need chromium: {problem}")
        pytest.skip(problem)
    return CHROMIUM


@contextmanager
def chromium_browser(user_data_dir: Path) -> Iterator[object]:
    """A persistent Chromium context on a fresh profile in ``user_data_dir``."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 -- optional dependency

    executable = require_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(executable),
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(page: object, directory: Path, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``directory/console-NAME.png``.

    ``STATS_CONSOLE_SCREENSHOT_DIR`` sends them elsewhere (``docs/`` for README's).
    """
    target = Path(os.environ.get("STATS_CONSOLE_SCREENSHOT_DIR", directory))
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
