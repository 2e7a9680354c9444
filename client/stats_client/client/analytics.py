"""``from stats_client.client.analytics import Analytics``: the original import path."""

from stats_client.analytics import Analytics

__all__ = ["Analytics"]
