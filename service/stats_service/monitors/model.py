"""What a monitor is and what one check of it found: the API's schemas.

A :class:`MonitorSpec` is what a user writes (``POST /monitors``, the import
file); a :class:`Monitor` is a stored spec with its id and pause flag; a
:class:`CheckResult` is one check. Specs are validated strictly: an unknown
key or a bad value is a 422 that names the field.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_STATUS_RANGE",
    "REDACTED",
    "CheckResult",
    "ConditionFailure",
    "Conditions",
    "JsonPathEquals",
    "Monitor",
    "MonitorPatch",
    "MonitorSpec",
    "Reason",
    "new_monitor_id",
    "new_result_id",
    "redact_headers",
]

DEFAULT_STATUS_RANGE = (200, 399)
"""Status codes that count as up when a monitor names no status condition."""

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9 _.:/@-]{0,127}$"
_TAG_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_HEADER_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_SENSITIVE_HEADER_PARTS = ("authorization", "cookie", "token", "secret", "key", "password")
REDACTED = "<redacted>"
"""What a credential header's value is shown as."""

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Reason(StrEnum):
    """Why a check got no usable response; recorded instead of an exception's text."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    REDIRECT_LOOP = "redirect_loop"
    BODY_TOO_LARGE = "body_too_large"
    PROTOCOL = "protocol"


class JsonPathEquals(BaseModel):
    """The JSON body's value at ``path`` (``$.a.b[0]``) equals ``equals``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\$")]
    equals: Any


class Conditions(BaseModel):
    """What a response must satisfy to count as up; every condition given must hold.

    Without ``status_in`` and ``status_range`` the status must be 200-399.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status_in: (
        Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(max_length=64)] | None
    ) = None
    status_range: (
        tuple[Annotated[int, Field(ge=100, le=599)], Annotated[int, Field(ge=100, le=599)]] | None
    ) = None
    body_contains: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    json_path: JsonPathEquals | None = None
    max_response_ms: Annotated[float, Field(gt=0, le=600_000)] | None = None
    min_cert_days: Annotated[float, Field(ge=0, le=3650)] | None = None

    @field_validator("status_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError("status_range must be [low, high] with low <= high")
        return value

    @property
    def needs_body(self) -> bool:
        """Whether a condition reads the body."""
        return self.body_contains is not None or self.json_path is not None


class MonitorSpec(BaseModel):
    """A monitor as the user defines it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=_NAME_RE)]
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    method: Method = "GET"
    headers: Annotated[dict[str, Annotated[str, Field(max_length=8192)]], Field(max_length=64)] = (
        Field(default_factory=dict)
    )
    body: Annotated[str, Field(max_length=65_536)] | None = None
    interval_seconds: Annotated[int, Field(ge=5, le=86_400)] = 60
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    follow_redirects: bool = True
    verify_tls: bool = True
    tags: Annotated[list[Annotated[str, Field(pattern=_TAG_RE)]], Field(max_length=32)] = Field(
        default_factory=list
    )
    conditions: Conditions = Field(default_factory=Conditions)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an absolute http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_RE.fullmatch(name):
                raise ValueError(f"header name {name[:64]!r} is not a valid HTTP token")
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r} has a line break in its value")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_timeout(cls, data: Any) -> Any:
        # Without a timeout: 10 s, or the interval when that is shorter.
        if isinstance(data, dict) and data.get("timeout_seconds") is None:
            interval = data.get("interval_seconds", 60)
            if isinstance(interval, int | float) and not isinstance(interval, bool):
                data = {**data, "timeout_seconds": min(10.0, float(interval))}
        return data

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> MonitorSpec:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        if self.body is not None and self.method in ("GET", "HEAD"):
            raise ValueError(f"a {self.method} monitor cannot send a body")
        return self


class MonitorPatch(BaseModel):
    """``PATCH /monitors/{id}``: the fields to change; the merged spec is validated again."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    url: str | None = None
    method: str | None = None
    headers: dict[str, str] | None = None
    body: str | None = None
    interval_seconds: int | None = None
    timeout_seconds: float | None = None
    follow_redirects: bool | None = None
    verify_tls: bool | None = None
    tags: list[str] | None = None
    conditions: dict[str, Any] | None = None


class Monitor(BaseModel):
    """A stored monitor: its spec, id, pause flag and timestamps (Unix seconds)."""

    model_config = ConfigDict(frozen=True)

    id: str
    spec: MonitorSpec
    paused: bool = False
    created_at: float
    updated_at: float

    @property
    def name(self) -> str:
        """The monitor's unique name."""
        return self.spec.name

    def public(self) -> dict[str, Any]:
        """The API's view: spec fields inline, sensitive header values redacted."""
        out = self.spec.model_dump(mode="json")
        out["headers"] = redact_headers(self.spec.headers)
        return {
            "id": self.id,
            **out,
            "paused": self.paused,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class ConditionFailure(BaseModel):
    """One condition that did not hold, and why."""

    model_config = ConfigDict(frozen=True)

    condition: str
    message: str


class CheckResult(BaseModel):
    """One check of one monitor.

    ``latency_us`` is the time to the response headers plus the (capped) body
    read, in whole microseconds (``None`` without a response); ``reason`` says
    why there was no usable response; ``failures`` lists unmet conditions.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    monitor_id: str
    time: float
    ok: bool
    status_code: int | None = None
    latency_us: int | None = None
    reason: Reason | None = None
    message: str | None = None
    failures: list[ConditionFailure] = Field(default_factory=list)
    cert_expires_at: float | None = None

    def public(self) -> dict[str, Any]:
        """The API's view, latency in milliseconds."""
        out = self.model_dump(mode="json", exclude={"latency_us"})
        out["latency_ms"] = None if self.latency_us is None else self.latency_us / 1000
        return out


def new_monitor_id() -> str:
    """A fresh monitor id: ``mon_`` and 24 hex digits."""
    return "mon_" + uuid.uuid4().hex[:24]


def new_result_id() -> str:
    """A fresh result id, also a valid event id (``chk_`` and 32 hex digits)."""
    return "chk_" + uuid.uuid4().hex


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values with credentials in them replaced by a marker."""
    return {
        name: REDACTED if any(part in name.lower() for part in _SENSITIVE_HEADER_PARTS) else value
        for name, value in headers.items()
    }
