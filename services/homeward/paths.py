"""Where the repo's declarative data lives (schemas, topology, demo data).

Services run from a checkout or an image that copies it, so the defaults are
relative to this source tree; each can be overridden by an environment
variable for a deployment that mounts them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def schema_dir() -> Path:
    return Path(os.environ.get("HOMEWARD_SCHEMA_DIR", REPO_ROOT / "schemas" / "avro"))


def released_schema_dir() -> Path:
    return Path(os.environ.get("HOMEWARD_RELEASED_SCHEMA_DIR", REPO_ROOT / "schemas" / "released"))


def topology_file() -> Path:
    return Path(os.environ.get("HOMEWARD_TOPOLOGY_FILE", REPO_ROOT / "topology" / "topics.yaml"))


def demo_directory_file() -> Path:
    return REPO_ROOT / "deploy" / "demo" / "agencies.csv"
