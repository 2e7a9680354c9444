"""Bad line protocol through a real service: InfluxDB's 400 or 413, never a 500, good lines kept."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator

import httpx
import pytest
from service_process import LiveService

pytestmark = [pytest.mark.integration]

BOMB_BYTES = 1 << 30  # what the bomb inflates to
CHUNK = b"bomb v=1\n" * 100_000


def gzip_bomb(total: int = BOMB_BYTES) -> Iterator[bytes]:
    """A gzip stream of ``total`` bytes of line protocol, compressed as it is sent."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    sent = 0
    while sent < total:
        piece = CHUNK[: total - sent]
        sent += len(piece)
        out = deflate.compress(piece)
        if out:
            yield out
    yield deflate.flush()


def test_every_kind_of_bad_line_is_named_and_good_lines_are_kept(live_service: LiveService) -> None:
    m = f"bad_{uuid.uuid4().hex[:8]}"
    bad_lines = [
        f"{m},a\\=1 v=1",  # tag key with an escaped '=' and no value
        f"{m} v=NaN",
        f"{m} v=-Inf",
        f"{m},a=1,a=2 v=1",
        f"{m} v=9223372036854775808i",
        f"{m} v=1 9223372036854775807",
        f"{m} v=1 -5",
        f'{m} s="' + "x" * 300_000 + '"',
        f"{m} v=1 12a",
    ]
    body = (f"{m} good=1i 1\n" + "\n".join(bad_lines) + f"\n{m} good=2i 2\n").encode()
    body += f'{m} s="\xff"\n'.encode("latin-1")
    # An unterminated string runs to the end of the body (or the next quote), as in influxd.
    body += f'{m} s="unterminated\n{m} swallowed=1i\n'.encode()
    with httpx.Client(base_url=live_service.url, timeout=30) as client:
        response = client.post(
            "/api/v2/write",
            params={"bucket": "b"},
            headers={"Authorization": f"Token {live_service.writer}"},
            content=body,
        )
        read = client.get(
            "/log/events",
            params={"measurement": m},
            headers={"Authorization": f"Token {live_service.reader}"},
        )
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith(f"partial write: unable to parse '{m},a\\=1 v=1': missing tag value")
    assert (
        f"(line 2); {len(bad_lines) + 1} more line(s) refused dropped={len(bad_lines) + 2}"
        in message
    )
    assert [e["good"] for e in read.json()["events"]] == [1, 2]


@pytest.mark.slow
def test_a_gigabyte_gzip_bomb_is_413_and_the_service_carries_on(live_service: LiveService) -> None:
    headers = {"Authorization": f"Token {live_service.writer}", "Content-Encoding": "gzip"}
    with httpx.Client(base_url=live_service.url, timeout=120) as client:
        response = client.post(
            "/api/v2/write", params={"bucket": "b"}, headers=headers, content=gzip_bomb()
        )
        assert response.status_code == 413
        after = client.post(
            "/write",
            params={"db": "d"},
            headers={"Authorization": f"Token {live_service.writer}"},
            content=b"after_bomb v=1",
        )
    assert after.status_code == 204
