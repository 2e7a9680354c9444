"""Monitor definitions: strict validation that names the field, sensible defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stats_service.monitors.conditions import json_path_get
from stats_service.monitors.model import MonitorSpec, redact_headers


def test_defaults():
    spec = MonitorSpec(name="home", url="https://example.org/")
    assert (spec.method, spec.interval_seconds, spec.timeout_seconds) == ("GET", 60, 10.0)
    assert MonitorSpec(name="x", url="http://a/", interval_seconds=5).timeout_seconds == 5.0
    assert spec.follow_redirects
    assert spec.verify_tls


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval_seconds": 4}, "interval_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"url": "example.org"}, "url"),
        ({"method": "GET", "body": "x"}, "body"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "headers"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"conditions": {"status_in": [99]}}, "status_in"),
        ({"conditions": {"json_path": {"path": "status", "equals": 1}}}, "path"),
        ({"extra": 1}, "extra"),
    ],
    ids=["interval", "timeout", "url", "body-on-get", "header-name", "header-crlf", "tag",
         "status", "jsonpath", "unknown"],
)  # fmt: skip
def test_bad_fields_are_named(change, field):
    with pytest.raises(ValidationError) as caught:
        MonitorSpec.model_validate({"name": "home", "url": "https://example.org/", **change})
    located = " ".join(".".join(map(str, e["loc"])) + " " + e["msg"] for e in caught.value.errors())
    assert field in located


def test_credential_headers_are_redacted():
    shown = redact_headers({"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "a/b"})
    assert shown == {"Authorization": "<redacted>", "X-Api-Key": "<redacted>", "Accept": "a/b"}


def test_json_path_subset():
    doc = {"a": {"b": [10, {"c": "x"}]}, "d.e": 1}
    assert json_path_get(doc, "$.a.b[1].c") == "x"
    assert json_path_get(doc, "$['d.e']") == 1
    assert json_path_get(doc, "$") == doc
    assert json_path_get(doc, "$.a.z") is not None  # the missing sentinel, not None
    with pytest.raises(ValueError, match="position"):
        json_path_get(doc, "$.a..b")
