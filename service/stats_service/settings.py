"""Settings: the one place configuration is read.

Sources, later ones win: the field defaults below, the ``[stats_service]``
section of an INI file (``development.ini``), then environment variables
``STATS_<FIELD NAME IN CAPITALS>``. The legacy ``TABLE_NAME`` variable sets the
measurement when ``STATS_MEASUREMENT`` is not given. The result is one frozen,
typed object; nothing else in the service reads the environment.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from stats_service.auth.keys import is_unsafe_secret_key, read_key_file
from stats_service.errors import ConfigurationError
from stats_service.events.model import Limits

__all__ = [
    "ENV_PREFIX",
    "INI_SECTION",
    "Settings",
    "StorageBackend",
    "load_settings",
    "settings_from_environment",
]

ENV_PREFIX = "STATS_"
INI_SECTION = "stats_service"

StorageBackend = Literal["embedded", "memory", "influxdb", "influxdb2"]
MonitorsStore = Literal["auto", "sqlite", "postgres", "memory"]
LogFormat = Literal["text", "json"]
_BACKENDS: tuple[str, ...] = get_args(StorageBackend)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_POSITIVE_PREFIXES = (
    "max_",
    "outbox_",
    "forward_",
    "monitors_max_",
    "monitors_lease_",
    "monitors_results_",
    "monitors_minute_",
    "monitors_hour_",
    "monitors_retention_",
    "export_max_",
    "export_s3_max_",
    "export_s3_connect_",
    "export_s3_read_",
    "export_s3_multipart_",
    "console_summary_",
    "console_refresh_",
    "kafka_stream_",
    "kafka_dead_letter_refresh_",
)
_SECRET_FIELDS = frozenset(
    {
        "secret_keys",
        "influxdb_password",
        "influxdb_token",
        "monitors_database_url",
        "export_s3_secret_key",
        "kafka_sasl_password",
    }
)
QueueKind = Literal["outbox", "kafka"]
_QUEUES: tuple[str, ...] = get_args(QueueKind)


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the service; each field's metadata carries its one-line doc."""

    development_mode: bool = field(
        default=False,
        metadata=_doc("Allow development secret keys; never enable in production."),
    )
    host: str = field(default="127.0.0.1", metadata=_doc("Address `serve` binds to."))
    port: int = field(default=20080, metadata=_doc("TCP port `serve` listens on."))
    log_level: str = field(default="info", metadata=_doc("debug, info, warning or error."))
    log_format: LogFormat = field(
        default="text",
        metadata=_doc("text (for people) or json (one object per line, for log collectors)."),
    )
    access_log: bool = field(
        default=True,
        metadata=_doc("Log one line per request: method, route, status, duration, request id."),
    )
    metrics_enabled: bool = field(
        default=True, metadata=_doc("Record Prometheus metrics and serve them on /metrics.")
    )
    data_dir: Path = field(
        default=Path("var"),
        metadata=_doc("Directory for the embedded store, keys, access file and outbox."),
    )
    secret_keys: tuple[str, ...] = field(
        default=(),
        repr=False,
        metadata=_doc(
            "Comma-separated token signing keys: the first signs, all verify (rotation). "
            "Empty means read `secret_key_file`."
        ),
    )
    secret_key_file: Path | None = field(
        default=None,
        metadata=_doc("File with one signing key per line; default `<data_dir>/secret.key`."),
    )
    access_file: Path | None = field(
        default=None,
        metadata=_doc(
            "JSON list of token ids, identities and scopes; default `<data_dir>/access.json`."
        ),
    )
    token_reload_interval_seconds: float = field(
        default=1.0, metadata=_doc("How often the access file is checked for changes.")
    )
    measurement: str = field(
        default="analytics",
        metadata=_doc("Measurement events are written to (legacy `TABLE_NAME` also sets it)."),
    )
    tag_keys: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Comma-separated data keys stored as tags instead of fields."),
    )
    storage_backend: StorageBackend = field(
        default="embedded",
        metadata=_doc("embedded (SQLite under data_dir), memory (tests), influxdb or influxdb2."),
    )
    influxdb_url: str = field(
        default="http://127.0.0.1:8086",
        metadata=_doc("InfluxDB base URL (both influxdb backends)."),
    )
    influxdb_database: str = field(
        default="stats", metadata=_doc("influxdb: database, created if missing.")
    )
    influxdb_retention_policy: str = field(
        default="", metadata=_doc("influxdb: retention policy; empty means the default.")
    )
    influxdb_username: str = field(default="", metadata=_doc("influxdb: user (optional)."))
    influxdb_password: str = field(
        default="", repr=False, metadata=_doc("influxdb: password (optional).")
    )
    influxdb_org: str = field(default="", metadata=_doc("influxdb2: organisation."))
    influxdb_bucket: str = field(default="stats", metadata=_doc("influxdb2: bucket."))
    influxdb_token: str = field(default="", repr=False, metadata=_doc("influxdb2: API token."))
    influxdb_verify_tls: bool = field(
        default=True, metadata=_doc("Verify the InfluxDB server's TLS certificate.")
    )
    influxdb_timeout_seconds: float = field(
        default=10.0, metadata=_doc("Timeout of one request to InfluxDB.")
    )
    outbox_max_pending_events: int = field(
        default=1_000_000,
        metadata=_doc("influxdb backends: undelivered events held before ingestion answers 503."),
    )
    outbox_max_pending_bytes: int = field(
        default=1_073_741_824,
        metadata=_doc("influxdb backends: undelivered bytes held before ingestion answers 503."),
    )
    outbox_dedupe_window_seconds: float = field(
        default=86_400.0,
        metadata=_doc("How long forwarded event ids (and series timestamps) are remembered."),
    )
    forward_batch_max_events: int = field(
        default=5000, metadata=_doc("Most events in one write to InfluxDB.")
    )
    forward_batch_max_bytes: int = field(
        default=8_388_608, metadata=_doc("Most outbox bytes in one write to InfluxDB.")
    )
    forward_linger_seconds: float = field(
        default=1.0, metadata=_doc("How long a batch that is not full waits for more events.")
    )
    forward_backoff_initial_seconds: float = field(
        default=0.2, metadata=_doc("First wait after InfluxDB is unavailable; doubles per failure.")
    )
    forward_backoff_max_seconds: float = field(
        default=10.0, metadata=_doc("Cap on the wait between delivery attempts.")
    )
    forward_close_timeout_seconds: float = field(
        default=10.0, metadata=_doc("How long shutdown waits for the batch in flight.")
    )
    queue: QueueKind = field(
        default="outbox",
        metadata=_doc(
            "influxdb backends: outbox (SQLite under data_dir) or kafka (replicas produce; "
            "`stats-service forward` writes)."
        ),
    )
    kafka_bootstrap_servers: str = field(
        default="127.0.0.1:9092", metadata=_doc("kafka: comma-separated `host:port` brokers.")
    )
    kafka_topic: str = field(default="stats-events", metadata=_doc("kafka: the events topic."))
    kafka_dead_letter_topic: str = field(
        default="stats-events-dead",
        metadata=_doc("kafka: where rejected events go, with the reason in a header."),
    )
    kafka_consumer_group: str = field(
        default="stats-forwarders", metadata=_doc("kafka: consumer group of the forwarders.")
    )
    kafka_security_protocol: str = field(
        default="plaintext", metadata=_doc("kafka: plaintext, ssl, sasl_plaintext or sasl_ssl.")
    )
    kafka_sasl_mechanism: str = field(
        default="", metadata=_doc("kafka: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only).")
    )
    kafka_sasl_username: str = field(default="", metadata=_doc("kafka: SASL user."))
    kafka_sasl_password: str = field(
        default="", repr=False, metadata=_doc("kafka: SASL password (secret).")
    )
    kafka_ssl_ca_file: Path | None = field(
        default=None, metadata=_doc("kafka: CA bundle to verify the brokers (ssl, sasl_ssl).")
    )
    kafka_forwarder_metrics_port: int = field(
        default=0,
        metadata=_doc("kafka: port of `stats-service forward`'s `/metrics` on `host`; 0: none."),
    )
    kafka_produce_timeout_seconds: float = field(
        default=10.0,
        metadata=_doc("kafka: how long an append waits for the acknowledgement before 503."),
    )
    kafka_stream_retain_events: int = field(
        default=10_000,
        metadata=_doc("kafka: newest events a replica keeps for stream resumes (410 beyond)."),
    )
    kafka_dead_letter_refresh_seconds: float = field(
        default=30.0,
        metadata=_doc("kafka: how often each process recounts the dead letters for its status."),
    )
    kafka_read_your_writes_events: int = field(
        default=10_000,
        metadata=_doc(
            "kafka: newest events a replica produced that it reads back before they are "
            "forwarded; 0: none."
        ),
    )
    kafka_monitor_results_topic: str = field(
        default="",
        metadata=_doc(
            "kafka: topic for check results, applied by `stats-service monitor-aggregate`; "
            "empty: checkers write the monitor store."
        ),
    )
    kafka_monitor_aggregator_group: str = field(
        default="stats-monitor-aggregators",
        metadata=_doc("kafka: consumer group of `stats-service monitor-aggregate`."),
    )
    max_body_bytes: int = field(
        default=1_048_576, metadata=_doc("Largest body of `POST /log/event`.")
    )
    max_batch_bytes: int = field(
        default=16_777_216,
        metadata=_doc("Largest (possibly compressed) body of `POST /log/events`."),
    )
    max_decompressed_bytes: int = field(
        default=67_108_864, metadata=_doc("Largest body of `POST /log/events` after gunzip.")
    )
    max_batch_events: int = field(default=10_000, metadata=_doc("Most events in one batch."))
    max_event_bytes: int = field(
        default=65_536, metadata=_doc("Largest event: UTF-8 sizes of all keys and values.")
    )
    max_string_bytes: int = field(default=16_384, metadata=_doc("Largest string value."))
    max_keys: int = field(default=256, metadata=_doc("Most tags plus fields in one event."))
    max_page_size: int = field(default=1000, metadata=_doc("Largest `limit` of `GET /log/events`."))
    max_line_bytes: int = field(
        default=262_144,
        metadata=_doc("Longest line of line protocol on `/write` and `/api/v2/write`."),
    )
    accept_legacy_tokens: bool = field(
        default=False,
        metadata=_doc("Accept the original service's tokens imported by `token import-legacy`."),
    )
    legacy_secret_file: Path | None = field(
        default=None,
        metadata=_doc(
            "Secrets of imported legacy tokens (0600); default `<data_dir>/legacy-secrets.json`."
        ),
    )
    monitors_enabled: bool = field(
        default=True, metadata=_doc("Run HTTP uptime monitors and serve `/monitors`.")
    )
    monitors_store: MonitorsStore = field(
        default="auto",
        metadata=_doc(
            "auto (memory with the memory backend, else sqlite), sqlite (under data_dir), "
            "postgres or memory."
        ),
    )
    monitors_database_url: str = field(
        default="",
        repr=False,
        metadata=_doc("monitors_store = postgres: libpq connection string or URL."),
    )
    monitors_max_concurrency: int = field(
        default=100, metadata=_doc("Most monitor checks in flight at once in one process.")
    )
    monitors_max_body_bytes: int = field(
        default=1_048_576, metadata=_doc("Most response body bytes a check reads.")
    )
    monitors_lease_seconds: float = field(
        default=30.0,
        metadata=_doc("A replica's claim on a monitor lasts this long; renewed every third of it."),
    )
    monitors_results_retention_days: float = field(
        default=2.0, metadata=_doc("Raw check results are kept this many days.")
    )
    monitors_minute_retention_days: float = field(
        default=14.0, metadata=_doc("Minute rollups are kept this many days.")
    )
    monitors_hour_retention_days: float = field(
        default=400.0, metadata=_doc("Hour rollups are kept this many days.")
    )
    monitors_retention_interval_seconds: float = field(
        default=3600.0, metadata=_doc("How often old monitor rows are purged.")
    )
    monitors_measurement: str = field(
        default="monitor_checks", metadata=_doc("Measurement each check result is logged to.")
    )
    export_job: str = field(
        default="default",
        metadata=_doc("Name of the export job: its package names, watermark and lock."),
    )
    export_target: str = field(
        default="",
        metadata=_doc("Default `export run --to`: `dir:/path` or `s3://bucket/prefix`."),
    )
    export_max_window_days: int = field(
        default=93, metadata=_doc("Longest window one `export run` accepts.")
    )
    export_max_package_bytes: int = field(
        default=209_715_200,
        metadata=_doc("Most uncompressed bytes of the members of one export package."),
    )
    export_max_file_bytes: int = field(
        default=52_428_800, metadata=_doc("Largest data file (CSV chunk) in an export package.")
    )
    export_s3_endpoint: str = field(default="", metadata=_doc("S3 endpoint URL; empty means AWS."))
    export_s3_region: str = field(default="", metadata=_doc("S3 region (optional)."))
    export_s3_access_key: str = field(default="", metadata=_doc("S3 access key id."))
    export_s3_secret_key: str = field(
        default="", repr=False, metadata=_doc("S3 secret access key.")
    )
    export_s3_connect_timeout_seconds: float = field(
        default=5.0, metadata=_doc("Timeout of connecting to S3, per attempt.")
    )
    export_s3_read_timeout_seconds: float = field(
        default=30.0, metadata=_doc("Timeout of reading one S3 response, per attempt.")
    )
    export_s3_max_attempts: int = field(
        default=3, metadata=_doc("Attempts of one S3 call (network errors, throttling, 5xx).")
    )
    export_s3_multipart_threshold_bytes: int = field(
        default=8_388_608, metadata=_doc("Files at least this large go up as multipart uploads.")
    )
    stream_enabled: bool = field(
        default=True, metadata=_doc("Serve the live stream (`/log/stream`, `/log/ws`).")
    )
    stream_poll_interval_seconds: float = field(
        default=0.1, metadata=_doc("How often the stream reads the durable log for new events.")
    )
    stream_heartbeat_seconds: float = field(
        default=15.0, metadata=_doc("Quiet time after which a stream sends a heartbeat.")
    )
    stream_buffer_events: int = field(
        default=1000,
        metadata=_doc("Events buffered per client; a client further behind is dropped."),
    )
    stream_replay_max_events: int = field(
        default=100_000,
        metadata=_doc("Resume retention: a resume point further back than this is refused (410)."),
    )
    stream_max_per_identity: int = field(
        default=20,
        metadata=_doc("Concurrent streams per identity in one worker process (429 beyond)."),
    )
    stream_close_timeout_seconds: float = field(
        default=5.0,
        metadata=_doc("How long `serve` waits at shutdown for open streams before closing them."),
    )
    stream_ws_auth_timeout_seconds: float = field(
        default=10.0,
        metadata=_doc("How long `/log/ws` waits for the token message when no header was sent."),
    )
    console_enabled: bool = field(
        default=True, metadata=_doc("Serve the web console at `/console`.")
    )
    console_summary_max_events: int = field(
        default=50_000,
        metadata=_doc("Most events the console overview reads for its last-hour chart."),
    )
    console_refresh_seconds: float = field(
        default=10.0, metadata=_doc("How often the console overview refreshes itself.")
    )

    @property
    def resolved_access_file(self) -> Path:
        """The access file path, defaulting under the data dir."""
        return self.access_file or self.data_dir / "access.json"

    @property
    def resolved_secret_key_file(self) -> Path:
        """The key file path, defaulting under the data dir."""
        return self.secret_key_file or self.data_dir / "secret.key"

    @property
    def resolved_legacy_secret_file(self) -> Path:
        """The legacy secret file path, defaulting under the data dir."""
        return self.legacy_secret_file or self.data_dir / "legacy-secrets.json"

    @property
    def limits(self) -> Limits:
        """The per-event size limits of the event model."""
        return Limits(
            max_event_bytes=self.max_event_bytes,
            max_string_bytes=self.max_string_bytes,
            max_keys=self.max_keys,
        )

    def signing_keys(self) -> tuple[str, ...]:
        """The configured keys, else those in the key file (empty if neither)."""
        if self.secret_keys:
            return self.secret_keys
        path = self.resolved_secret_key_file
        return tuple(read_key_file(path)) if path.exists() else ()

    def check_serving(self) -> tuple[str, ...]:
        """Refuse unsafe configurations before serving; returns the signing keys."""
        keys = self.signing_keys()
        if not keys:
            raise ConfigurationError(
                "no token signing keys: set STATS_SECRET_KEYS, or run "
                "`stats-service dev-setup` in development mode"
            )
        if not self.development_mode and any(is_unsafe_secret_key(k) for k in keys):
            raise ConfigurationError(
                "a development or short (< 32 characters) secret key is configured; "
                "generate a real one, or set development_mode = true for local use only"
            )
        return keys

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to print: secrets replaced by a marker."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = "<redacted>"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read the INI file (if any), then the environment, then explicit overrides."""
    env: Mapping[str, str] = environ if environ is not None else {}
    raw: dict[str, str] = {}
    if config_file is not None:
        raw.update(_read_ini(config_file))
    legacy_measurement = env.get("TABLE_NAME", "").strip()
    if legacy_measurement:
        raw["measurement"] = legacy_measurement
    known = {f.name for f in fields(Settings)}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in known:
            raw[name[len(ENV_PREFIX) :].lower()] = value
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {name: _convert(name, hints[name], text) for name, text in raw.items()}
    values.update(overrides)
    settings = Settings(**values)
    _validate(settings)
    return settings


def settings_from_environment(config_file: Path | None = None) -> Settings:
    """Settings from the process environment; the INI file defaults to ``$STATS_CONFIG``."""
    if config_file is None and os.environ.get("STATS_CONFIG"):
        config_file = Path(os.environ["STATS_CONFIG"])
    return load_settings(config_file, os.environ)


def _read_ini(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from exc
    except configparser.Error as exc:
        raise ConfigurationError(f"config file {path} is not valid INI: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not UTF-8 text: {exc.reason}") from exc
    if not parser.has_section(INI_SECTION):
        return {}
    known = {f.name for f in fields(Settings)}
    section = dict(parser.items(INI_SECTION))
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigurationError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    return section


def _convert(name: str, hint: Any, text: str) -> Any:
    text = text.strip()
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return None if text == "" else _convert(name, inner[0], text)
    try:
        if hint is bool:
            return _to_bool(text)
        if hint is int:
            return int(text.replace("_", ""))
        if hint is float:
            return float(text)
        if hint is Path:
            return Path(text).expanduser()
        if origin is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigurationError(f"setting {name}: cannot read {_shown(name, text)}") from exc
    return text


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _shown(name: str, text: str) -> str:
    return "<redacted>" if name in _SECRET_FIELDS else repr(text)


def _validate(settings: Settings) -> None:
    if settings.storage_backend not in _BACKENDS:
        raise ConfigurationError(
            f"storage_backend must be one of {', '.join(_BACKENDS)}, "
            f"not {settings.storage_backend!r}"
        )
    if settings.monitors_store not in get_args(MonitorsStore):
        raise ConfigurationError(
            f"monitors_store must be one of {', '.join(get_args(MonitorsStore))}, "
            f"not {settings.monitors_store!r}"
        )
    if settings.queue not in _QUEUES:
        raise ConfigurationError(
            f"queue must be one of {', '.join(_QUEUES)}, not {settings.queue!r}"
        )
    if not 0 < settings.port < 65536:
        raise ConfigurationError(f"port must be 1-65535, not {settings.port}")
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name.startswith(_POSITIVE_PREFIXES) and (
            not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
        ):
            raise ConfigurationError(f"{f.name} must be a positive number, not {value!r}")
    if settings.log_format not in ("text", "json"):
        raise ConfigurationError(f"log_format must be text or json, not {settings.log_format!r}")
    if settings.log_level.lower() not in {"debug", "info", "warning", "error", "critical"}:
        raise ConfigurationError(f"log_level {settings.log_level!r} is not a logging level")


def setting_docs() -> list[tuple[str, str, str]]:
    """``(environment variable, default, doc)`` for every setting (README table)."""
    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((ENV_PREFIX + f.name.upper(), str(default), f.metadata.get("doc", "")))
    return rows
