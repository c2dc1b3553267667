"""Property-based run of the whole OpenAPI spec with a valid admin token (schemathesis):
whatever the generated input, no 5xx, and every response matches its documented schema.

Driven through schemathesis' Python API (operation strategies + Hypothesis) rather than its
pytest plugin, which does not yet support this pytest version's fixture internals."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import running_stack

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@schemathesis.serializer("text/csv", "application/x-ndjson")
def _text_body(ctx, value):
    return value.encode() if isinstance(value, str) else str(value).encode()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_stack(request, sinks, tmp_path_factory):
    """A system of its own: thousands of generated reports and entries must not slow the other tests."""
    with running_stack(request.param, sinks, tmp_path_factory.mktemp(f"fuzz-{request.param}")) as running:
        yield running


def test_api_never_errors_and_matches_its_schema(own_stack):
    stack = own_stack
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
