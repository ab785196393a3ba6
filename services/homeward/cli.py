"""`homeward COMMAND [ARGS]`: one command for every Homeward program.

Each subcommand hands its arguments to the program's own entry point (the one
`python -m <module>` runs), imported only when chosen: an agency's install
(`homeward[agency]`, no Faust and no web server) can run `homeward agency`, and a
service it lacks says which extra brings it instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from homeward.version import version_line

PROG = "homeward"
# Top-level modules only the `services` extra installs (faust-streaming pulls mode).
SERVICE_ONLY = frozenset(
    {"faust", "mode", "aiokafka", "fastapi", "starlette", "uvicorn", "jwt", "cryptography"}
)


@dataclass(frozen=True)
class Program:
    name: str
    target: str  # "module:function"; the function reads its arguments from sys.argv
    summary: str
    extra: str = "services"  # what `pip install 'homeward[<extra>]'` brings it

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]


PROGRAMS: tuple[Program, ...] = (
    Program("intake", "homeward_intake.__main__:main", "the HTTP intake API (FastAPI, uvicorn)"),
    Program("fanout", "homeward_fanout.__main__:main", "the alert fan-out (a Faust worker)"),
    Program("referrals", "homeward_referrals.__main__:main", "the referral router (Faust)"),
    Program("detector", "homeward_detector.__main__:main", "the health-record anomaly detector"),
    Program("audit", "homeward_audit.__main__:main", "the audit sequencer; verify, keygen"),
    Program("timeline", "homeward_timeline.cli:main", "print a case's timeline", "agency"),
    Program(
        "agency", "homeward_agency.cli:main", "the agency subscriber (the SDK's CLI)", "agency"
    ),
    Program("gateway", "homeward_gateway.__main__:main", "the agency gateway (HTTP, webhooks)"),
    Program(
        "webhooks",
        "homeward_gateway.webhooks.__main__:main",
        "the webhook dispatcher alone (run); replay dead letters",
    ),
    Program("demo", "homeward_demo.__main__:main", "a synthetic case end to end, locally"),
    Program(
        "topology", "homeward.topology.__main__:main", "show or apply topics, users, ACLs", "agency"
    ),
    Program(
        "deadletters",
        "homeward.deadletters_cli:main",
        "list dead letters; replay them after a fix",
        "agency",
    ),
    Program("broker", "homeward.broker.__main__:main", "a local Kafka for development", "agency"),
    Program("idp", "homeward.idp.__main__:main", "the local Keycloak for development", "agency"),
)
BY_NAME = {p.name: p for p in PROGRAMS}


def prog_name(module_form: str) -> str:
    """A program's name for its usage line: `homeward intake` when run through this
    command (main sets sys.argv[0] so), else how it was started (`python -m ...`)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if argv0.startswith(f"{PROG} ") else module_form


def build_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {p.name:10} {p.summary}" for p in PROGRAMS)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"commands:\n{listing}\n\n`homeward COMMAND --help` shows a command's own options.",
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument(
        "command", metavar="COMMAND", choices=sorted(BY_NAME), help="one of the commands below"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    return parser


class NotInstalled(Exception):
    pass


def not_installed(program: Program, exc: ModuleNotFoundError) -> NotInstalled | None:
    """What to say when `exc` means a part of Homeward is not installed, else None."""
    missing = (exc.name or "").partition(".")[0]
    if missing == program.module.partition(".")[0]:
        return NotInstalled(f"{missing} is not part of this installation")
    if missing in SERVICE_ONLY:
        return NotInstalled(
            f"needs the {program.extra} extra: pip install 'homeward[{program.extra}]' "
            f"(no module named {exc.name!r})"
        )
    return None


def load(program: Program) -> Callable[[], object]:
    """The program's entry point; NotInstalled names what to install when it is missing."""
    module_name, _, function = program.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        said = not_installed(program, exc)
        if said is None:
            raise
        raise said from exc
    entry: Callable[[], object] = getattr(module, function)
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    program = BY_NAME[args.command]
    # Every entry point parses sys.argv (Faust's CLI can read nothing else): the
    # program sees its own arguments, and its name in its usage line.
    sys.argv = [f"{PROG} {program.name}", *args.args]
    try:
        # The Faust workers import their app (and Faust) only once past --help.
        code = load(program)()
    except NotInstalled as exc:
        print(f"{PROG} {program.name}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        said = not_installed(program, exc)
        if said is None:
            raise
        print(f"{PROG} {program.name}: {said}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
