"""Suite-wide hooks only: helpers live in modules (tests/e2e/lab.py, tests/needs.py)."""

from __future__ import annotations

import pytest

# The slowest tests (`pytest --durations=20`), mostly waiting on real clocks: started
# first, so that with `-n 4` they overlap the many short ones instead of ending the run
# alone. Only the order depends on this list; a stale entry costs a little time.
LONG = (
    "test_bench_quick.py::test_quick_benchmark_reports_every_scenario",
    "test_slow_receiver.py::test_a_flat_out_sender_drops_no_one_on_a_2_mbit_link",
    "test_e2e_suspend.py::test_host_suspended_longer_than_every_timeout_recovers",
    "test_e2e_quiet_screens.py::test_relay_agent_shows_only_changes_of_state",
    "test_e2e_dead_host.py::test_frozen_host_is_noticed_by_the_heartbeat",
    "test_e2e_adversarial.py::test_flooder_and_peer_that_stops_reading",
    "test_style.py::test_mypy_strict_is_clean",
    "test_bench_quick.py::test_anchors_quick_report_every_shape_for_severus_and_the_ceiling",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.endswith(LONG))  # stable: the rest keep order
