"""The export integration tests use a real SeaweedFS and a real influxd."""

from seaweed_fixtures import s3_bucket, s3_client, seaweedfs  # noqa: F401 - fixtures
