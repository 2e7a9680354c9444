"""``parse_batch`` answers, item by item, exactly what ``parse_item`` answers."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.errors import InvalidEvent
from stats_service.events.batch import parse_batch
from stats_service.events.model import Event, Limits, is_valid_event_id, parse_item
from tests.unit.service.events.test_model_fast_path import keys, limits, payloads, scalars

BOUNDED = settings(max_examples=200, deadline=None)
IDENTITY = "statsbob"
NOW = 1_763_850_000_000_000_000

points = st.fixed_dictionaries(
    {"measurement": st.sampled_from(["cpu", "9cpu"]), "fields": st.dictionaries(keys, scalars)},
    optional={"tags": st.dictionaries(keys, scalars, max_size=2), "time": scalars},
)
items = st.lists(st.one_of(payloads, payloads, points, scalars), max_size=8)


def _one_by_one(batch: list[Any], lim: Limits, tag_keys: frozenset[str]) -> list[Any]:
    answers: list[Any] = []
    for index, item in enumerate(batch):
        try:
            answers.append(
                parse_item(
                    item,
                    identity=IDENTITY,
                    measurement="m",
                    now_ns=NOW + index,
                    limits=lim,
                    tag_keys=tag_keys,
                )
            )
        except InvalidEvent as exc:
            answers.append((index, exc.message))
    return answers


def _comparable(answer: Any, item: Any) -> Any:
    """An event with its fresh id (the item had none) checked and blanked; errors as they are."""
    if not isinstance(answer, Event):
        return answer
    had_id = isinstance(item, dict) and item.get("event_id") is not None
    assert had_id or is_valid_event_id(answer.event_id)
    event_id = answer.event_id if had_id else None
    return (
        event_id,
        answer.measurement,
        answer.time_ns,
        list(answer.tags.items()),
        list(answer.fields.items()),
    )


@BOUNDED
@given(batch=items, lim=limits, tag_keys=st.frozensets(keys, max_size=2))
def test_a_batch_is_parsed_as_its_items_are_one_by_one(
    batch: list[Any], lim: Limits, tag_keys: frozenset[str]
) -> None:
    events, rejected = parse_batch(
        batch, identity=IDENTITY, measurement="m", now_ns=NOW, limits=lim, tag_keys=tag_keys
    )
    expected = _one_by_one(batch, lim, tag_keys)
    refused = {index for index, _ in rejected}
    accepted = iter(events)
    got = [rejected.pop(0) if index in refused else next(accepted) for index in range(len(batch))]
    assert [_comparable(a, item) for a, item in zip(got, batch, strict=True)] == [
        _comparable(a, item) for a, item in zip(expected, batch, strict=True)
    ]


def test_lines_refused_before_parsing_keep_their_message() -> None:
    batch = [{"event": "a", "uid": "u"}, None, {"event": "b", "uid": "v"}]
    events, rejected = parse_batch(
        batch,
        identity=IDENTITY,
        measurement="m",
        now_ns=NOW,
        limits=Limits(),
        pre_rejected={1: "line is not valid JSON: x"},
    )
    assert [event.tags["event"] for event in events] == ["a", "b"]
    assert [event.time_ns for event in events] == [NOW, NOW + 2]
    assert rejected == [(1, "line is not valid JSON: x")]
