"""One target in this process: `python -m fuzz.worker TARGET BUDGET RESULT.json`."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path

from fuzz.harness import run
from fuzz.targets import TARGETS


def main() -> None:
    name, budget, out = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    logging.disable(logging.CRITICAL)  # the loaders log what they refuse, a million times
    target = TARGETS[name]
    # Hypothesis prints a seed each time the budget ends a round: not a finding.
    with contextlib.redirect_stdout(io.StringIO()):
        stats = run(name, target.strategy(), target.check, target.typed, budget)
    out.write_text(json.dumps(stats.as_dict(), ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
