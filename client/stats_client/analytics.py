"""The public facade: :class:`Analytics`, configured once and used from anywhere.

``Analytics.init({...})`` builds the process-wide instance and returns it;
``Analytics.stats()`` returns it later. Instances can also be built and used
directly (``with Analytics({...}) as stats: ...``), e.g. in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import socket
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast

from stats_client import _fork
from stats_client._config import ClientConfig
from stats_client._counters import Counters, DeliveryCounters, DropReason, call_safely
from stats_client._delivery import BatchSender, base_headers, service_error
from stats_client._retry import RetryPolicy
from stats_client._transport import HTTPTransport, Request, Transport
from stats_client._wire import EventEncoder, WireItem
from stats_client._worker import Worker
from stats_client.exceptions import (
    ClientClosedError,
    DeliveryTimeoutError,
    EventNotFoundError,
    InvalidEventError,
    NotInitializedError,
    QueueFullError,
    ServiceError,
    StatsClientError,
)

__all__ = ["Analytics", "Timer"]

_F = TypeVar("_F", bound=Callable[..., Any])


class _Global:
    """Holds the process-wide instance; its lock is renewed in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.instance: Analytics | None = None
        self.tracked = False

    def _reset_after_fork(self) -> None:
        self.lock = threading.Lock()


_global = _Global()


def _client_version() -> str:
    return str(getattr(importlib.import_module("stats_client"), "__version__", "0"))


class Timer(contextlib.ContextDecorator):
    """Times a block or a function (sync or async) and logs it with ``timing()``.

    The event carries ``duration_seconds`` and, when the block raised, ``error``
    with the exception's class name (the exception still propagates).
    """

    def __init__(self, client: Analytics, event: str, uid: str, data: dict[str, Any]) -> None:
        self._client = client
        self._event = event
        self._uid = uid
        self._data = data
        self._started = 0.0

    def _recreate_cm(self) -> Timer:
        # A fresh timer per call, so concurrent calls of a decorated function never share one.
        return Timer(self._client, self._event, self._uid, self._data)

    def __enter__(self) -> Timer:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        data = dict(self._data)
        if exc_type is not None:
            data["error"] = exc_type.__name__
        self._client.timing(self._event, elapsed, uid=self._uid, **data)

    def __call__(self, func: _F) -> _F:
        if inspect.iscoroutinefunction(func):
            coroutine_function: Callable[..., Awaitable[Any]] = func

            @functools.wraps(func)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                with self._recreate_cm():
                    return await coroutine_function(*args, **kwargs)

            return cast("_F", timed_coroutine)
        return super().__call__(func)


class Analytics:
    """Logs analytics events to stats-service without ever blocking or crashing the app.

    ``config`` is the init dict (see :class:`~stats_client.ClientConfig` for
    every option), a ``ClientConfig``, or None; keyword ``options`` override it.
    """

    def __init__(
        self, config: Mapping[str, Any] | ClientConfig | None = None, /, **options: Any
    ) -> None:
        if isinstance(config, ClientConfig):
            cfg = config.replace(**options) if options else config
        else:
            cfg = ClientConfig.from_mapping({**(config or {}), **options})
        self.config = cfg
        self.app_node = cfg.app_node or socket.gethostname()
        self._ip: str | None = None
        self._closed = False
        self._owns_transport = cfg.transport is None
        self._transport: Transport = cfg.transport or HTTPTransport(
            cfg.url,
            connect_timeout_seconds=cfg.connect_timeout_seconds,
            read_timeout_seconds=cfg.read_timeout_seconds,
            max_idle_connections=cfg.max_idle_connections,
            proxy_url=cfg.proxy_url,
            ca_bundle_path=cfg.ca_bundle_path,
            verify_tls=cfg.verify_tls,
            trust_env=cfg.trust_env,
        )
        self._headers = base_headers(cfg.access_token, _client_version())
        self._encoder = EventEncoder(
            tags=cfg.tags,
            clock_ns=cfg.clock_ns,
            id_factory=cfg.id_factory,
            max_event_bytes=cfg.max_event_bytes,
        )
        self._counters = Counters(on_drop=cfg.on_drop)
        self._sender = BatchSender(
            transport=self._transport,
            headers=self._headers,
            policy=RetryPolicy(
                initial_backoff_seconds=cfg.retry_initial_backoff_seconds,
                max_backoff_seconds=cfg.retry_max_backoff_seconds,
                max_retry_after_seconds=cfg.max_retry_after_seconds,
                max_retries=cfg.max_retries,
            ),
            counters=self._counters,
            gzip_min_bytes=cfg.gzip_min_bytes,
            gzip_level=cfg.gzip_level,
        )
        self._worker: Worker | None = None
        if cfg.defer and not cfg.disabled:
            self._worker = Worker(
                sender=self._sender,
                counters=self._counters,
                max_queue_events=cfg.max_queue_events,
                max_queue_bytes=cfg.max_queue_bytes,
                drop_policy=cfg.drop_policy,
                block_timeout_seconds=cfg.block_timeout_seconds,
                max_batch_events=cfg.max_batch_events,
                max_batch_bytes=cfg.max_batch_bytes,
                flush_interval_seconds=cfg.flush_interval_seconds,
                exit_budget_seconds=cfg.shutdown_timeout_seconds,
                flush_at_exit=cfg.flush_at_exit,
                on_error=cfg.on_error,
            )

    def __repr__(self) -> str:
        cfg = self.config
        parts = urllib.parse.urlsplit(cfg.url)
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        return f"Analytics(url={url!r}, defer={cfg.defer}, disabled={cfg.disabled})"

    # -- the process-wide instance ----------------------------------------------------------

    @classmethod
    def init(
        cls, config: Mapping[str, Any] | ClientConfig | None = None, /, **options: Any
    ) -> Analytics:
        """Configure and return the process-wide instance, closing any previous one."""
        new = cls(config, **options)
        with _global.lock:
            if not _global.tracked:
                _fork.track(_global)
                _global.tracked = True
            old, _global.instance = _global.instance, new
        if old is not None:
            old.close()
        return new

    @classmethod
    def stats(cls) -> Analytics:
        """The instance the last ``Analytics.init(...)`` made."""
        instance = _global.instance
        if instance is None:
            raise NotInitializedError(
                "stats-client is not configured: call Analytics.init({'url': ..., "
                "'access_token': ...}) once at startup before Analytics.stats()"
            )
        return instance

    @classmethod
    def reset(cls, timeout: float | None = None) -> None:
        """Close and forget the process-wide instance (for tests)."""
        with _global.lock:
            old, _global.instance = _global.instance, None
        if old is not None:
            old.close(timeout)

    # -- logging ----------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any]) -> str | None:
        """Log one event (``event`` and ``uid`` required); its id, or None when dropped.

        Deferred (the default): validates, serialises and queues, never blocks and
        never raises unless ``strict``. With ``defer=False`` it sends now, under the
        retry rules and ``sync_timeout_seconds``, and returns the stored id.
        """
        if self.config.disabled:
            return None
        try:
            item = self._encoder.event(data)
        except InvalidEventError as exc:
            self._invalid(exc)
            return None
        worker = self._worker
        if worker is not None:
            if worker.submit(item):
                return item.event_id
            self._raise_if_strict(worker.closed)
            return None
        ids = self._send_now([item])
        return ids[0] if ids else None

    def log_points(self, points: Iterable[Mapping[str, Any]]) -> list[str]:
        """Log ``{measurement, tags, fields, time?}`` points; the ids of those kept."""
        if self.config.disabled:
            return []
        items: list[WireItem] = []
        for point in points:
            try:
                items.append(self._encoder.point(point))
            except InvalidEventError as exc:
                self._invalid(exc)
        worker = self._worker
        if worker is None:
            return self._send_now(items) if items else []
        kept = []
        for item in items:
            if worker.submit(item):
                kept.append(item.event_id)
            else:
                self._raise_if_strict(worker.closed)
        return kept

    def _invalid(self, exc: InvalidEventError) -> None:
        self._counters.drop(DropReason.INVALID, 1, exc.message)
        if self.config.strict:
            raise exc

    def _raise_if_strict(self, closed: bool) -> None:
        if not self.config.strict:
            return
        if closed:
            raise ClientClosedError("the client is closed")
        raise QueueFullError(
            f"the buffer is full ({self.config.max_queue_events} events / "
            f"{self.config.max_queue_bytes} bytes); the event was dropped"
        )

    def _send_now(self, items: list[WireItem]) -> list[str]:
        if self._closed:
            self._counters.drop(DropReason.CLOSED, len(items))
            self._raise_if_strict(closed=True)
            return []
        self._counters.add_enqueued(len(items))
        deadline = time.monotonic() + self.config.sync_timeout_seconds
        outcome = self._sender.deliver(items, sleep=_sleep_fully, deadline=deadline)
        errors: list[StatsClientError] = list(outcome.errors)
        if outcome.unfinished:
            self._counters.drop(DropReason.TIMEOUT, len(outcome.unfinished))
            errors.append(
                DeliveryTimeoutError(
                    f"{len(outcome.unfinished)} events not delivered within "
                    f"{self.config.sync_timeout_seconds} s",
                    event_ids=tuple(item.event_id for item in outcome.unfinished),
                )
            )
        for error in errors:
            call_safely(self.config.on_error, error)
        if errors and self.config.strict:
            raise errors[0]
        return outcome.ids

    # -- helpers people expect --------------------------------------------------------------

    def _host_ip(self) -> str | None:
        if self._ip is None:
            try:
                self._ip = socket.gethostbyname(self.app_node)
            except OSError:
                return None
        return self._ip

    def _system_event(self, event: str) -> str | None:
        return self.log(
            {
                "event": event,
                "uid": f"system-{self.app_node}",
                "ip": self._host_ip(),
                "hostname": socket.gethostname(),
                "app_node": self.app_node,
            }
        )

    def system_startup(self) -> str | None:
        """Log ``server.start`` for this node (uid ``system-<node>``, ip, hostname, app_node)."""
        return self._system_event("server.start")

    def system_shutdown(self) -> str | None:
        """Log ``server.stop`` for this node, with the same fields as ``system_startup``."""
        return self._system_event("server.stop")

    def count(self, event: str, n: int = 1, *, uid: str = "", **data: Any) -> str | None:
        """Log ``event`` with ``count=n`` (and any extra data)."""
        payload: dict[str, Any] = {"event": event, "uid": uid, **data}
        payload["count"] = n
        return self.log(payload)

    def timing(self, event: str, seconds: float, *, uid: str = "", **data: Any) -> str | None:
        """Log ``event`` with ``duration_seconds=seconds`` (and any extra data)."""
        payload: dict[str, Any] = {"event": event, "uid": uid, **data}
        payload["duration_seconds"] = seconds
        return self.log(payload)

    def timed(self, event: str, *, uid: str = "", **data: Any) -> Timer:
        """A context manager and decorator that logs how long its block took."""
        return Timer(self, event, uid, data)

    # -- reading ----------------------------------------------------------------------------

    def _get_json(self, path: str) -> Any:
        response = self._transport.send(
            Request("GET", path, self._headers), timeout_seconds=self.config.sync_timeout_seconds
        )
        if response.status == 404 and path.startswith("/log/event/"):
            error = service_error(response)
            raise EventNotFoundError(error.message, status=404, code=error.code)
        if response.status != 200:
            raise service_error(response)
        try:
            return response.json()
        except ValueError:
            raise ServiceError("the service answered with invalid JSON", status=200) from None

    def ping(self) -> dict[str, Any]:
        """``GET /ping``: the service's status, name and version; raises when unreachable."""
        answer = self._get_json("/ping")
        if not isinstance(answer, dict):
            raise ServiceError("unexpected /ping answer", status=200, details=answer)
        return answer

    def get(self, event_id: str) -> dict[str, Any]:
        """``GET /log/event/<id>``: the stored event; EventNotFoundError when unknown."""
        answer = self._get_json("/log/event/" + urllib.parse.quote(event_id, safe=""))
        if not isinstance(answer, dict):
            raise ServiceError("unexpected event answer", status=200, details=answer)
        return answer

    # -- delivery control -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is delivered; False on timeout.

        ``timeout`` defaults to ``shutdown_timeout_seconds``. Safe from any thread
        and from inside ``on_error`` / ``on_drop`` callbacks.
        """
        if self._worker is None:
            return True
        return self._worker.flush(
            self.config.shutdown_timeout_seconds if timeout is None else timeout
        )

    async def aflush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109  # mirrors flush(timeout); the wait runs in a thread
        """``flush`` for asyncio code: waits in a worker thread, never on the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush (within ``timeout``), stop the sender and release connections.

        True when nothing was lost. Events logged afterwards are dropped as ``closed``.
        """
        budget = self.config.shutdown_timeout_seconds if timeout is None else timeout
        self._closed = True
        delivered = True if self._worker is None else self._worker.close(budget)
        self._counters.report_unlogged()
        if self._owns_transport:
            self._transport.close()
        return delivered

    def counters(self) -> DeliveryCounters:
        """Enqueued, sent, retried and dropped (by reason) events, and the queue depth."""
        if self._worker is not None:
            return self._worker.counters()
        return self._counters.snapshot(enqueued=0, queue_depth=0, in_flight=0)

    def __enter__(self) -> Analytics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _sleep_fully(seconds: float) -> bool:
    time.sleep(seconds)
    return True
