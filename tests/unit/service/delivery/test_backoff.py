"""The service's one retry policy: which answers are retried, and the waits between tries."""

from __future__ import annotations

import pytest

from stats_service.delivery.backoff import Backoff, is_retryable_status


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (413, False),
        (422, False),
    ],
    ids=str,
)
def test_only_5xx_408_and_429_are_retryable(status, retryable):
    assert is_retryable_status(status) is retryable


# The documented table: the un-jittered wait before each retry with the defaults.
DEFAULT_CEILINGS = [
    (1, 0.2),
    (2, 0.4),
    (3, 0.8),
    (4, 1.6),
    (5, 3.2),
    (6, 6.4),
    (7, 10.0),
    (50, 10.0),
]


@pytest.mark.parametrize(
    ("attempt", "ceiling"), DEFAULT_CEILINGS, ids=[f"attempt-{a}" for a, _ in DEFAULT_CEILINGS]
)
def test_waits_double_up_to_the_cap(attempt, ceiling):
    policy = Backoff()
    assert policy.ceiling(attempt) == pytest.approx(ceiling)
    assert policy.delay(attempt, random=lambda: 0.0) == pytest.approx(ceiling)


@pytest.mark.parametrize(
    ("draw", "fraction"),
    [(0.0, 1.0), (0.5, 0.75), (0.999_999, 0.5)],
    ids=["no-jitter", "half-draw", "largest-draw"],
)
def test_jitter_only_shortens_the_wait_by_at_most_its_fraction(draw, fraction):
    policy = Backoff(initial_seconds=4.0, max_seconds=4.0, jitter=0.5)
    assert policy.delay(1, random=lambda: draw) == pytest.approx(4.0 * fraction, rel=1e-5)


def test_a_thousand_jittered_waits_stay_within_bounds():
    import random  # noqa: PLC0415

    draws = random.Random(3)
    policy = Backoff(initial_seconds=1.0, multiplier=3.0, max_seconds=20.0, jitter=0.3)
    for attempt in range(1, 40):
        for _ in range(25):
            wait = policy.delay(attempt, random=draws.random)
            ceiling = policy.ceiling(attempt)
            assert 0.7 * ceiling - 1e-9 <= wait <= ceiling


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 0.2), (0, 0.2), (5, 5.0), (0.1, 0.2), (10_000, 300.0)],
    ids=["absent", "zero", "longer-than-backoff", "shorter-than-backoff", "capped"],
)
def test_retry_after_sets_a_floor_that_is_itself_capped(retry_after, expected):
    policy = Backoff()
    wait = policy.delay(1, random=lambda: 0.0, retry_after_seconds=retry_after)
    assert wait == pytest.approx(expected)


def test_a_huge_attempt_number_does_not_overflow():
    assert Backoff().ceiling(10_000) == 10.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_seconds": 0},
        {"initial_seconds": 5, "max_seconds": 1},
        {"multiplier": 0.5},
        {"jitter": -0.1},
        {"jitter": 1.5},
    ],
    ids=["zero-initial", "cap-below-initial", "shrinking", "negative-jitter", "jitter-over-one"],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


def test_attempts_are_numbered_from_one():
    with pytest.raises(ValueError, match="from 1"):
        Backoff().ceiling(0)
