"""`python -m homeward_fanout [worker -l info]` runs a fan-out worker."""

from __future__ import annotations

import sys

from homeward_fanout.agents import app


def main() -> None:
    if len(sys.argv) == 1:
        # The worker command turns Faust's web server back on unless told not to;
        # metrics have their own port (HOMEWARD_FANOUT_METRICS_PORT).
        sys.argv += ["worker", "-l", "info", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
