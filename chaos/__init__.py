"""Homeward's fault suite: Kafka's own pass rules (replication_test, consumer_test)
measured at the agencies, on a real 3-broker cluster with the services as their own
processes. `make chaos` runs it whole; tests/integration/test_chaos_short.py runs the
short version in CI. docs/faults.md has the method and the latest table."""
