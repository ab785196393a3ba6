"""`python -m homeward_fanout [FAUST_ARGS]` (or `homeward fanout`) runs a fan-out worker.

Sends each alert to the agencies its ring reaches, resends what is not
acknowledged and escalates; settings from HOMEWARD_FANOUT_* and the Kafka
connection from HOMEWARD_KAFKA_* (KAFKA_BOOTSTRAP_SERVERS).
"""

from __future__ import annotations

import sys

import pydantic

from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.worker_cli import worker_argv


def main() -> int:
    faust_args = worker_argv(prog_name("python -m homeward_fanout"), __doc__, sys.argv[1:])
    try:
        # Settings, the directory and the topology are read when the app module
        # loads: say plainly what is wrong instead of a traceback.
        from homeward_fanout.agents import app
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            name = "HOMEWARD_FANOUT_" + "_".join(str(p) for p in err["loc"]).upper()
            print(f"error: {name}: {err['msg']}", file=sys.stderr)
        return 2
    except (HomewardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # e.g. a bad directory row or schedule
        return 2
    sys.argv = [sys.argv[0], *faust_args]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
