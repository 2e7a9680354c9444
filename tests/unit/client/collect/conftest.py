"""Fixtures for the collector unit tests."""

from __future__ import annotations

import pytest

from tests.unit.client.collect.harness import Harness, make_harness


@pytest.fixture
def harness() -> Harness:
    """A runner over the tracker config, a scripted upstream and a memory sink."""
    return make_harness()
