"""The InfluxDB backends: where events end up when ``storage_backend`` names InfluxDB.

- :mod:`.v1`: InfluxDB 1.x (and the v1 compatibility API of 2.x/3.x) over HTTP,
  through :mod:`.v1_api` (the client, statements, error answers) and :mod:`.influxql`;
- :mod:`.v2`: InfluxDB 2.x through ``influxdb-client`` (the ``influxdb2`` extra);
- :mod:`.backend`: what both share (configuration, context management, page rules);
- :mod:`.errors`: their exception tree;
- :mod:`.lineprotocol`: events as line protocol, and InfluxQL quoting;
- :mod:`.points`: how an event maps to a point;
- :mod:`.series`: what a series is, so that no event overwrites another.

Nothing here is imported until chosen: :mod:`.v2` loads ``influxdb-client``.
"""
