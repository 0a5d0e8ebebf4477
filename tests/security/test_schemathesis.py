"""Issue #17 point 8a: the whole OpenAPI schema fuzzed by schemathesis, as a coordinator and as a data manager.

Every operation gets a bounded number of generated cases (SCHEMATHESIS_EXAMPLES, default 10), sent to the
Django WSGI app in this process (same transaction as the test's fixtures). Each answer must be no server
error (5xx) and conform to the documented schema (status code documented or the API's error shape, body
matching the response schema). The figures are printed (`-s`) for docs/benchmarks.md."""

import os

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .openapi import in_test_transaction, openapi_schema

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))


def run_cases(operation, headers: dict, figures: dict) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        figures["cases"] += 1
        # Each case in a savepoint rolled back after it: the fixtures stay as they are, and a database error
        # in one case (a 500) does not abort the test's transaction for the next.
        savepoint = transaction.savepoint()
        try:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                figures["server_errors"] += 1
                figures["failures"].append(
                    f"{operation.label}: {response.status_code} {case.path_parameters} {case.query} {case.body!r:.200} {response.text[:300]}"
                )
                return
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance], headers=headers)
            except Exception as failure:  # a schemathesis check failure: record it and go on
                figures["schema_violations"] += 1
                figures["failures"].append(f"{operation.label}: {response.status_code} {str(failure)[:400]}")
        finally:
            transaction.savepoint_rollback(savepoint)

    run()


def fuzz(user) -> dict:
    """Every operation, EXAMPLES cases each; returns the figures and the failures (never raises on a bad answer)."""
    schema = openapi_schema()
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    figures: dict = {"operations": 0, "cases": 0, "server_errors": 0, "schema_violations": 0, "failures": []}
    with in_test_transaction():
        for result in schema.get_all_operations():
            figures["operations"] += 1
            run_cases(result.ok(), headers, figures)
    return figures


@pytest.mark.parametrize("persona", ["alice", "dana"])
def test_whole_schema_gives_no_server_error_and_conforms(persona, personas, on_c1, patient_b):
    figures = fuzz(personas[persona])
    print(
        f"\nschemathesis as {persona}: {figures['operations']} operations, {figures['cases']} cases, "
        f"{figures['server_errors']} server errors, {figures['schema_violations']} schema violations"
    )
    assert figures["operations"] >= 40
    assert figures["cases"] >= figures["operations"]
    assert figures["failures"] == []
