"""`python -m homeward_detector [FAUST_ARGS]` (or `homeward detector`) runs a detector worker.

Reads health records and reports anomalies to police; settings from
HOMEWARD_DETECTOR_* and the Kafka connection from HOMEWARD_KAFKA_*
(KAFKA_BOOTSTRAP_SERVERS).
"""

from __future__ import annotations

import sys

import pydantic

from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.worker_cli import worker_argv


def main() -> int:
    faust_args = worker_argv(prog_name("python -m homeward_detector"), __doc__, sys.argv[1:])
    try:
        # Settings and the topology are read when the app module loads: say
        # plainly what is wrong instead of a traceback.
        from homeward_detector.agents import app
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            name = "HOMEWARD_DETECTOR_" + "_".join(str(p) for p in err["loc"]).upper()
            print(f"error: {name}: {err['msg']}", file=sys.stderr)
        return 2
    except (HomewardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0], *faust_args]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
