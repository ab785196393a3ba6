import os

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
