"""The Keycloak distribution: version pin, cache, fetching with Maven, the one-off build step.

``fetch_keycloak()`` makes sure ``<cache>/keycloak-<version>/`` holds the unpacked official
``org.keycloak:keycloak-quarkus-dist`` zip (from Maven Central, through
``deploy/keycloak/pom.xml``), already *augmented* for the options Homeward starts it with. The
cache is ``$HOMEWARD_CACHE_DIR`` or ``~/.cache/homeward``, outside the repository.

Why the build step here: ``kc.sh start-dev`` re-augments the Quarkus application on every start
(about 10 s, then exit code 10 and a relaunch), writing into the distribution's ``lib/quarkus``.
Doing it once, in a staging directory renamed into place only when complete, makes every later
start ~10 s faster and means parallel starts never write into a shared directory: each start
passes ``-Dkc.config.built=true`` and only reads the distribution.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

from homeward.idp.java import IdpError, Java, find_java

log = logging.getLogger(__name__)

#: The Keycloak release the project is developed and tested against.
KEYCLOAK_VERSION = "26.4.0"
#: Build-time options (persisted by the augmentation); every start must agree with them.
BUILD_OPTIONS = ("--health-enabled=true", "--http-management-health-enabled=false")

_MARKER_NAME = ".homeward-complete"
_REAUGMENTED_EXIT = 10  # QuarkusEntryPoint: "configuration updated, relaunch me"


def keycloak_version() -> str:
    """``$HOMEWARD_KEYCLOAK_VERSION`` or :data:`KEYCLOAK_VERSION`."""
    return os.environ.get("HOMEWARD_KEYCLOAK_VERSION", "").strip() or KEYCLOAK_VERSION


def cache_dir() -> Path:
    """``$HOMEWARD_CACHE_DIR`` or ``~/.cache/homeward`` (shared with the Kafka jars)."""
    env = os.environ.get("HOMEWARD_CACHE_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "homeward"


def deploy_dir() -> Path:
    """``deploy/keycloak`` of this checkout (the pom and the realm file)."""
    return Path(__file__).resolve().parents[3] / "deploy" / "keycloak"


def pom_path() -> Path:
    return deploy_dir() / "pom.xml"


def java_command(java: Java, dist: Path, home: Path, *, built: bool = False) -> list[str]:
    """What ``bin/kc.sh`` runs, spelled out, so the JVM is our direct child (signals, death
    signal) and ``kc.home.dir`` (data, providers, conf) can be a per-run directory."""
    opts = [
        str(java.executable),
        "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
        "io.quarkus.bootstrap.forkjoin.QuarkusForkJoinWorkerThreadFactory",
        "-XX:MetaspaceSize=96M",
        "-XX:MaxMetaspaceSize=256m",
        "-Dfile.encoding=UTF-8",
        "-Dstdout.encoding=UTF-8",
        "-Dstderr.encoding=UTF-8",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.security.egd=file:/dev/urandom",
        "-XX:+UseG1GC",
        "-Xms64m",
        "-Xmx512m",
        "--add-opens=java.base/java.util=ALL-UNNAMED",
        "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
        "--add-opens=java.base/java.security=ALL-UNNAMED",
        # Java 24+: JBoss threads' thread-local reset needs java.lang open, else it logs errors.
        "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "-Duser.language=en",
        "-Duser.country=US",
    ]
    if java.feature >= 24:  # netty's Unsafe use warns loudly on 24+; the option exists from 23
        opts.append("--sun-misc-unsafe-memory-access=allow")
    return [
        *opts,
        f"-Dkc.home.dir={home}",
        f"-Djboss.server.config.dir={home / 'conf'}",
        "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
        "-Dpicocli.disable.closures=true",
        "-Dquarkus-log-max-startup-records=10000",
        *(["-Dkc.config.built=true"] if built else []),
        "-cp",
        str(dist / "lib" / "quarkus-run.jar"),
        "io.quarkus.bootstrap.runner.QuarkusEntryPoint",
    ]


def _marker_content(version: str, pom: Path) -> str:
    return json.dumps(
        {
            "version": version,
            "pom_sha256": hashlib.sha256(pom.read_bytes()).hexdigest(),
            "build_options": list(BUILD_OPTIONS),
        },
        sort_keys=True,
    )


def _complete(home: Path, version: str, pom: Path) -> bool:
    try:
        if (home / _MARKER_NAME).read_text() != _marker_content(version, pom):
            return False
    except OSError:
        return False
    return (home / "lib" / "quarkus-run.jar").is_file()


def _maven() -> str:
    found = shutil.which("mvn")
    if not found:
        raise IdpError(
            "Maven (mvn) not found: it fetches Keycloak from Maven Central on first use "
            f"(Debian: apt-get install maven), or pre-fill the cache ({cache_dir()})",
            field="mvn",
        )
    return found


def _unzip(archive: Path, into: Path) -> Path:
    """Unpack keeping the executable bits (zipfile drops them); return the top directory."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise IdpError(f"unsafe path in {archive.name}: {info.filename}", field="zip")
            extracted = Path(zf.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                extracted.chmod(mode)
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise IdpError(f"{archive.name} should hold one top directory, has {tops}", field="zip")
    return tops[0]


def _augment(java: Java, dist: Path) -> None:
    """Run the build step once (``start-dev`` with the build options re-augments, exits 10)."""
    cmd = [*java_command(java, dist, dist), "start-dev", *BUILD_OPTIONS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    (dist / "homeward-build.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != _REAUGMENTED_EXIT:
        raise IdpError(
            f"Keycloak's build step exited {proc.returncode}, expected {_REAUGMENTED_EXIT} "
            f"(augmented):\n{(proc.stdout + proc.stderr)[-3000:]}",
            field="keycloak build",
        )


def fetch_keycloak(
    version: str | None = None, *, cache: Path | None = None, force: bool = False
) -> Path:
    """Make sure Keycloak ``version`` is unpacked and built in the cache; return its dir.

    Safe from several processes at once (a file lock); a half-done fetch never counts (it
    happens in a staging directory renamed into place with a marker of version and pom hash).
    """
    version = version or keycloak_version()
    root = (cache or cache_dir()).expanduser()
    pom = pom_path()
    if not pom.is_file():
        raise IdpError(f"not found at {pom}", field="deploy/keycloak/pom.xml")
    home = root / f"keycloak-{version}"
    if not force and _complete(home, version, pom):
        return home
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".keycloak-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _complete(home, version, pom):
            return home
        java = find_java()
        mvn = _maven()
        staging = root / f"keycloak-{version}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            started = time.monotonic()
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(pom),
                "dependency:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:zip",
                f"-DoutputDirectory={staging}",
            ]
            log.info("fetching Keycloak %s: %s", version, " ".join(cmd))
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            archive = staging / f"keycloak-quarkus-dist-{version}.zip"
            if proc.returncode != 0 or not archive.is_file():
                output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip()
                raise IdpError(
                    f"mvn failed (exit {proc.returncode}) fetching Keycloak {version}:\n"
                    f"{output[-4000:]}",
                    field="keycloak-quarkus-dist",
                )
            dist = _unzip(archive, staging / "unpacked")
            archive.unlink()  # Maven's local repository keeps its own copy
            log.info("building Keycloak %s for dev mode with Java %s", version, java.feature)
            _augment(java, dist)
            (dist / _MARKER_NAME).write_text(_marker_content(version, pom))
            shutil.rmtree(home, ignore_errors=True)
            dist.rename(home)
            log.info("Keycloak %s ready in %.1fs at %s", version, time.monotonic() - started, home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return home
