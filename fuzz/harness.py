"""Runs one target for a time budget and counts what happened.

Hypothesis generates the inputs (no shrinking, no example database: a crash
is recorded with its input and the run goes on, so one finding does not end
a ten-minute campaign). Each input runs under an interval timer; a loop the
timer cannot interrupt (inside C code) is caught by the parent process, which
gives every target its budget plus a margin and counts a target that
overruns it as hung.
"""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# An input that takes this long is a hang: the slowest legitimate input of
# any target is a few milliseconds (docs/fuzzing.md gives the figures).
PER_INPUT_SECONDS = 2.0
EXAMPLES_PER_ROUND = 2000


class Hang(BaseException):
    """The per-input timer fired. A BaseException, so no `except Exception`
    in the code under test can turn it into a typed error."""


class _BudgetSpent(BaseException):
    pass


@dataclass
class Finding:
    kind: str  # crash or hang
    error: str
    where: str
    input: str
    count: int = 1


@dataclass
class Stats:
    target: str
    examples: int = 0
    typed_errors: int = 0
    accepted: int = 0
    crashes: int = 0
    hangs: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    slowest_seconds: float = 0.0
    slowest_input: str = ""
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang


def run(
    name: str,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], Any],
    typed: tuple[type[BaseException], ...],
    budget_seconds: float,
    per_input_seconds: float = PER_INPUT_SECONDS,
) -> Stats:
    stats = Stats(name)
    seen: dict[tuple[str, str, str], Finding] = {}
    signal.signal(signal.SIGALRM, _on_alarm)
    # The budget is CPU time, not wall time: "10 CPU-minutes" means the same
    # work on an idle machine and on one shared with brokers and other runs.
    started_wall, started_cpu = time.monotonic(), time.process_time()
    deadline = started_cpu + budget_seconds

    def record(kind: str, exc: BaseException, value: Any) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        last = frames[-1] if frames else None
        where = f"{last.filename}:{last.lineno} in {last.name}" if last else "?"
        key = (kind, type(exc).__name__, where)
        if key in seen:
            seen[key].count += 1
            return
        seen[key] = Finding(kind, f"{type(exc).__name__}: {str(exc)[:300]}", where, _short(value))
        stats.findings.append(seen[key])

    def one(value: Any) -> None:
        if time.process_time() > deadline:
            raise _BudgetSpent
        began = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, per_input_seconds)
        try:
            check(value)
            stats.accepted += 1
        except typed:
            stats.typed_errors += 1
        except Hang as exc:
            stats.hangs += 1
            record("hang", exc, value)
        except Exception as exc:
            stats.crashes += 1
            record("crash", exc, value)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - began
        stats.examples += 1
        if took > stats.slowest_seconds:
            stats.slowest_seconds, stats.slowest_input = took, _short(value, 160)

    test = settings(
        max_examples=EXAMPLES_PER_ROUND,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )(given(strategy)(one))
    while time.process_time() < deadline:
        try:
            test()
        except _BudgetSpent:
            break
    stats.wall_seconds = time.monotonic() - started_wall
    stats.cpu_seconds = time.process_time() - started_cpu
    return stats
