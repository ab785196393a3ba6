from __future__ import annotations

from homeward_agency.fleet import FleetStats


def stats(latencies: tuple[float, ...]) -> FleetStats:
    return FleetStats(
        deliveries={"A": 2, "B": 1},
        acks={"A": 2},
        duplicates_dropped=1,
        acks_sent=2,
        escalations=0,
        dead_letters=0,
        latencies_ms=latencies,
    )


def test_summary_counts_and_latency_figures() -> None:
    summary = stats(tuple(float(i) for i in range(1, 101))).summary()
    assert summary["agencies"] == 2 and summary["deliveries"] == 3
    assert summary["latency_ms_p50"] == 50.5
    assert summary["latency_ms_p95"] == 95.0
    assert summary["latency_ms_max"] == 100.0


def test_no_latencies_means_no_figures() -> None:
    summary = stats(()).summary()
    assert summary["latency_ms_p50"] is None and summary["latency_ms_p95"] is None
    assert stats(()).latency_quantile(0.5) is None


def test_quantile_ends() -> None:
    s = stats((5.0, 1.0, 3.0))
    assert (s.latency_quantile(0), s.latency_quantile(1)) == (1.0, 5.0)
