"""The entry point's helpers and the settings, without starting a server."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from homeward_intake.__main__ import bind, public_url
from homeward_intake.settings import IntakeSettings


def test_port_zero_binds_a_free_port_that_accepts_connections() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the kernel queues it: the port is ours before uvicorn starts
    finally:
        sock.close()


def test_binding_a_taken_port_fails_loudly() -> None:
    first = bind("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            taken = socket.socket()
            try:
                taken.bind(("127.0.0.1", first.getsockname()[1]))
            finally:
                taken.close()
    finally:
        first.close()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("::", "http://[::1]:8080"),
        ("intake.local", "http://intake.local:8080"),
    ],
)
def test_the_announced_url_is_one_a_local_client_can_use(host: str, url: str) -> None:
    assert public_url(host, 8080) == url


def test_settings_come_from_the_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_INTAKE_HOST", "0.0.0.0")
    monkeypatch.setenv("HOMEWARD_INTAKE_PORT", "0")
    monkeypatch.setenv("HOMEWARD_INTAKE_SOURCE_NAME", "police-gw-1")
    monkeypatch.setenv("HOMEWARD_INTAKE_MAX_BODY_BYTES", "32768")
    s = IntakeSettings()
    assert (s.host, s.port, s.source_name, s.max_body_bytes) == ("0.0.0.0", 0, "police-gw-1", 32768)


def test_defaults() -> None:
    s = IntakeSettings()
    assert s.port == 8080
    assert s.max_body_bytes == 64 * 1024
    assert s.publish_timeout_seconds < 10  # below the client's default timeout


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "70000"), ("SOURCE_NAME", "has/slash"), ("MAX_BODY_BYTES", "10")],
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"HOMEWARD_INTAKE_{name}", value)
    with pytest.raises(ValidationError):
        IntakeSettings()
