"""Fixtures for the monitor tests: the fake website over HTTP and HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_website import FakeWebsite, SelfSignedCertificate, make_certificate


@pytest.fixture(scope="session")
def website() -> Iterator[FakeWebsite]:
    """The fake website over plain HTTP."""
    site = FakeWebsite().start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def expiring_certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    """A self-signed certificate that expires in three days."""
    return make_certificate(tmp_path_factory.mktemp("tls"), days=3)


@pytest.fixture(scope="session")
def tls_website(expiring_certificate: SelfSignedCertificate) -> Iterator[FakeWebsite]:
    """The fake website over HTTPS with the expiring certificate."""
    site = FakeWebsite(tls=expiring_certificate.server_context()).start()
    yield site
    site.stop()
