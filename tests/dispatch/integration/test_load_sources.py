"""The simulator runs against the stack without errors (a few seconds); the locust scenario's
smoke run is in tests/e2e/test_locust_scenarios.py."""

import pytest

from devstack.stack import NativeStack
from dispatch.simulate import simulate

pytestmark = pytest.mark.e2e


async def test_the_simulator_drives_trips_to_completion(native_stack: NativeStack) -> None:
    tally = await simulate(
        f"{native_stack.edge_url}/dispatch", drivers=60, rate=4.0, seconds=5.0, ping_s=1.0, seed=3
    )
    assert tally.requested >= 10 and tally.errors == 0
    assert tally.accepted >= 1 and tally.completed >= 1
