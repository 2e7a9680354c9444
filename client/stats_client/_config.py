"""The client's one configuration object, built from the ``Analytics.init`` dict.

Every option has a default, a unit in its name and a one-line doc; unknown keys
and bad values raise :class:`~stats_client.exceptions.ConfigurationError` at
init time rather than misbehaving later.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import time
import types
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from stats_client._wire import check_tags, new_event_id
from stats_client.exceptions import ConfigurationError, InvalidEventError, StatsClientError

if TYPE_CHECKING:
    from stats_client._transport import Transport

__all__ = ["ClientConfig", "DropCallback", "DropPolicy", "ErrorCallback"]

DropPolicy = Literal["newest", "oldest", "block"]
ErrorCallback = Callable[[StatsClientError], None]
"""Called with every delivery error (rejected item, non-retryable status, ...)."""
DropCallback = Callable[[str, int], None]
"""Called with ``(reason, count)`` whenever events are lost."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything the client can be told; build it with :meth:`from_mapping`."""

    url: str = "http://127.0.0.1:20080"
    """Base URL of stats-service: scheme, host, port and an optional path prefix."""
    access_token: str = field(default="", repr=False)
    """Token sent as ``Authorization: Token <token>``; never logged."""
    defer: bool = True
    """True: ``log()`` queues and returns at once; False: it sends and waits for the ids."""
    disabled: bool = False
    """True: ``log()`` and friends do nothing at all."""
    strict: bool = False
    """True: ``log()`` raises instead of counting drops (invalid event, full buffer, closed)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags attached to every event and point (per-call tags win on conflict)."""
    app_node: str = ""
    """Name of this node for ``system_startup()``; empty means the host name."""
    max_queue_events: int = 10_000
    """Buffer capacity in events."""
    max_queue_bytes: int = 8 * 1024 * 1024
    """Buffer capacity in serialised bytes."""
    drop_policy: DropPolicy = "newest"
    """When the buffer is full: drop the ``newest`` event, the ``oldest`` ones, or ``block``."""
    block_timeout_seconds: float = 0.1
    """With ``block``: how long ``log()`` may wait for room before dropping the event."""
    max_batch_events: int = 500
    """Most events in one request."""
    max_batch_bytes: int = 512 * 1024
    """Most uncompressed body bytes in one request (one oversized event still goes alone)."""
    max_event_bytes: int = 65_536
    """Largest serialised event; larger ones are dropped as ``invalid``."""
    flush_interval_seconds: float = 0.5
    """Longest an event waits in the buffer for its batch to fill."""
    gzip_min_bytes: int | None = 1024
    """Bodies over this many bytes are gzip-compressed; None never compresses."""
    gzip_level: int = 6
    """gzip compression level, 1 (fast) to 9 (small)."""
    connect_timeout_seconds: float = 2.0
    """TCP (and TLS, proxy tunnel) connect timeout."""
    read_timeout_seconds: float = 10.0
    """Longest wait for any read of a response."""
    max_idle_connections: int = 2
    """Keep-alive connections kept open for reuse."""
    retry_initial_backoff_seconds: float = 0.2
    """First retry delay; it doubles per attempt, with jitter."""
    retry_max_backoff_seconds: float = 30.0
    """Cap of the retry delay."""
    max_retry_after_seconds: float = 300.0
    """Cap on a server's ``Retry-After``."""
    max_retries: int | None = None
    """Retries of one batch before it is dropped; None retries until delivered or closed."""
    sync_timeout_seconds: float = 10.0
    """Deadline of one synchronous send (``defer=False``), retries included."""
    shutdown_timeout_seconds: float = 2.0
    """Budget to drain the buffer at exit; also the default for ``flush()`` and ``close()``."""
    flush_at_exit: bool = True
    """Drain the buffer when the interpreter exits."""
    proxy_url: str | None = None
    """HTTP proxy, e.g. ``http://user:pass@proxy:3128``; None uses the environment if trusted."""
    ca_bundle_path: str | None = None
    """PEM file of CA certificates to trust instead of the system store."""
    verify_tls: bool = True
    """Verify the service's TLS certificate and host name."""
    trust_env: bool = True
    """Honour HTTP_PROXY / HTTPS_PROXY / NO_PROXY and OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR."""
    on_error: ErrorCallback | None = None
    """Called with each delivery error; exceptions it raises are logged and ignored."""
    on_drop: DropCallback | None = None
    """Called with ``(reason, count)`` for every loss; exceptions are logged and ignored."""
    transport: Transport | None = None
    """Send through this transport (e.g. ``MemoryTransport()``) instead of HTTP."""
    clock_ns: Callable[[], int] = time.time_ns
    """Wall clock stamped on events, in nanoseconds since the epoch."""
    id_factory: Callable[[], str] = new_event_id
    """Makes each ``event_id`` (``entry_<32 hex>``)."""

    def __post_init__(self) -> None:
        _check_url(self.url, "url")
        if self.proxy_url is not None:
            _check_url(self.proxy_url, "proxy_url", schemes=("http",))
        self._check_types()
        self._check_numbers()
        if self.drop_policy not in get_args(DropPolicy):
            raise ConfigurationError(
                f"drop_policy must be one of {get_args(DropPolicy)}, not {self.drop_policy!r}"
            )
        if self.max_event_bytes > self.max_queue_bytes:
            raise ConfigurationError("max_event_bytes must not exceed max_queue_bytes")
        try:
            tags = check_tags(self.tags)
        except InvalidEventError as exc:
            raise ConfigurationError(f"tags: {exc.message}") from None
        object.__setattr__(self, "tags", types.MappingProxyType(tags))

    def _check_types(self) -> None:
        for name in ("defer", "disabled", "strict", "verify_tls", "trust_env", "flush_at_exit"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name} must be a bool")
        for name in ("access_token", "app_node"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"{name} must be a str")
        if self.ca_bundle_path is not None and not isinstance(self.ca_bundle_path, str):
            raise ConfigurationError("ca_bundle_path must be a str path or None")
        for name in ("on_error", "on_drop", "clock_ns", "id_factory"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ConfigurationError(f"{name} must be callable")
        if self.transport is not None and not callable(getattr(self.transport, "send", None)):
            raise ConfigurationError("transport must have a send(request) method")

    def _check_numbers(self) -> None:
        for name in (
            "max_queue_events",
            "max_queue_bytes",
            "max_batch_events",
            "max_batch_bytes",
            "max_event_bytes",
            "max_idle_connections",
        ):
            _check_int(self, name, minimum=1)
        _check_int(self, "gzip_level", minimum=1, maximum=9)
        if self.gzip_min_bytes is not None:
            _check_int(self, "gzip_min_bytes", minimum=0)
        if self.max_retries is not None:
            _check_int(self, "max_retries", minimum=0)
        for name in (
            "block_timeout_seconds",
            "flush_interval_seconds",
            "retry_initial_backoff_seconds",
            "retry_max_backoff_seconds",
            "max_retry_after_seconds",
            "shutdown_timeout_seconds",
        ):
            _check_seconds(self, name, positive=False)
        for name in ("connect_timeout_seconds", "read_timeout_seconds", "sync_timeout_seconds"):
            _check_seconds(self, name, positive=True)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None = None) -> ClientConfig:
        """Build from an init dict; an unknown key raises ConfigurationError naming it."""
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(key for key in options if key not in known)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigurationError(f"unknown option(s): {', '.join(hints)}")
        return cls(**options)

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied (validated the same way)."""
        return dataclasses.replace(self, **changes)


def _check_url(value: object, name: str, schemes: tuple[str, ...] = ("http", "https")) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigurationError(f"{name} must be an {'/'.join(schemes)} URL with a host")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigurationError(f"{name} has an invalid port") from None


def _check_int(
    config: ClientConfig, name: str, *, minimum: int, maximum: int | None = None
) -> None:
    value = getattr(config, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"{name} must be an int")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigurationError(f"{name} must be {bound}, not {value}")


def _check_seconds(config: ClientConfig, name: str, *, positive: bool) -> None:
    value = getattr(config, name)
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise ConfigurationError(f"{name} must be a number of seconds")
    if value < 0 or (positive and value == 0):
        raise ConfigurationError(f"{name} must be {'> 0' if positive else '>= 0'}, not {value}")
