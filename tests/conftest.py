import os

import pytest
from hypothesis import settings

# Property tests check what is true, not how fast: Hypothesis's per-example deadline
# (200 ms) is a timed test, and on two cores shared with brokers and browsers a slow
# example fails a correct property (seen once in a parallel run). Speed is measured by
# the benchmarks instead.
settings.register_profile("homeward", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "homeward"))

# The test run is a local single-broker harness (the fault suite's cluster says otherwise
# for its own processes): topics get one replica, which `apply` refuses anywhere else.
os.environ.setdefault("HOMEWARD_TOPOLOGY_DEVELOPMENT", "1")

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.bus",
    "tests.fixtures.intake",
    "tests.fixtures.gateway",
    "tests.fixtures.idp",
]

# The modules that take minutes, handed out first: a parallel run (`make test`) that
# reached one of them last would end with one process working and the others idle.
LONGEST_FIRST = (
    "tests/integration/test_chaos_short.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_deadletter_replay.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keeps its order
