"""Check results over Kafka with an in-memory group member: applied once, committed after."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from stats_service.delivery.kafka.consumer import Message
from stats_service.monitors.model import CheckResult, ConditionFailure, Monitor, MonitorSpec, Reason
from stats_service.monitors.results_topic import ResultAggregator, decode_result, encode_result
from stats_service.monitors.store import MemoryMonitorStore

T0 = 1_700_000_000 // 3600 * 3600


def result(number: int, *, ok: bool = True) -> CheckResult:
    return CheckResult(
        id=f"chk_{number}",
        monitor_id="mon_1",
        time=T0 + number,
        ok=ok,
        status_code=200 if ok else None,
        latency_us=1000 + number if ok else None,
        reason=None if ok else Reason.TIMEOUT,
    )


class ReplayingMember:
    """Hands out its messages; a 'rebalance' hands everything not committed out again."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.position = 0
        self.committed: dict[int, int] = {}
        self.commits = 0

    async def start(self) -> None:
        pass

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        batch = self.messages[self.position : self.position + max_messages]
        self.position += len(batch)
        return batch

    async def commit(self, next_offsets: Mapping[int, int]) -> int:
        self.committed.update(next_offsets)
        self.commits += 1
        return len(next_offsets)

    def rebalance(self) -> None:
        self.position = self.committed.get(0, 0)

    async def lag(self) -> dict[int, int]:
        return {}

    async def stop(self) -> None:
        pass


class FlakyStore(MemoryMonitorStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the database went away")
        return await super().record_results(results)


def _messages(results: list[CheckResult]) -> list[Message]:
    return [Message(0, offset, *encode_result(r)) for offset, r in enumerate(results)]


async def _store_with_monitor(store: MemoryMonitorStore) -> None:
    await store.open()
    spec = MonitorSpec(name="home", url="http://127.0.0.1/")
    await store.add_monitor(Monitor(id="mon_1", spec=spec, created_at=T0, updated_at=T0))


def test_a_result_survives_the_message_unchanged() -> None:
    failing = CheckResult(
        id="chk_x",
        monitor_id="mon_1",
        time=T0 + 0.25,
        ok=False,
        status_code=500,
        latency_us=42,
        message="server error",
        failures=[ConditionFailure(condition="status", message="500 is not 200")],
        cert_expires_at=T0 + 86_400.0,
    )
    key, value = encode_result(failing)
    assert key == b"mon_1"
    assert decode_result(value) == failing
    for junk in (b"", b"{}", b"[1, 2]", b"not json"):
        with pytest.raises(ValueError, match="not a check result"):
            decode_result(junk)


def test_redelivered_results_are_counted_once_in_the_rollups() -> None:
    batch = [result(n, ok=n % 4 != 0) for n in range(10)]

    async def scenario() -> tuple[int, int, int]:
        store = MemoryMonitorStore()
        await _store_with_monitor(store)
        member = ReplayingMember(_messages(batch))
        aggregator = ResultAggregator(member, store)
        assert await aggregator.step() == 10
        member.committed = {}  # the commit was lost: the group hands everything out again
        member.rebalance()
        assert await aggregator.step() == 10
        (minute,) = await store.rollups("mon_1", "minute", since=0, until=T0 + 3600)
        (hour,) = await store.rollups("mon_1", "hour", since=0, until=T0 + 3600)
        return minute.count, hour.ok_count, aggregator.applied

    assert asyncio.run(scenario()) == (10, 7, 10)


def test_a_failed_apply_is_retried_before_anything_is_committed() -> None:
    batch = [result(n) for n in range(5)]

    async def scenario() -> tuple[dict[int, int], int, int]:
        store = FlakyStore()
        await _store_with_monitor(store)
        member = ReplayingMember([*_messages(batch), Message(0, 5, b"mon_1", b"junk")])
        aggregator = ResultAggregator(member, store)
        store.fail_next = True
        with pytest.raises(RuntimeError):
            await aggregator.step()
        assert member.commits == 0
        assert await aggregator.step() == 6  # the same batch again, then committed
        (minute,) = await store.rollups("mon_1", "minute", since=0, until=T0 + 3600)
        return member.committed, minute.count, aggregator.skipped

    assert asyncio.run(scenario()) == ({0: 6}, 5, 1)
