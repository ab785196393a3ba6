"""The command line of a Faust worker service (fan-out, referral router, detector).

Parsed before the service's app module is imported, since importing it reads the
service's settings, directory and topology: `--help` and `--version` answer
without any of them and start nothing. Everything else is Faust's own command
line, passed through untouched; none at all means a worker, as in production.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from homeward.version import version_line

# The worker command turns Faust's web server back on unless told not to;
# metrics have their own port (HOMEWARD_<SERVICE>_METRICS_PORT).
DEFAULT_WORKER = ("worker", "-l", "info", "--without-web")


def build_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            f"With no arguments: {' '.join(DEFAULT_WORKER)}. Faust's own help: "
            f"`{prog} worker --help` (that one reads the service's settings first)."
        ),
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument(
        "faust_args",
        metavar="FAUST_ARGS",
        nargs=argparse.REMAINDER,
        help="passed to the Faust app's command line, e.g. worker -l info --without-web",
    )
    return parser


def worker_argv(prog: str, description: str | None, argv: Sequence[str]) -> list[str]:
    """The arguments to hand Faust (after sys.argv[0]); exits on --help and --version."""
    faust_args: list[str] = build_parser(prog, description).parse_args(argv).faust_args
    return faust_args or list(DEFAULT_WORKER)
