"""HTTP uptime monitors: scheduled checks, minute and hour rollups, a REST API.

The app uses one thing from here, :class:`MonitorsComponent`; the modules
inside each do one job:

- :mod:`.model` and :mod:`.conditions`: what a monitor and a result are, and
  how a response is judged;
- :mod:`.checker`: one HTTP check; :mod:`.scheduler`: when checks run;
- :mod:`.histogram` and :mod:`.aggregator`: rollup rows and how they merge;
- :mod:`.store` (contract, in memory), :mod:`.sqlite_store`, :mod:`.postgres_store`;
- :mod:`.service`: the domain; :mod:`.routes`: ``/monitors``; :mod:`.cli`: import/export;
- :mod:`.metrics`: Prometheus series; :mod:`.component`: the entry point.
"""

from stats_service.monitors.component import MonitorsComponent

__all__ = ["MonitorsComponent"]
