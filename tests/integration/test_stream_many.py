"""Many concurrent SSE clients on one service process: all get the event; memory per client.

The clients are bare asyncio sockets (an HTTP/1.1 GET each), so the test
process stays light. The service's resident memory is read from /proc before
and after the clients connect; the README documents the bound measured here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 500


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _client(port: int, token: str, opened: asyncio.Event, event_id: list[str]) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET /log/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        seen = b""
        while b": open" not in seen:
            seen += await asyncio.wait_for(reader.read(4096), 30)
        assert seen.startswith(b"HTTP/1.1 200"), seen[:200]
        opened.set()
        while True:
            seen += await asyncio.wait_for(reader.read(4096), 30)
            if event_id and f"id: {event_id[0]}".encode() in seen:
                return True
    finally:
        writer.close()


def test_five_hundred_sse_clients_all_receive_an_event(service_factory, tmp_path) -> None:
    process: ServiceProcess = service_factory(
        data_dir=tmp_path / "data",
        extra_env={
            "STATS_STREAM_MAX_PER_IDENTITY": str(CLIENTS + 10),
            "STATS_STREAM_POLL_INTERVAL_SECONDS": "0.05",
        },
    )
    process.data_dir.mkdir(parents=True)
    writer, reader = process.token("app", "write"), process.token("dash", "read")
    process.start()
    assert process.process is not None
    pid = process.process.pid
    before = _rss_bytes(pid)

    async def scenario() -> tuple[int, int]:
        event_id: list[str] = []
        opened = [asyncio.Event() for _ in range(CLIENTS)]
        tasks = [
            asyncio.create_task(_client(process.port, reader, opened[i], event_id))
            for i in range(CLIENTS)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 60)
        connected = _rss_bytes(pid)
        async with httpx.AsyncClient() as client:
            posted = await client.post(
                f"{process.url}/log/event",
                json={"event": "fanout", "uid": "u"},
                headers={"Authorization": f"Token {writer}"},
            )
        assert posted.status_code == 200
        event_id.append(posted.json())
        results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        return sum(results), connected

    received, connected = asyncio.run(scenario())
    assert received == CLIENTS
    per_client = (connected - before) / CLIENTS
    print(
        f"\nservice RSS {before / 2**20:.1f} MiB idle, {connected / 2**20:.1f} MiB with "
        f"{CLIENTS} streams: {per_client / 1024:.1f} KiB per client"
    )
    # the documented bound (README, Live stream): under 64 KiB per idle client
    assert per_client < 64 * 1024
