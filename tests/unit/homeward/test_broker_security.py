"""The secured harness's properties, as pure data (the broker itself: integration tests)."""

from __future__ import annotations

import os
from pathlib import Path

from homeward.broker.security import ADMIN_USER, ScramSecurity, load_or_create


def test_scram_everywhere_but_the_controller_deny_by_default_no_anonymous() -> None:
    props = ScramSecurity().properties("127.0.0.1", 9092, 9093)
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    supers = props["super.users"].split(";")
    assert f"User:{ADMIN_USER}" in supers and "User:ANONYMOUS" not in supers
    assert len(supers) == 3
    assert "PLAINTEXT://" not in props["listeners"].replace("SASL_PLAINTEXT://", "")


def test_format_bootstraps_the_broker_and_the_admin_credentials() -> None:
    sec = ScramSecurity()
    args = sec.format_args()
    assert args.count("--add-scram") == 2
    assert any(a.startswith(f"SCRAM-SHA-512=[name={ADMIN_USER},") for a in args)


def test_secrets_are_kept_per_run_dir_private_and_never_in_repr(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    again = load_or_create(tmp_path)
    assert first == again
    assert first.admin_password not in repr(first)
    assert os.stat(tmp_path / "security.json").st_mode & 0o077 == 0
    path = first.write_admin_file(tmp_path, "127.0.0.1:9092")
    assert os.stat(path).st_mode & 0o077 == 0
