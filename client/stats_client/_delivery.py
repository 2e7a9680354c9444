"""Delivers one batch to ``POST /log/events`` under the retry policy.

Shared by the background worker, the synchronous mode and the exit drain: it
retries what the policy says to retry (same bytes, same event ids, so the
service stores each event once), splits a batch answered with 413, reports
rejected items and final failures, and never sleeps by itself: the caller
passes a ``sleep`` that may be interrupted.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stats_client._counters import Counters, DropReason
from stats_client._retry import Decision, RetryPolicy, classify, parse_retry_after
from stats_client._transport import Request, Response, Transport
from stats_client._wire import WireItem, encode_batch
from stats_client.exceptions import (
    AuthenticationError,
    EventRejectedError,
    PayloadTooLargeError,
    ServiceError,
    StatsClientError,
    TransportError,
)

__all__ = ["BatchSender", "DeliveryOutcome", "Sleeper", "base_headers", "service_error"]

_logger = logging.getLogger("stats_client")

Sleeper = Callable[[float], bool]
"""Waits the given seconds; returns False when told to stop instead."""


def base_headers(access_token: str, version: str) -> dict[str, str]:
    """Headers of every request: auth (when a token is set), JSON, and who we are."""
    headers = {
        "Accept": "application/json",
        "User-Agent": f"stats-client/{version} python/{sys.version_info[0]}.{sys.version_info[1]}",
    }
    if access_token:
        headers["Authorization"] = f"Token {access_token}"
    return headers


def service_error(
    response: Response, *, event_ids: tuple[str, ...] = (), now_seconds: float | None = None
) -> ServiceError:
    """The ServiceError leaf for an error ``response`` and its ``{"error": {...}}`` body."""
    code = ""
    message = f"HTTP {response.status}"
    details: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", ""))
        message = f"HTTP {response.status} {code}: {error.get('message', '')}".rstrip(": ")
        details = error.get("details")
    retry_after = parse_retry_after(
        response.header("Retry-After"),
        now_seconds=time.time() if now_seconds is None else now_seconds,
    )
    cls: type[ServiceError] = ServiceError
    if response.status in {401, 403}:
        cls = AuthenticationError
    elif response.status == 413:
        cls = PayloadTooLargeError
    return cls(
        message,
        status=response.status,
        code=code,
        details=details,
        retry_after_seconds=retry_after,
        event_ids=event_ids,
    )


@dataclass(slots=True)
class DeliveryOutcome:
    """What one ``deliver`` call achieved."""

    ids: list[str] = field(default_factory=list)
    """Ids the service confirmed, in order."""
    errors: list[StatsClientError] = field(default_factory=list)
    """Errors to hand to ``on_error`` (the matching drops are already counted)."""
    unfinished: list[WireItem] = field(default_factory=list)
    """Items neither confirmed nor dropped: ``sleep`` said stop, or the deadline passed."""


class BatchSender:
    """Sends batches through a transport and applies the retry policy to the answers."""

    def __init__(
        self,
        *,
        transport: Transport,
        headers: dict[str, str],
        policy: RetryPolicy,
        counters: Counters,
        gzip_min_bytes: int | None,
        gzip_level: int,
        random_fraction: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._headers = headers
        self._policy = policy
        self._counters = counters
        self._gzip_min_bytes = gzip_min_bytes
        self._gzip_level = gzip_level
        self._random = random_fraction
        self._wall_clock = wall_clock
        self._monotonic = monotonic

    def _request(self, items: Sequence[WireItem]) -> Request:
        body, gzipped = encode_batch(
            items, gzip_min_bytes=self._gzip_min_bytes, gzip_level=self._gzip_level
        )
        headers = {**self._headers, "Content-Type": "application/json"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return Request("POST", "/log/events", headers, body)

    def _remaining(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - self._monotonic()

    def deliver(
        self, items: Sequence[WireItem], *, sleep: Sleeper, deadline: float | None = None
    ) -> DeliveryOutcome:
        """Deliver ``items`` (in one request when possible); ``deadline`` is monotonic seconds."""
        outcome = DeliveryOutcome()
        parts: deque[list[WireItem]] = deque([list(items)] if items else [])
        while parts:
            part = parts.popleft()
            if not self._deliver_part(part, parts, outcome, sleep, deadline):
                outcome.unfinished.extend(part)
                for rest in parts:
                    outcome.unfinished.extend(rest)
                break
        return outcome

    def _deliver_part(
        self,
        part: list[WireItem],
        parts: deque[list[WireItem]],
        outcome: DeliveryOutcome,
        sleep: Sleeper,
        deadline: float | None,
    ) -> bool:
        """Resolve ``part`` (sent, split or dropped): True; stopped before that: False."""
        request = self._request(part)
        event_ids = tuple(item.event_id for item in part)
        retries = 0
        while True:
            remaining = self._remaining(deadline)
            if remaining is not None and remaining <= 0:
                return False
            response, error = self._attempt(request, remaining, event_ids)
            decision = classify(None if response is None else response.status)
            if decision is Decision.DONE and response is not None:
                self._accept(part, response, outcome)
                return True
            if decision is Decision.SPLIT and len(part) > 1:
                middle = len(part) // 2
                parts.appendleft(part[middle:])
                parts.appendleft(part[:middle])
                return True
            assert error is not None
            if decision is not Decision.RETRY or not self._policy.may_retry(retries):
                reason = {
                    Decision.SPLIT: DropReason.TOO_LARGE,
                    Decision.FAIL: DropReason.HTTP_ERROR,
                }.get(decision, DropReason.RETRIES_EXHAUSTED)
                outcome.errors.append(error)
                self._counters.drop(reason, len(part), error.message)
                return True
            retries += 1
            retry_after = error.retry_after_seconds if isinstance(error, ServiceError) else None
            delay = self._policy.delay_seconds(
                retries, retry_after=retry_after, random=self._random
            )
            remaining = self._remaining(deadline)
            if remaining is not None and delay >= remaining:
                return False
            _logger.debug(
                "stats-client: retry %d of %d events in %.2f s after %s",
                retries,
                len(part),
                delay,
                error.message,
            )
            if not sleep(delay):
                return False
            self._counters.add_retried()

    def _attempt(
        self, request: Request, remaining: float | None, event_ids: tuple[str, ...]
    ) -> tuple[Response | None, StatsClientError | None]:
        """One request: the response (None without one) and the error it stands for."""
        try:
            response = self._transport.send(request, timeout_seconds=remaining)
        except TransportError as exc:
            return None, TransportError(exc.message, event_ids=event_ids)
        if 200 <= response.status < 300:
            return response, None
        error = service_error(response, event_ids=event_ids, now_seconds=self._wall_clock())
        return response, error

    def _accept(self, part: list[WireItem], response: Response, outcome: DeliveryOutcome) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        rejected: dict[int, str] = {}
        ids: list[str] | None = None
        if isinstance(body, dict):
            for entry in body.get("rejected") or ():
                if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                    index = entry["index"]
                    if 0 <= index < len(part):
                        rejected[index] = str(entry.get("error", "rejected"))
            if isinstance(body.get("ids"), list):
                ids = [str(event_id) for event_id in body["ids"]]
        if ids is None:
            ids = [item.event_id for index, item in enumerate(part) if index not in rejected]
        outcome.ids.extend(ids)
        self._counters.add_sent(len(part) - len(rejected))
        for index, reason in sorted(rejected.items()):
            event_id = part[index].event_id
            outcome.errors.append(
                EventRejectedError(
                    f"event {event_id} rejected: {reason}", event_id=event_id, index=index
                )
            )
        if rejected:
            self._counters.drop(DropReason.REJECTED, len(rejected), "the service refused them")
