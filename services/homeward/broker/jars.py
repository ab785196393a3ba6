"""The Kafka server jars: version pin, cache, Java and Maven checks, fetching.

The jars are fetched from Maven Central by Maven (``deploy/kafka/pom.xml``) into a cache
outside the repository (``$HOMEWARD_CACHE_DIR`` or ``~/.cache/homeward``), once per version.

Requirements: Java 17+ (``$JAVA_HOME/bin/java`` or ``java`` on PATH) and Maven (``mvn``) for
the first fetch of a version.
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
from pathlib import Path

log = logging.getLogger(__name__)

#: The Kafka release the project is developed and tested against (docs/kafka-version.md).
KAFKA_VERSION = "4.1.2"
#: Minimum Java feature release: Kafka 4.x brokers need 17.
MIN_JAVA = 17

_MARKER_NAME = ".homeward-complete"


class BrokerError(RuntimeError):
    """The broker harness could not fetch, start or reach Kafka."""


# --------------------------------------------------------------------------------------------
# Locations and versions


def kafka_version() -> str:
    """The Kafka version to use: ``$HOMEWARD_KAFKA_VERSION`` or :data:`KAFKA_VERSION`."""
    return os.environ.get("HOMEWARD_KAFKA_VERSION", "").strip() or KAFKA_VERSION


def cache_dir() -> Path:
    """Where fetched jars live: ``$HOMEWARD_CACHE_DIR`` or ``~/.cache/homeward``."""
    env = os.environ.get("HOMEWARD_CACHE_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "homeward"


def pom_path() -> Path:
    """``deploy/kafka/pom.xml`` of this checkout (or ``$HOMEWARD_KAFKA_POM``)."""
    env = os.environ.get("HOMEWARD_KAFKA_POM", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "pom.xml"


def major_version(version: str) -> int:
    match = re.match(r"(\d+)\.", version)
    if not match:
        raise BrokerError(f"not a Kafka version: {version!r}")
    return int(match.group(1))


def logging_flavour(version: str) -> str:
    """Kafka 4.x logs through log4j2; 3.x through log4j 1 (reload4j)."""
    return "log4j2" if major_version(version) >= 4 else "reload4j"


# --------------------------------------------------------------------------------------------
# Java and Maven


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when it exists, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            f"Java not found: Kafka needs a Java {MIN_JAVA}+ runtime. Install one "
            "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
        )
    return found


def check_java() -> tuple[str, int]:
    """Return ``(java executable, feature version)``; raise :class:`BrokerError` if < 17."""
    java = java_executable()
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"could not run {java} -version: {exc}") from exc
    output = proc.stderr + proc.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not match:
        raise BrokerError(f"could not read the Java version from {java} -version: {output!r}")
    feature = int(match.group(1))
    if feature == 1 and match.group(2):  # "1.8.0_392" style
        feature = int(match.group(2))
    if feature < MIN_JAVA:
        raise BrokerError(
            f"{java} is Java {feature}; Kafka needs Java {MIN_JAVA}+ "
            "(set JAVA_HOME to a newer JDK/JRE)."
        )
    return java, feature


def _maven_executable() -> str:
    found = shutil.which("mvn")
    if not found:
        raise BrokerError(
            "Maven (mvn) not found: it fetches the Kafka jars from Maven Central on first use. "
            "Install it (Debian: apt-get install maven) or pre-fill the cache "
            f"({cache_dir()})."
        )
    return found


# --------------------------------------------------------------------------------------------
# Fetching the jars


def _marker_content(version: str, pom: Path) -> str:
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    return json.dumps(
        {"version": version, "logging": logging_flavour(version), "pom_sha256": digest},
        sort_keys=True,
    )


def _libs_complete(libs: Path, version: str, pom: Path) -> bool:
    marker = libs / _MARKER_NAME
    try:
        if marker.read_text() != _marker_content(version, pom):
            return False
    except OSError:
        return False
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def fetch_kafka(
    version: str | None = None, *, cache: Path | None = None, force: bool = False
) -> Path:
    """Make sure the Kafka ``version`` server jars are in the cache; return the libs dir.

    Runs ``mvn dependency:copy-dependencies`` on ``deploy/kafka/pom.xml`` unless the libs dir
    already holds a complete copy (a marker file records the version and the pom's hash, so
    editing the pom refetches). Safe to call from several processes at once (file lock).
    """
    version = version or kafka_version()
    root = (cache or cache_dir()).expanduser()
    pom = pom_path()
    if not pom.is_file():
        raise BrokerError(f"Kafka pom not found at {pom} (set HOMEWARD_KAFKA_POM)")
    home = root / f"kafka-{version}"
    libs = home / "libs"
    if not force and _libs_complete(libs, version, pom):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _libs_complete(libs, version, pom):
            return libs
        mvn = _maven_executable()
        staging = home / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={version}",
            f"-Dkafka.logging={logging_flavour(version)}",
        ]
        log.info("fetching Kafka %s jars: %s", version, " ".join(cmd))
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip()[-4000:]
            raise BrokerError(
                f"mvn failed (exit {proc.returncode}) fetching Kafka {version}:\n{output}"
            )
        if not (staging / f"kafka_2.13-{version}.jar").is_file():
            raise BrokerError(f"mvn succeeded but kafka_2.13-{version}.jar is not in {staging}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs / _MARKER_NAME).write_text(_marker_content(version, pom))
        log.info("fetched Kafka %s in %.1fs into %s", version, time.monotonic() - started, libs)
    return libs
