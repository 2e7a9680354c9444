"""stats-service: token-authenticated analytics ingestion into InfluxDB or an embedded store."""

__version__ = "0.1.0"

__all__ = ["__version__"]
