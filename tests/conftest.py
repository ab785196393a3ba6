pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.bus",
    "tests.fixtures.intake",
    "tests.fixtures.gateway",
    "tests.fixtures.idp",
]
