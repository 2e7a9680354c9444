"""Where the InfluxDB-compatible endpoints find the token."""

from __future__ import annotations

import base64

import pytest

from stats_service.auth import AuthenticationFailed
from stats_service.auth.credentials import token_from_credentials


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "password", "token"),
    [
        ("Token abc.def", None, "abc.def"),
        ("Bearer abc.def", "other", "abc.def"),
        (_basic("user:abc.def"), None, "abc.def"),
        (_basic(":abc.def"), None, "abc.def"),
        (_basic("user:a:b"), None, "a:b"),
        (None, "abc.def", "abc.def"),
        ("  ", "abc.def", "abc.def"),
    ],
    ids=["token", "bearer-wins", "basic", "basic-no-user", "basic-colon", "query", "blank-header"],
)
def test_found(header, password, token):
    assert token_from_credentials(header, password) == token


@pytest.mark.parametrize(
    ("header", "password", "reason"),
    [
        (None, None, "missing"),
        (None, "", "missing"),
        (_basic("user:"), None, "missing"),
        (_basic("no-colon"), None, "malformed"),
        ("Basic ***", None, "malformed"),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None, "malformed"),
        ("Digest x", None, "malformed"),
    ],
    ids=["none", "empty-p", "empty-password", "no-colon", "not-base64", "not-utf8", "scheme"],
)
def test_refused(header, password, reason):
    with pytest.raises(AuthenticationFailed) as caught:
        token_from_credentials(header, password)
    assert caught.value.reason == reason
