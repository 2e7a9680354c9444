"""A small Server-Sent Events reader over httpx for the stream tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

__all__ = ["Frame", "frames"]


@dataclass
class Frame:
    """One SSE frame: comment lines, event type, id and data."""

    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, object]:
        value: dict[str, object] = json.loads(self.data)
        return value


def frames(response: httpx.Response) -> Iterator[Frame]:
    """The frames of a streaming response, as they arrive."""
    frame = Frame()
    for line in response.iter_lines():
        if line == "":
            if frame.data or frame.comments or frame.id is not None or frame.event != "message":
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            frame.comments.append(line[1:].strip())
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "data":
                frame.data = f"{frame.data}\n{value}" if frame.data else value
            elif key == "id":
                frame.id = value
            elif key == "event":
                frame.event = value
