"""`python -m homeward_fanout [worker -l info]` runs a fan-out worker."""

from __future__ import annotations

import sys

from homeward_fanout.agents import app


def main() -> None:
    if len(sys.argv) == 1:
        sys.argv += ["worker", "-l", "info"]
    app.main()


if __name__ == "__main__":
    main()
