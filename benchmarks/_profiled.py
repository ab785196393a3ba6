"""`python benchmarks/_profiled.py OUT MODULE [ARGS...]`: run `python -m MODULE`
under cProfile and write OUT however the service stops.

A SIGTERM handler that raises SystemExit is installed first: uvicorn (intake)
restores the handler it found and re-raises the signal after its own shutdown,
so the process would otherwise die by the signal before the profile is written.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys


def main() -> None:
    out, module, *args = sys.argv[1:]
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    sys.argv = [module, *args]
    prof = cProfile.Profile()
    try:
        prof.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
