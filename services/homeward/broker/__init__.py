"""A real Apache Kafka broker for development and tests (KRaft, broker+controller).

The server jars come from Maven Central through ``deploy/kafka/pom.xml``; see
:mod:`homeward.broker.jars`, :mod:`homeward.broker.cluster` and ``docs/kafka-version.md``.
"""

from homeward.broker.cluster import STATE_FILE_NAME, KafkaCluster, KafkaNode, read_state
from homeward.broker.jars import (
    KAFKA_VERSION,
    BrokerError,
    cache_dir,
    check_java,
    fetch_kafka,
    kafka_version,
)

__all__ = [
    "KAFKA_VERSION",
    "STATE_FILE_NAME",
    "BrokerError",
    "KafkaCluster",
    "KafkaNode",
    "cache_dir",
    "check_java",
    "fetch_kafka",
    "kafka_version",
    "read_state",
]
