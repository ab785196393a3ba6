"""``python -m homeward.idp {fetch,start,realm}``: the embedded Keycloak for development.

``fetch`` fetches and builds the pinned distribution into the cache, imports the realm into the
cached seed database (so later starts take ~10 s) and prints both dirs;
``start`` runs Keycloak in the foreground until SIGINT/SIGTERM and prints ``ISSUER=<url>``
(flushed) once the realm's discovery document answers; ``realm`` regenerates
``deploy/keycloak/homeward-realm.json`` from the demo directory and the roles table
(``--check`` fails instead when the committed file differs).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from homeward import paths
from homeward.auth.roles import roles_file
from homeward.cli import prog_name
from homeward.idp.dist import fetch_keycloak, keycloak_version
from homeward.idp.java import IdpError
from homeward.idp.realm import generate
from homeward.idp.server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    KeycloakServer,
    realm_file,
    seed_database,
)
from homeward.version import version_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog_name("python -m homeward.idp"), description=__doc__)
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch and build Keycloak into the cache only")
    fetch.add_argument("--version", default=None, help=f"Keycloak version ({keycloak_version()})")
    fetch.add_argument("--force", action="store_true", help="fetch even if cached")
    start = sub.add_parser("start", help="run Keycloak with the Homeward realm in the foreground")
    start.add_argument("--run-dir", default=None, help="database, logs (a new temp dir)")
    start.add_argument("--port", type=int, default=None, help="HTTP port (a free one)")
    start.add_argument("--timeout", type=float, default=120.0, help="startup deadline, s (120)")
    realm = sub.add_parser("realm", help="regenerate deploy/keycloak/homeward-realm.json")
    realm.add_argument("--output", type=Path, default=None, help="where (the committed file)")
    realm.add_argument("--check", action="store_true", help="fail if the file is not current")
    return parser


def _start(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = KeycloakServer(run_dir=args.run_dir, port=args.port, startup_timeout=args.timeout)
    started = time.monotonic()
    try:
        server.start()
    except IdpError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        server.stop()
        return 1
    print(f"RUN_DIR={server.run_dir}")
    print(f"LOG={server.log_file}")
    print(f"ADMIN_CONSOLE={server.base_url}/admin/ (user {ADMIN_USERNAME}, {ADMIN_PASSWORD})")
    print(f"STARTED_IN={time.monotonic() - started:.1f}s")
    print(f"ISSUER={server.issuer}", flush=True)
    code = 0
    try:
        while not stop.wait(1.0):
            if not server.running:
                print(f"error: Keycloak exited\n{server.describe()}", file=sys.stderr, flush=True)
                code = 1
                break
    finally:
        server.stop()
        print(f"stopped; logs kept in {server.run_dir}", flush=True)
    return code


def _realm(args: argparse.Namespace) -> int:
    target: Path = args.output or realm_file()
    text = generate(paths.demo_directory_file(), roles_file())
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(
                f"error: {target} is not current: run python -m homeward.idp realm", file=sys.stderr
            )
            return 1
        print(f"{target} is current")
        return 0
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness probe's requests
    if args.command == "fetch":
        try:
            home = fetch_keycloak(args.version, force=args.force)
            seed = seed_database(realm_file(), args.version)
        except IdpError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"KEYCLOAK_HOME={home}")
        print(f"REALM_SEED={seed}", flush=True)
        return 0
    if args.command == "realm":
        return _realm(args)
    return _start(args)


if __name__ == "__main__":
    sys.exit(main())
