"""Rollup rows: counts are added, hour rows equal their merged minute rows exactly."""

from __future__ import annotations

import random

from stats_service.monitors.aggregator import Rollup, bucket_start, rollups_of
from stats_service.monitors.model import CheckResult, Reason

T0 = 1_700_000_000 // 3600 * 3600


def results(n: int, seed: int = 1) -> list[CheckResult]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        failed = rng.random() < 0.1
        out.append(
            CheckResult(
                id=f"chk_{i}",
                monitor_id="mon_1" if i % 3 else "mon_2",
                time=T0 + rng.uniform(0, 7200),
                ok=not failed and i % 7 != 0,
                status_code=None if failed else rng.choice([200, 200, 404, 500]),
                latency_us=None if failed else rng.randint(200, 900_000),
                reason=Reason.TIMEOUT if failed else None,
            )
        )
    return out


def test_bucket_starts():
    assert bucket_start(T0 + 61.5, "minute") == T0 + 60
    assert bucket_start(T0 + 3599.9, "hour") == T0


def test_a_row_counts_everything_of_its_results():
    batch = results(500)
    rows = rollups_of(batch)
    for (monitor_id, granularity, start), row in rows.items():
        width = 60 if granularity == "minute" else 3600
        mine = [r for r in batch if r.monitor_id == monitor_id and start <= r.time < start + width]
        latencies = [r.latency_us for r in mine if r.latency_us is not None]
        assert row.count == len(mine)
        assert row.ok_count == sum(r.ok for r in mine)
        assert row.rt_count == len(latencies)
        assert row.rt_sum_us == sum(latencies)
        assert row.rt_min_us == (min(latencies) if latencies else None)
        assert row.rt_max_us == (max(latencies) if latencies else None)
        codes: dict[str, int] = {}
        for r in mine:
            if r.status_code is not None:
                codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
        assert row.status_counts == codes
        assert row.error_counts == (
            {"timeout": sum(r.reason is not None for r in mine)}
            if any(r.reason for r in mine)
            else {}
        )


def test_hour_rows_are_the_exact_merge_of_their_minute_rows():
    rows = rollups_of(results(3000, seed=3))
    hours = {k: v for k, v in rows.items() if k[1] == "hour"}
    assert hours
    for (monitor_id, _, start), hour in hours.items():
        merged = Rollup(monitor_id, "hour", start)
        for (mid, gran, minute), row in rows.items():
            if mid == monitor_id and gran == "minute" and start <= minute < start + 3600:
                merged.merge(row)
        assert merged.columns() == hour.columns()


def test_merge_order_does_not_matter_and_status_counts_add():
    a, b = Rollup("m", "minute", 0), Rollup("m", "minute", 0)
    a.add(CheckResult(id="1", monitor_id="m", time=1, ok=True, status_code=200, latency_us=5))
    b.add(CheckResult(id="2", monitor_id="m", time=2, ok=False, status_code=200, latency_us=9))
    ab, ba = Rollup("m", "minute", 0), Rollup("m", "minute", 0)
    ab.merge(a)
    ab.merge(b)
    ba.merge(b)
    ba.merge(a)
    assert ab.columns() == ba.columns()
    assert ab.status_counts == {"200": 2}
    assert (ab.rt_min_us, ab.rt_max_us, ab.rt_sum_us) == (5, 9, 14)
    assert Rollup.from_columns(ab.columns()).columns() == ab.columns()
