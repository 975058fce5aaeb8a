"""Shared fixtures: real PostgreSQL databases and the real Mosquitto broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import (
    BROKER_HOST,
    BROKER_PORT,
    SHARED_DATA,
    fresh_database,
    unique_root,
    wait_port,
)


@pytest.fixture
def db_url() -> Iterator[str]:
    """A freshly migrated database of this test's own."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_db_url() -> Iterator[str]:
    """A migrated database shared by the tests of one module."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def broker() -> tuple[str, int]:
    """The machine's Mosquitto (host, port)."""
    wait_port(BROKER_HOST, BROKER_PORT, timeout_s=5)
    return BROKER_HOST, BROKER_PORT


@pytest.fixture
def topic_root() -> str:
    return unique_root()


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.exists():
        pytest.fail(f"the real data folder {SHARED_DATA} is missing (see README)")
    return SHARED_DATA
