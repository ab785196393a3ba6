"""Create the declared principals' SCRAM-SHA-512 users (AlterUserScramCredentials, as admin).

Passwords come from the site, never from the repo, and are never printed:

- ``HOMEWARD_KAFKA_PASSWORD_<NAME>`` (the principal's name upper-cased, every character
  that is not a letter or digit turned into ``_``: ``HOMEWARD_KAFKA_PASSWORD_CIVIL_AFFAIRS``);
- or a secret file named by ``HOMEWARD_KAFKA_PASSWORDS_FILE``: ``name=password`` lines,
  ``#`` comments (a Kubernetes Secret mounted as a file, for instance).

The environment wins over the file. Upserting is idempotent (it replaces the salted password).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

from homeward.errors import ConfigError, HomewardError
from homeward.settings import KafkaSettings
from homeward.topology.principals import KafkaPrincipal

MECHANISM = ScramMechanism.SCRAM_SHA_512
ITERATIONS = 8192  # >= Kafka's minimum of 4096


def password_env_name(principal: str) -> str:
    return "HOMEWARD_KAFKA_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", principal).upper()


def read_password_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(exc), field="HOMEWARD_KAFKA_PASSWORDS_FILE") from exc
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition("=")
        if not sep or not name.strip() or not password:
            # Say where, never what: the line holds a secret.
            raise ConfigError(
                f"line {number} is not name=password", field="HOMEWARD_KAFKA_PASSWORDS_FILE"
            )
        out[name.strip()] = password
    return out


def passwords(
    principals: list[KafkaPrincipal], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each principal's password; a ConfigError naming every principal without one."""
    environ = os.environ if environ is None else environ
    from_file: dict[str, str] = {}
    file_name = environ.get("HOMEWARD_KAFKA_PASSWORDS_FILE", "").strip()
    if file_name:
        from_file = read_password_file(Path(file_name))
    out: dict[str, str] = {}
    missing = []
    for p in principals:
        value = environ.get(password_env_name(p.name)) or from_file.get(p.name)
        if value:
            out[p.name] = value
        else:
            missing.append(p.name)
    if missing:
        raise ConfigError(
            f"no password for {missing}: set {password_env_name(missing[0])} (and the like) or "
            "name a name=password file in HOMEWARD_KAFKA_PASSWORDS_FILE",
            field="passwords",
        )
    return out


def apply_users(
    principals: list[KafkaPrincipal],
    secrets: Mapping[str, str],
    settings: KafkaSettings | None = None,
    wait_seconds: float = 30.0,
) -> list[str]:
    """Create or update every principal's SCRAM user; returns the user names once the broker
    asked knows every one (it reads them from the metadata log a moment later)."""
    upserts = [
        UserScramCredentialUpsertion(p.name, MECHANISM, secrets[p.name], iterations=ITERATIONS)
        for p in principals
    ]
    admin = KafkaAdminClient(
        client_id="homeward-topology", **(settings or KafkaSettings()).kafka_python()
    )
    try:
        result = admin.alter_user_scram_credentials(upserts)
        if not any(result.values()):
            _wait_visible(admin, [p.name for p in principals], wait_seconds)
    except HomewardError:
        raise
    except Exception as exc:
        raise HomewardError(
            f"the broker refused the SCRAM users ({type(exc).__name__}: {exc}); are these "
            "the admin's credentials on a SASL listener?",
            field="users",
        ) from exc
    finally:
        admin.close()
    failed = {user: error for user, error in result.items() if error}
    if failed:
        raise HomewardError(f"{len(failed)} users failed: {failed}", field="users")
    return [p.name for p in principals]


def _wait_visible(admin: KafkaAdminClient, users: list[str], wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        known = admin.describe_user_scram_credentials(users)
        missing = [u for u in users if not (known.get(u) or {}).get("credential_infos")]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HomewardError(
                f"users not visible after {wait_seconds:.0f}s: {missing}", field="users"
            )
        time.sleep(0.05)  # the broker applies the metadata log asynchronously
