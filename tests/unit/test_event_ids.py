"""Event ids, in the SDK and in the service alike: UUIDv7 with a counter (RFC 9562, 6.2
method 1), strictly increasing per process.

The SDK is stdlib-only and ships apart from the service, so each has its own
generator; both must make ids the same way, so one set of tests runs over both.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from stats_client import _ids as client_ids
from stats_service.events import ids as service_ids

ENTRY = "entry_"


@pytest.fixture(params=[client_ids, service_ids], ids=["client", "service"])
def ids_module(request: pytest.FixtureRequest) -> ModuleType:
    module: ModuleType = request.param
    return module


def _uuid(event_id: str) -> uuid.UUID:
    assert event_id.startswith(ENTRY)
    return uuid.UUID(event_id.removeprefix(ENTRY))


def _frozen(*times_ms: int) -> Callable[[], int]:
    """A clock in ns that gives these milliseconds in turn, then stays at the last."""
    values: Iterator[int] = iter(times_ms)
    last = [times_ms[0]]

    def clock() -> int:
        last[0] = next(values, last[0])
        return last[0] * 1_000_000

    return clock


def test_ids_made_in_a_tight_loop_strictly_increase(ids_module: ModuleType) -> None:
    ids = [ids_module.new_event_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_within_one_millisecond_increase_and_carry_its_timestamp(
    ids_module: ModuleType,
) -> None:
    ids = ids_module.EventIds(clock_ns=_frozen(1_700_000_000_000))
    made = [ids.new() for _ in range(1000)]
    assert made == sorted(made)
    assert len(set(made)) == 1000
    assert {_uuid(i).int >> 80 for i in made} == {1_700_000_000_000}


def test_a_clock_that_steps_back_never_makes_an_id_sort_earlier(ids_module: ModuleType) -> None:
    ids = ids_module.EventIds(clock_ns=_frozen(5_000, 5_001, 4_000, 3_999, 5_001, 5_002))
    made = [ids.new() for _ in range(6)]
    assert made == sorted(made)
    assert [_uuid(i).int >> 80 for i in made] == [5_000, 5_001, 5_001, 5_001, 5_001, 5_002]


def test_a_full_counter_moves_on_to_the_next_millisecond(ids_module: ModuleType) -> None:
    ids = ids_module.EventIds(clock_ns=_frozen(7_000))
    first = ids.new()
    ids._counter = (1 << 42) - 1  # as if 2**42 ids were made in this millisecond
    second = ids.new()
    assert second > first
    assert _uuid(second).int >> 80 == 7_001


def test_ids_are_version_7_rfc_variant_and_keep_random_bits(ids_module: ModuleType) -> None:
    made = [ids_module.new_event_id() for _ in range(2000)]
    for event_id in made:
        parsed = _uuid(event_id)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert event_id == ENTRY + event_id.removeprefix(ENTRY).lower()
        assert len(event_id) == len(ENTRY) + 32
    # The low 32 bits are fresh random bits: the next id cannot be guessed.
    tails = [_uuid(event_id).int & 0xFFFFFFFF for event_id in made]
    assert len(set(tails)) > 1990
    steps = {(_uuid(b).int - _uuid(a).int) for a, b in itertools.pairwise(made)}
    assert len(steps) > 1000


def test_the_counter_starts_at_a_random_value_each_millisecond(ids_module: ModuleType) -> None:
    starts = {ids_module.EventIds(clock_ns=_frozen(9_000)).new() for _ in range(200)}
    assert len(starts) == 200


def test_threads_share_one_strictly_increasing_sequence(ids_module: ModuleType) -> None:
    ids = ids_module.EventIds()
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(ids.new() for _ in range(5000))

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [event_id for out in per_thread for event_id in out]
    assert len(set(every)) == len(every)
    for out in per_thread:
        assert out == sorted(out)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_sequence(ids_module: ModuleType) -> None:
    ids_module.new_event_id()  # the parent has state the child inherits
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(writer, " ".join(ids_module.new_event_id() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(writer)
    parent = [ids_module.new_event_id() for _ in range(50)]
    with os.fdopen(reader, "rb") as pipe:
        child = pipe.read().decode().split()
    os.waitpid(pid, 0)
    assert len(child) == 50
    assert child == sorted(child)
    assert not set(child) & set(parent)
