"""A collector written in Python: a CI server's builds, queue and build times.

Run it once without sending anything::

    CI_URL=http://ci.internal stats-collect --once --dry-run \
        --config deploy/collectors/ci_server.yaml

The CI server answers ``GET /api/summary`` with::

    {"queued": 4,
     "pipelines": [{"name": "web", "totals": {"passed": 310, "failed": 12},
                    "recent_minutes": [4.5, 6.0, 21.0]}]}

and ``GET /api/builds?since=…&until=…`` with the builds finished in that
window: ``{"builds": [{"pipeline": "web", "result": "passed"}, …]}``.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections import Counter
from typing import Any

from stats_client.collect import (
    PythonSource,
    enable_delta_metric,
    instants,
    register_metric,
    register_source,
)


@register_source("ci-server")
class CiServer(PythonSource):
    """One instance per configured source; ``options`` come from the YAML file."""

    interval_seconds = 60.0

    def _headers(self) -> dict[str, str]:
        token = self.options.get("token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def refresh(self) -> None:
        self.summary = self.get_json(
            f"{self.options['base_url']}/api/summary", headers=self._headers()
        )

    @register_metric(
        "ci_builds", help="Builds ever run, per pipeline and result", labels=("pipeline", "result")
    )
    @enable_delta_metric
    def builds(self) -> list[dict[str, Any]]:
        return [
            {"pipeline": pipeline["name"], "result": result, "metric_value": total}
            for pipeline in self.summary["pipelines"]
            for result, total in sorted(pipeline["totals"].items())
        ]

    @register_metric("ci_queue_length", help="Builds waiting for an agent")
    def queue_length(self) -> int:
        return int(self.summary["queued"])

    @register_metric(
        "ci_build_minutes",
        type="histogram",
        help="Minutes the recent builds took, per pipeline",
        labels=("pipeline",),
        buckets=(1, 5, 15, 60),
    )
    def build_minutes(self) -> list[dict[str, Any]]:
        return [
            {"pipeline": pipeline["name"], "metric_value": pipeline["recent_minutes"]}
            for pipeline in self.summary["pipelines"]
        ]

    @register_metric(
        "ci_builds_finished",
        help="Builds finished in the window, per pipeline",
        labels=("pipeline",),
    )
    def builds_finished(self, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"since": instants.iso(since), "until": instants.iso(until)})
        answer = self.get_json(
            f"{self.options['base_url']}/api/builds?{query}", headers=self._headers()
        )
        counts = Counter(build["pipeline"] for build in answer["builds"])
        return [{"pipeline": name, "metric_value": n} for name, n in sorted(counts.items())]
