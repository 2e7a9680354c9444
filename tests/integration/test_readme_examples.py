"""README.rst's quick-start commands run verbatim (but for host and token) on a live service."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from service_process import LiveService

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.rst"


def _first_bash_block(text: str) -> str:
    match = re.search(r"\.\. code-block:: bash\n\n((?:    .*\n|\n)+)", text)
    assert match, "README.rst has no bash code block"
    return "\n".join(line[4:] for line in match.group(1).splitlines())


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quick_start_commands_work(live_service: LiveService, tmp_path: Path) -> None:
    script = _first_bash_block(README.read_text(encoding="utf-8"))
    assert "$(cat var/dev-token)" in script
    assert "http://127.0.0.1:20080" in script
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-token").write_text(live_service.admin + "\n", encoding="utf-8")
    script = script.replace("http://127.0.0.1:20080", live_service.url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '{"status":"ok","name":"stats-service"' in out
    # curl prints the bodies back to back: ping, the id, the fetched event, the page.
    posted = re.search(r'\}"(entry_[0-9a-f]{32})"\{', out)
    assert posted, out
    fetched = re.search(r'\{"event_id":"(entry_[0-9a-f]{32})"[^}]*"event":"pnc\.test"[^}]*\}', out)
    assert fetched, out
    assert '"uid":"oisin"' in fetched.group(0)
    assert re.search(r'\{"events":\[\{[^]]*"event":"pnc\.test"[^]]*\],"next_cursor":', out)
