"""The secured mode of the harness: SASL/SCRAM-SHA-512 for clients and brokers, deny by default.

What a production cluster would run, on 127.0.0.1:

- clients and inter-broker traffic: ``SASL_PLAINTEXT`` with ``SCRAM-SHA-512`` (the credentials
  live in the cluster metadata, so the topology command adds users without a restart);
- the KRaft controller listener: ``SASL_PLAINTEXT`` with ``PLAIN`` and one static JAAS user.
  SCRAM cannot authenticate it: SCRAM credentials are metadata records, and the controllers
  must talk to each other before any metadata is readable;
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false`` and no anonymous super
  user: the only super users are the broker's own principal, the controller's and one
  bootstrap admin (``User:homeward-admin``) that the topology command and the tests'
  fixtures use to create every other user and grant.

The broker's and the admin's SCRAM credentials are written into the metadata log at format
time (``StorageTool format --add-scram``), so the first start already authenticates them.
Passwords are random per cluster; the admin's is written to ``<run dir>/admin.properties``
(mode 0600) for other processes, and never logged.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "homeward-admin"
BROKER_USER = "homeward-broker"
CONTROLLER_USER = "homeward-controller"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ADMIN_FILE_NAME = "admin.properties"


def _jaas_quote(value: str) -> str:
    # token_urlsafe passwords need no escaping; refuse anything that would.
    if '"' in value or "\\" in value or ";" in value:
        raise ValueError("a JAAS value must not contain quotes, backslashes or semicolons")
    return f'"{value}"'


@dataclass(frozen=True)
class ScramSecurity:
    """The secrets and the properties of one secured cluster."""

    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    broker_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    controller_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    admin_user: str = ADMIN_USER

    @property
    def super_users(self) -> list[str]:
        return [f"User:{BROKER_USER}", f"User:{CONTROLLER_USER}", f"User:{self.admin_user}"]

    def properties(self, host: str, port: int, controller_port: int) -> dict[str, str]:
        """server.properties entries for one combined broker+controller node."""
        scram_jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f"username={_jaas_quote(BROKER_USER)} password={_jaas_quote(self.broker_password)};"
        )
        # PlainLoginModule: username/password is what this node sends to a controller,
        # user_<name> what a controller accepts.
        plain_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username={_jaas_quote(CONTROLLER_USER)} "
            f"password={_jaas_quote(self.controller_password)} "
            f"user_{CONTROLLER_USER}={_jaas_quote(self.controller_password)};"
        )
        return {
            "listeners": f"SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": MECHANISM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram_jaas,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain_jaas,
            "authorizer.class.name": AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join(self.super_users),
        }

    def format_args(self) -> list[str]:
        """StorageTool arguments that put the broker's and admin's credentials in the log."""
        args: list[str] = []
        for user, password in (
            (BROKER_USER, self.broker_password),
            (self.admin_user, self.admin_password),
        ):
            args += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        return args

    def admin_client_options(self) -> dict[str, Any]:
        """kafka-python options (without bootstrap_servers) of the bootstrap admin."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.admin_user,
            "sasl_plain_password": self.admin_password,
        }

    def admin_env(self) -> dict[str, str]:
        """HOMEWARD_KAFKA_* variables that make a Homeward process act as the admin."""
        return {
            "HOMEWARD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "HOMEWARD_KAFKA_SASL_MECHANISM": MECHANISM,
            "HOMEWARD_KAFKA_SASL_USERNAME": self.admin_user,
            "HOMEWARD_KAFKA_SASL_PASSWORD": self.admin_password,
        }

    def admin_env_kw(self) -> dict[str, str]:
        """homeward.settings.KafkaSettings keyword arguments of the admin."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_username": self.admin_user,
            "sasl_password": self.admin_password,
        }

    def write_admin_file(self, run_dir: Path, bootstrap: str) -> Path:
        """Kafka client properties of the admin (for Kafka's own tools), mode 0600."""
        path = run_dir / ADMIN_FILE_NAME
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f"username={_jaas_quote(self.admin_user)} "
            f"password={_jaas_quote(self.admin_password)};"
        )
        text = (
            "# Written by homeward.broker: the bootstrap admin of this cluster. Keep private.\n"
            f"bootstrap.servers={bootstrap}\n"
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={MECHANISM}\n"
            f"sasl.jaas.config={jaas}\n"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path


def load_or_create(run_dir: Path) -> ScramSecurity:
    """The secrets of the cluster in ``run_dir``: kept across restarts of one run dir (the
    metadata log holds credentials made with them), new for a new one. Mode 0600."""
    import json

    path = run_dir / "security.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return ScramSecurity(
            admin_password=data["admin_password"],
            broker_password=data["broker_password"],
            controller_password=data["controller_password"],
        )
    sec = ScramSecurity()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {
                "admin_password": sec.admin_password,
                "broker_password": sec.broker_password,
                "controller_password": sec.controller_password,
            },
            fh,
        )
    return sec
