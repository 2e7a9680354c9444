"""The retry policy table, Retry-After parsing and the backoff schedule."""

from __future__ import annotations

import email.utils

import pytest

from stats_client._retry import Decision, RetryPolicy, classify, parse_retry_after


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (None, Decision.RETRY),
        (200, Decision.DONE),
        (202, Decision.DONE),
        (408, Decision.RETRY),
        (429, Decision.RETRY),
        (500, Decision.RETRY),
        (502, Decision.RETRY),
        (503, Decision.RETRY),
        (504, Decision.RETRY),
        (599, Decision.RETRY),
        (501, Decision.FAIL),
        (505, Decision.FAIL),
        (413, Decision.SPLIT),
        (400, Decision.FAIL),
        (401, Decision.FAIL),
        (403, Decision.FAIL),
        (404, Decision.FAIL),
        (415, Decision.FAIL),
        (422, Decision.FAIL),
        (301, Decision.FAIL),
    ],
    ids=lambda value: str(value) if not isinstance(value, Decision) else value.value,
)
def test_classify(status, decision):
    assert classify(status) is decision


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
    ],
    ids=[
        "absent",
        "empty",
        "seconds",
        "spaces",
        "fraction",
        "negative",
        "garbage",
        "nan",
        "http-date-future",
        "http-date-past",
    ],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, now_seconds=NOW) == seconds


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(initial_backoff_seconds=1.0, max_backoff_seconds=10.0)
    upper = [policy.delay_seconds(n, retry_after=None, random=lambda: 1.0) for n in range(1, 7)]
    assert upper == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_stays_within_the_upper_half():
    policy = RetryPolicy(initial_backoff_seconds=4.0, max_backoff_seconds=100.0)
    lowest = policy.delay_seconds(1, retry_after=None, random=lambda: 0.0)
    middle = policy.delay_seconds(1, retry_after=None, random=lambda: 0.5)
    assert (lowest, middle) == (2.0, 3.0)


def test_huge_retry_numbers_do_not_overflow():
    policy = RetryPolicy(initial_backoff_seconds=1.0, max_backoff_seconds=30.0)
    assert policy.delay_seconds(10_000, retry_after=None, random=lambda: 1.0) == 30.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(7.0, 7.0), (0.0, 0.0), (10_000.0, 300.0)],
    ids=["honoured", "zero", "capped"],
)
def test_retry_after_wins_over_backoff(retry_after, expected):
    policy = RetryPolicy(initial_backoff_seconds=1.0, max_retry_after_seconds=300.0)
    assert policy.delay_seconds(5, retry_after=retry_after, random=lambda: 1.0) == expected


@pytest.mark.parametrize(
    ("max_retries", "done", "allowed"),
    [(None, 10_000, True), (0, 0, False), (3, 2, True), (3, 3, False)],
    ids=["unlimited", "never", "below", "at-limit"],
)
def test_may_retry(max_retries, done, allowed):
    assert RetryPolicy(max_retries=max_retries).may_retry(done) is allowed
