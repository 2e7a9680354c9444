"""Today's validation gives the recorded answers of the previous release on a generated corpus.

``batch_corpus.py`` generates the corpus and explains how its answers were
recorded. Accepted events must match in id (when the item gave one), time,
measurement, and tags and fields in the same order with the same types;
refused items and bodies must have the same messages (and keys).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.unit.service.events.batch_corpus import (
    answer_body,
    answer_item,
    bodies,
    items,
    recorded,
)


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    return recorded()


def test_the_corpus_is_the_recorded_one(answers: dict[str, Any]) -> None:
    assert [base64.b64decode(encoded) for _, encoded, _ in answers["bodies"]] == [
        body for _, body in bodies()
    ]
    assert [kind for kind, _, _ in answers["bodies"]] == [kind for kind, _ in bodies()]
    assert len(answers["items"]) == len(items())


def test_every_item_gets_the_recorded_answer(answers: dict[str, Any]) -> None:
    for index, (item, expected) in enumerate(zip(items(), answers["items"], strict=True)):
        assert answer_item(item) == expected, f"item {index}: {item!r}"


@pytest.mark.parametrize("part", range(4), ids=lambda part: f"quarter{part}")
def test_every_body_gets_the_recorded_answer(answers: dict[str, Any], part: int) -> None:
    recorded_bodies = answers["bodies"]
    quarter = len(recorded_bodies) // 4 + 1
    for number in range(part * quarter, min(len(recorded_bodies), (part + 1) * quarter)):
        kind, encoded, expected = recorded_bodies[number]
        body = base64.b64decode(encoded)
        assert answer_body(kind, body) == expected, f"body {number} ({kind}): {body[:200]!r}"
