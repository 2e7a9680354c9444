"""``stats-probe``: a canary proving that an event posted at the front comes out at the back.

Needs the ``probe`` extra (``pip install 'stats-client[probe]'``).

- :mod:`.tracker`: the bookkeeping of sent events (no I/O, clock passed in);
- :mod:`.runner`: the schedule, the posts, the ticker; :mod:`.listener`: the stream;
- :mod:`.metrics`: the Prometheus metrics; :mod:`.config`: flags and ``STATS_PROBE_*``;
- :mod:`.proxy`: the fault-injecting proxy; :mod:`.demo`, :mod:`.cli`.
"""

from __future__ import annotations

from stats_client.probe.config import ProbeConfig
from stats_client.probe.metrics import ProbeMetrics
from stats_client.probe.proxy import FaultProxy
from stats_client.probe.runner import Probe
from stats_client.probe.tracker import Tracker

__all__ = ["FaultProxy", "Probe", "ProbeConfig", "ProbeMetrics", "Tracker"]
