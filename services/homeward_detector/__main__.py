"""`python -m homeward_detector [worker -l info]` runs a detector worker."""

from __future__ import annotations

import sys

import pydantic

from homeward.errors import HomewardError


def main() -> int:
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
    if len(sys.argv) == 1:
        # The worker command turns Faust's web server back on unless told not to;
        # metrics have their own port (HOMEWARD_DETECTOR_METRICS_PORT).
        sys.argv += ["worker", "-l", "info", "--without-web"]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
