"""The installed distribution's version, for `--version` and the build-info metric."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

DISTRIBUTION = "homeward"


def homeward_version() -> str:
    try:
        return package_version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def version_line() -> str:
    """What every command's `--version` prints: one distribution, one version for all."""
    return f"{DISTRIBUTION} {homeward_version()}"
