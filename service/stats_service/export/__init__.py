"""Export: windows of events out of the store, as packages, rollups and reports.

The chain, each step its own module::

    collect   collectors bound to a store: events (CSV chunks), event_counts, config
       │
    package   a stream of deterministic .tar.gz packages within size limits
       │
    storage   put/get/exists/remove/glob on a directory, S3 or memory
       │
    verify    a package checked against its manifest and unpacked
    extract   verified packages as dataframes                 (pandas)
    rollup    named, typed dataframes: group raw rows, regroup rollups exactly
    report    XLSX (with a chart), CSV and JSON from rollups  (openpyxl)

``run`` ties them into one job run with a watermark (``state``) and a lock,
and ``cli`` adds ``stats-service export``. ``window`` holds the half-open
``[since, until)`` windows every step takes. pandas, pyarrow, openpyxl and
boto3 come with the ``stats-service[export]`` extra and are imported only by
the modules that need them; importing this package loads none of them.
"""

__all__: list[str] = []
