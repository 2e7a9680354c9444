"""Schemathesis drives every documented operation of the live service.

Bounded examples per operation. Every default check runs (no 5xx, responses
and status codes conform to the documented schemas, schema-violating requests
are rejected) except ``positive_data_acceptance``: the schema documents the
wire format, but some rules cannot be said in JSON Schema (time range, size
totals, key collisions after flattening), so a schema-valid body may still be
a correct 422.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from service_process import LiveService

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def api_schema(live_service: LiveService) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{live_service.url}/openapi.json")
    # Configured (not per call) so schemathesis knows the credentials and can
    # still generate requests without them for its authentication checks.
    schema.config.update(headers={"Authorization": f"Token {live_service.admin}"})
    return schema


# The live stream never ends by itself: a generated request would only end at
# the client's timeout. tests/integration/test_stream.py covers its contract.
# A monitor made, changed or run from generated input would check a generated
# URL for real, and this suite sends nothing beyond loopback; the monitors API
# tests cover those operations against a loopback site.
schema = (
    schemathesis.pytest.from_fixture("api_schema")
    .exclude(path="/log/stream")
    .exclude(path_regex="^/monitors", method=["POST", "PATCH"])
)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_fails_on_generated_input(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
