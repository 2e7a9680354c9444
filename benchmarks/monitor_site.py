"""The loopback website of the monitors benchmark: answers every request 200 ``ok``.

A bare asyncio protocol with keep-alive, run as its own process
(``python -m benchmarks.monitor_site PORT``) so it does not share the checking
process's event loop. Prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import sys

__all__ = ["main"]

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _Site(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            _, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            assert self._transport is not None
            self._transport.write(_RESPONSE)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Site, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve on 127.0.0.1 at the port given as the only argument."""
    asyncio.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
