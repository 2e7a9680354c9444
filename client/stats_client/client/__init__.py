"""The original client's import path, kept so existing code keeps working."""

from stats_client.analytics import Analytics

__all__ = ["Analytics"]
