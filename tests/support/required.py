"""Skipping a test whose peer is missing, unless CI demands every test run."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("VIGIL_TEST_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (VIGIL_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)
