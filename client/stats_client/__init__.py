"""stats-client: the client SDK for stats-service."""

__version__ = "0.1.0"

__all__ = ["__version__"]
