"""homeward.kafka.end_offsets / beginning_offsets: kafka-python 3.0's KeyError for
a partition whose leader it does not know yet is asked again, not raised."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from homeward import kafka as hkafka

A, B = TopicPartition("inbox.court.v1", 0), TopicPartition("inbox.police.v1", 3)


class Fetcher:
    """What kafka-python 3.0.12's fetcher does: a partition without a known leader
    is left out of the request, then indexed (KeyError), until the metadata came."""

    def __init__(self, unknown_for: int) -> None:
        self.unknown_for = unknown_for
        self.calls: list[dict[str, Any]] = []

    def _answer(self, tps: list[TopicPartition], **kw: Any) -> dict[TopicPartition, int]:
        self.calls.append(kw)
        if len(self.calls) <= self.unknown_for:
            raise KeyError(A)
        return {tp: 10 * tp.partition + 7 for tp in tps}

    def end_offsets(self, tps: list[TopicPartition], **kw: Any) -> dict[TopicPartition, int]:
        return self._answer(tps, **kw)

    def beginning_offsets(self, tps: list[TopicPartition], **kw: Any) -> dict[TopicPartition, int]:
        return self._answer(tps, **kw)


def test_a_partition_left_out_is_asked_for_again_with_the_same_client() -> None:
    f = Fetcher(unknown_for=2)
    assert hkafka.end_offsets(f, [A, B], 5_000) == {A: 7, B: 37}  # type: ignore[arg-type]
    assert len(f.calls) == 3
    # Each try gets what is left of the caller's time, never more.
    assert all(0 < c["timeout_ms"] <= 5_000 for c in f.calls)
    assert f.calls[-1]["timeout_ms"] < f.calls[0]["timeout_ms"]


def test_beginning_offsets_alike() -> None:
    f = Fetcher(unknown_for=1)
    assert hkafka.beginning_offsets(f, [B], 5_000) == {B: 37}  # type: ignore[arg-type]


def test_past_the_time_it_is_a_kafka_timeout_naming_the_partition() -> None:
    f = Fetcher(unknown_for=10**6)
    with pytest.raises(KafkaTimeoutError, match=r"inbox\.court\.v1"):
        hkafka.end_offsets(f, [A, B], 350)  # type: ignore[arg-type]
    assert 2 <= len(f.calls) <= 5  # asked again at OFFSETS_RETRY_S, not in a spin


def test_no_partitions_no_question() -> None:
    f = Fetcher(unknown_for=0)
    assert hkafka.end_offsets(f, [], 1_000) == {}  # type: ignore[arg-type]
    assert f.calls == []
