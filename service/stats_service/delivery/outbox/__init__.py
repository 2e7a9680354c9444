"""The SQLite outbox: the durable queue every accepted event is committed to before its 2xx.

One SQLite file (WAL, ``synchronous=FULL``) written through a
:class:`~stats_service.sqlite.writer.SQLiteWriter`, so concurrent requests
share one fsync; a :class:`~stats_service.delivery.queue.DurableQueue`. The
forwarder drains it towards the storage backend.

- :mod:`.sqlite_outbox`: :class:`Outbox`, the queue itself;
- :mod:`.schema`: the file's tables;
- :mod:`.rows`: how an event is kept in a row (its line protocol);
- :mod:`.migrate_lines`: schema step 3, converting files of the JSON format;
- :mod:`.writes`: append, settle, replay, prune (units of the writer);
- :mod:`.reads`: counters, batches, dead letters.

Rows and their states
---------------------
Each accepted event is one row of ``outbox``, numbered by ``seq`` in
acceptance order, in one of three states:

* **pending** (0): committed, not yet known to be in the backend. The row
  holds the whole event as the line-protocol line the forwarder will send
  (``line``), so delivery sends stored bytes and decodes nothing; an event
  no line stands for exactly keeps an orjson blob instead (:mod:`.rows`).
* **forwarded** (1): the backend stored it. The line is dropped; the row keeps
  only what idempotency and timestamp uniqueness need (``event_id``, series
  hash, ``time_ns``, acceptance time) until it is older than the *dedupe
  window* (default 24 h), then ``Outbox.prune`` deletes it.
* **dead-lettered** (2): the backend refused it for good; the row keeps the
  event, the backend's reason and status, and is never pruned. Replaying it
  makes it pending again.

Idempotency
-----------
``event_id`` is unique over all three states: an id that is pending,
dead-lettered, or was forwarded within the dedupe window is skipped (the
first version wins). Retries older than the window are accepted again; they
carry the same series, time and fields, so InfluxDB overwrites the point with
itself and it is still stored once.

Unique timestamps per series
----------------------------
InfluxDB keeps one point per series (measurement plus non-empty tags) and
timestamp: a second distinct event would overwrite the first. So ``(series
hash, time_ns)`` is unique as well: an event whose slot is taken by another
event accepted within the dedupe window is stored (and forwarded, and
returned) with its time moved forward by the fewest nanoseconds that make it
unique. Stored times therefore may differ from the sent ones by a few
nanoseconds, only for events that would otherwise have been lost. A hash
collision between two series only moves a time needlessly, never loses an
event. Not covered: points written to the same series by other writers, or
accepted more than the dedupe window ago.

Bounds and counters
-------------------
``outbox_meta`` holds the pending count and bytes and the dead-letter count,
updated in the same transaction as the rows, so they stay exact across
crashes and across processes (the CLI may replay dead letters while the
service runs). An append that would take the pending events or bytes over
their bounds fails as a whole with :class:`OutboxFull` (a
``ServiceUnavailable``: 503 with ``Retry-After``); nothing is accepted that
could not be made durable. ``forwarded_per_second`` keeps a two-minute
history of forwarded counts, so the forward rate and the last delivery error
are visible to ``stats-service outbox status`` too.
"""

from stats_service.delivery.outbox.sqlite_outbox import Outbox

__all__ = ["Outbox"]
