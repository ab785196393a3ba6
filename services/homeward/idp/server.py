"""Run a real Keycloak in dev mode on 127.0.0.1, with the Homeward realm imported.

One :class:`KeycloakServer` is one ``java ... QuarkusEntryPoint start-dev`` subprocess (what
``bin/kc.sh`` runs, spelled out so the JVM is our direct child) on a free port of 127.0.0.1,
with its own ``kc.home.dir`` under the run dir (its H2 database, the realm to import, logs). The
distribution comes from :func:`homeward.idp.dist.fetch_keycloak`, Java 21+ from
:func:`homeward.idp.java.find_java`. Measured here: ready ~12-15 s after spawn, ~450 MB RSS.

Typical use::

    with KeycloakServer() as idp:
        print(idp.issuer)   # http://127.0.0.1:<port>/realms/homeward
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from homeward.broker.cluster import _tail, pdeathsig_preexec
from homeward.idp.dist import (
    BUILD_OPTIONS,
    cache_dir,
    deploy_dir,
    fetch_keycloak,
    java_command,
    keycloak_version,
)
from homeward.idp.java import IdpError, Java, find_java

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
REALM = "homeward"
STATE_FILE_NAME = "homeward-idp.json"
#: The bootstrap admin of the master realm: plainly fake, for a provider on 127.0.0.1 only.
ADMIN_USERNAME = "homeward-admin"
ADMIN_PASSWORD = "demo-admin-password"
#: A bootstrap admin *client* too, so the admin API is reached with client credentials.
ADMIN_CLIENT_ID = "homeward-bootstrap-admin"
ADMIN_CLIENT_SECRET = "demo-secret-homeward-bootstrap-admin"


def realm_file() -> Path:
    """``deploy/keycloak/homeward-realm.json`` (or ``$HOMEWARD_KEYCLOAK_REALM_FILE``)."""
    env = os.environ.get("HOMEWARD_KEYCLOAK_REALM_FILE", "").strip()
    return Path(env).expanduser() if env else deploy_dir() / "homeward-realm.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class KeycloakServer:
    """Keycloak (dev mode, H2 file database, local caches) on 127.0.0.1:<free port>.

    ``start()`` = ``spawn()`` + ``wait_ready()``; the two are apart so a caller can spawn early
    and do other work (a test session starts Kafka meanwhile). ``stop()`` keeps the run dir.
    """

    def __init__(
        self,
        *,
        run_dir: Path | str | None = None,
        version: str | None = None,
        realm: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 120.0,
        die_with_parent: bool = True,
        seeded: bool = True,
    ) -> None:
        self.version = version
        self.seeded = seeded
        self.returncode: int | None = None
        self.realm_path = realm or realm_file()
        self.port = port or _free_port()
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        if run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="homeward-keycloak-"))
        else:
            self.run_dir = Path(run_dir).expanduser().resolve()
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.dist: Path | None = None
        self.java: Java | None = None
        self._spawned_at = 0.0
        self._atexit_registered = False

    # -- where things are

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def issuer(self) -> str:
        """The ``iss`` of every token of the Homeward realm (fixed by ``--hostname``)."""
        return f"{self.base_url}/realms/{REALM}"

    @property
    def home(self) -> Path:
        """This run's ``kc.home.dir``: conf, providers, data (H2 database, realm import)."""
        return self.run_dir / "home"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "keycloak.log"

    @property
    def state_file(self) -> Path:
        return self.run_dir / STATE_FILE_NAME

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifecycle

    def start(self) -> KeycloakServer:
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> None:
        """Fetch what is missing, lay out the run dir, start the JVM; do not wait."""
        if self.running:
            return
        self.java = self.java or find_java()
        self.dist = self.dist or fetch_keycloak(self.version)
        self._lay_out_home(self.dist)
        if self.seeded:
            h2 = self.home / "data" / "h2"
            if not h2.is_dir():  # a restart keeps its own database
                shutil.copytree(seed_database(self.realm_path, self.version) / "h2", h2)
        cmd = [
            *java_command(self.java, self.dist, self.home, built=True),
            "start-dev",
            *BUILD_OPTIONS,
            f"--http-host={HOST}",
            f"--http-port={self.port}",
            # A fixed hostname makes `iss` the same whichever address a client uses.
            f"--hostname={self.base_url}",
        ]
        if not self.seeded:
            cmd.append("--import-realm")
        # Only our own settings: a KC_* or QUARKUS_* variable of the caller's could change
        # the database, the hostname or the admin.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "QUARKUS_"))}
        env.update(
            KC_BOOTSTRAP_ADMIN_USERNAME=ADMIN_USERNAME,
            KC_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
            KC_BOOTSTRAP_ADMIN_CLIENT_ID=ADMIN_CLIENT_ID,
            KC_BOOTSTRAP_ADMIN_CLIENT_SECRET=ADMIN_CLIENT_SECRET,
        )
        with open(self.log_file, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                env=env,
                start_new_session=True,  # a Ctrl-C on the terminal reaches us, not the JVM
                preexec_fn=pdeathsig_preexec() if self.die_with_parent else None,
            )
        self._spawned_at = time.monotonic()
        log.info("started Keycloak pid %s on %s", self.process.pid, self.base_url)
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        self._write_state()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the realm's discovery document answers; :class:`IdpError` with the log
        tail if the process exits or the deadline (default ``startup_timeout``) passes."""
        if self.process is None:
            raise IdpError("spawn() first", field="keycloak")
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        url = f"{self.issuer}/.well-known/openid-configuration"
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as http:
            while True:
                if not self.running:
                    raise IdpError(
                        f"Keycloak exited with {self.process.poll()}.\n{self.describe()}",
                        field="keycloak",
                    )
                try:
                    resp = http.get(url)
                    if resp.status_code == 200 and resp.json().get("issuer") == self.issuer:
                        log.info("Keycloak ready in %.1fs", time.monotonic() - self._spawned_at)
                        return
                    last = f"HTTP {resp.status_code}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise IdpError(
                        f"no discovery document at {url} after "
                        f"{time.monotonic() - self._spawned_at:.0f}s ({last}).\n{self.describe()}",
                        field="keycloak",
                    )
                time.sleep(0.25)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. The run dir (and log) is kept."""
        proc = self.process
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("Keycloak did not stop in %.0fs: SIGKILL", timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=30)
            self.returncode = proc.returncode
            self.process = None
            self._write_state()
        if self._atexit_registered:
            atexit.unregister(self._atexit_stop)
            self._atexit_registered = False

    def describe(self) -> str:
        return f"Keycloak run dir {self.run_dir}\n--- tail of {self.log_file} ---\n" + _tail(
            self.log_file
        )

    def __enter__(self) -> KeycloakServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KeycloakServer(issuer={self.issuer!r}, run_dir={str(self.run_dir)!r})"

    # -- internals

    def _lay_out_home(self, dist: Path) -> None:
        if not self.realm_path.is_file():
            raise IdpError(f"not found: {self.realm_path}", field="realm file")
        conf = self.home / "conf"
        if not conf.is_dir():
            shutil.copytree(dist / "conf", conf)
        (self.home / "providers").mkdir(parents=True, exist_ok=True)
        if not self.seeded:
            imports = self.home / "data" / "import"
            imports.mkdir(parents=True, exist_ok=True)
            # Imported on the first start only (IGNORE_EXISTING): a restart keeps its database.
            shutil.copyfile(self.realm_path, imports / f"{REALM}-realm.json")

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=15.0)

    def state(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "base_url": self.base_url,
            "run_dir": str(self.run_dir),
            "log_file": str(self.log_file),
            "pid": self.process.pid if self.process is not None and self.running else None,
            "admin_client_id": ADMIN_CLIENT_ID,
        }

    def _write_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2) + "\n")
        tmp.replace(self.state_file)


# --------------------------------------------------------------------------------------------
# The seed database


def seed_database(realm: Path, version: str | None = None, *, cache: Path | None = None) -> Path:
    """A directory whose ``h2/`` holds Keycloak's database with ``realm`` already imported.

    Importing the realm (~250 clients, ~500 users) takes ~25 s on every start; importing it
    once per realm file and Keycloak version, into the cache, and copying the 3 MB database
    into each run dir makes a start ~12 s. Built by one ``--import-realm`` start and a clean
    stop, in a staging dir renamed into place (a half-built seed never counts; a file lock
    serialises builders). Every run from one seed has the same realm keys: a fake realm, and
    a test that needs fresh keys rotates them (homeward.idp.admin).
    """
    version = version or keycloak_version()
    dist = fetch_keycloak(version, cache=cache)
    digest = hashlib.sha256(realm.read_bytes())
    digest.update((dist / ".homeward-complete").read_bytes())  # version, pom, build options
    key = digest.hexdigest()[:16]
    root = (cache or cache_dir()).expanduser()
    target = root / f"keycloak-{version}-realm-{key}"
    marker = target / _SEED_MARKER
    if marker.is_file():
        return target
    with open(root / f".keycloak-realm-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return target
        staging = root / f"keycloak-{version}-realm-{key}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            # The import alone took 90 s on a machine loaded by other test runs: room to spare.
            server = KeycloakServer(
                run_dir=staging / "run",
                version=version,
                realm=realm,
                seeded=False,
                startup_timeout=SEED_TIMEOUT_SECONDS,
            )
            log.info("importing %s into a seed database (once per realm file)", realm.name)
            try:
                server.start()
            finally:
                server.stop()
            h2 = server.home / "data" / "h2"
            if server.returncode not in _CLEAN_EXITS or not h2.is_dir():
                raise IdpError(
                    f"seeding exited {server.returncode}, no clean database.\n{server.describe()}",
                    field="keycloak seed",
                )
            shutil.copytree(h2, staging / "h2")
            shutil.copyfile(server.log_file, staging / "import.log")
            (staging / _SEED_MARKER).write_text(f"{realm}\n")
            shutil.rmtree(staging / "run")
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


_SEED_MARKER = ".homeward-complete"
SEED_TIMEOUT_SECONDS = 400.0
# What the JVM returns on SIGTERM after Keycloak's shutdown hooks ran (0, or 128 + 15).
_CLEAN_EXITS = (0, 143)
