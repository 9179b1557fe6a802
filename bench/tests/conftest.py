"""Fixtures of the benchmark smoke tests, on the same terms as the test suite's
(``tests/conftest.py``): PostgreSQL tests run when ``COACH_TEST_POSTGRES_URL`` names a server,
are skipped when it is unset, and fail when it is unset under CI or the server cannot be reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.pg import temporary_database

POSTGRES_ENV = "COACH_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: set {POSTGRES_ENV}")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    with temporary_database(server, "coach_test_bench") as url:
        yield url
