"""The decoder bounds' cost (docs/wire-contract.md, "Decoder bounds"): not part
of the suite, run by hand with `PYTHONPATH=. .venv/bin/python benchmarks/decode_bounds.py`.

- Codec.decode_value of an AlertIssued with its structure walk and with the
  walk replaced by a no-op, in turns in one process (best of 7 rounds of
  20,000: the fastest round is the one least disturbed by the machine);
- the walk alone;
- refusing an AlertIssued of 261,000 empty strings (just under the 256 KiB
  cap), median of 50 (before the walk: 64 to 100 ms).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastavro import schemaless_writer

from homeward.catalogue import Catalogue
from homeward.codec import HEADER_LEN, MAGIC, Codec
from homeward.errors import CodecError
from tests.conformance.strategies import samples


def best_ns(f: Callable[[], Any], n: int = 20_000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - started) / n * 1e9


def main() -> None:
    codec = Codec(Catalogue.load())
    event = samples()["homeward.alerts.AlertIssued"]
    record, _ = codec.encode(event, key=event.case_id, source="/homeward/bench")
    codec.decode(record.value, record.headers)
    fp = record.value[2:HEADER_LEN]
    real = codec._reading[fp]
    noop = real._replace(check=lambda body, start: len(body))
    rounds: dict[str, list[float]] = {"with the walk": [], "without": []}
    for _ in range(7):
        codec._reading[fp] = real
        rounds["with the walk"].append(best_ns(lambda: codec.decode_value(record.value)))
        codec._reading[fp] = noop
        rounds["without"].append(best_ns(lambda: codec.decode_value(record.value)))
    codec._reading[fp] = real
    for name, times in rounds.items():
        print(f"decode_value, {name}: {min(times):,.0f} ns/record")
    walk = min(best_ns(lambda: real.check(record.value, HEADER_LEN)) for _ in range(5))
    print(f"the walk alone: {walk:,.0f} ns/record ({len(record.value)} bytes)")

    entry = codec.catalogue.by_name("homeward.alerts.AlertIssued")
    datum = event.to_avro()
    datum["target_types"] = [""] * 261_000
    buf = io.BytesIO()
    buf.write(MAGIC + entry.fingerprint)
    schemaless_writer(buf, entry.parsed, datum)
    bad = buf.getvalue()
    took = []
    for _ in range(50):
        started = time.perf_counter()
        with contextlib.suppress(CodecError):
            codec.decode(bad, record.headers)
        took.append(time.perf_counter() - started)
    print(
        f"refusing {len(bad):,} bytes of empty strings: {statistics.median(took) * 1e3:.3f} ms median"
    )


if __name__ == "__main__":
    main()
