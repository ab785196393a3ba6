"""Where the repo's declarative data lives (schemas, topology, demo data).

Services run from a checkout or an image that copies it, so the defaults are
relative to this source tree; each can be overridden by an environment
variable for a deployment that mounts them elsewhere. A regular install with no
checkout around it (an agency's `pip install 'homeward[agency]'`) finds the copies
its wheel put under <prefix>/share/homeward (pyproject's data-files).
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _data_root() -> Path:
    """The checkout, else where the wheel's data files went (a venv or `--user`)."""
    if (REPO_ROOT / "schemas").is_dir():
        return REPO_ROOT
    installed = [Path(p) / "share" / "homeward" for p in (sys.prefix, site.USER_BASE) if p]
    return next((d for d in installed if d.is_dir()), installed[0])


DATA_ROOT = _data_root()


def schema_dir() -> Path:
    return Path(os.environ.get("HOMEWARD_SCHEMA_DIR", DATA_ROOT / "schemas" / "avro"))


def released_schema_dir() -> Path:
    return Path(os.environ.get("HOMEWARD_RELEASED_SCHEMA_DIR", DATA_ROOT / "schemas" / "released"))


def topology_file() -> Path:
    return Path(os.environ.get("HOMEWARD_TOPOLOGY_FILE", DATA_ROOT / "topology" / "topics.yaml"))


def demo_directory_file() -> Path:
    return REPO_ROOT / "deploy" / "demo" / "agencies.csv"
