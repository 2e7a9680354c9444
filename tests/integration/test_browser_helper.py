"""Without chromium the browser tests fail under CI=true and skip elsewhere."""

from __future__ import annotations

from pathlib import Path

import browser
import pytest


@pytest.mark.parametrize(("ci", "outcome"), [("true", "Failed"), ("", "Skipped")], ids=str)
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: str
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(BaseException) as raised:  # noqa: PT011 -- pytest's outcome types
        browser.require_chromium()
    assert type(raised.value).__name__ == outcome
    assert "no-chromium is not installed" in str(raised.value)
