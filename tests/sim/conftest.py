"""Shared inventories for the simulator tests (generated, deterministic)."""

from __future__ import annotations

import pytest

from hub.inventory import Inventory
from sim.city import generate_city


@pytest.fixture(scope="session")
def small_city() -> Inventory:
    """16 intersections, a few lots and trucks."""
    return generate_city(16, seed=11)
