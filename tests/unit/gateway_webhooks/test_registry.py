"""The endpoint registry: secrets from references, URLs checked, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeward.errors import ConfigError
from homeward.webhook_signing import Secret
from homeward_gateway.webhooks.registry import KINDS, Registry

CURRENT, OLD = Secret.generate(), Secret.generate()


def test_secrets_from_env_and_file_in_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDU_TEST_SECRET", CURRENT.serialize())
    path = tmp_path / "old"
    path.write_text(OLD.serialize() + "\n")
    reg = Registry.parse(
        {
            "endpoints": {
                "EDU-TEST-1": {
                    "url": "https://school.example.test/hook",
                    "secrets": ["env:EDU_TEST_SECRET", f"file:{path}"],
                    "events": ["alert", "cancellation"],
                }
            }
        }
    )
    endpoint = reg.get("EDU-TEST-1")
    assert endpoint is not None and endpoint.secrets == (CURRENT, OLD)
    assert endpoint.wants("alert") and not endpoint.wants("referral")
    assert CURRENT.serialize() not in repr(endpoint)
    assert reg.get("EDU-TEST-2") is None


def test_every_kind_by_default() -> None:
    reg = Registry.parse(
        {
            "demo": True,
            "endpoints": {
                "A": {"url": "http://h.test/", "secrets": [f"demo:{CURRENT.serialize()}"]}
            },
        }
    )
    assert reg.endpoints["A"].events == KINDS


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"url": "file:///etc/passwd", "secrets": ["env:X"]}, "endpoints.A.url", "scheme"),
        ({"url": "gopher://h.test/", "secrets": ["env:X"]}, "endpoints.A.url", "scheme"),
        ({"url": "http:///nohost", "secrets": ["env:X"]}, "endpoints.A.url", "no host"),
        ({"url": "https://u:p@h.test/", "secrets": ["env:X"]}, "endpoints.A.url", "credentials"),
        ({"url": "https://h.test/", "secrets": []}, "endpoints.A.secrets", "at least one"),
        (
            {"url": "https://h.test/", "secrets": ["env:UNSET_TEST_VAR"]},
            "endpoints.A.secrets[0]",
            "not set",
        ),
        (
            {"url": "https://h.test/", "secrets": ["demo:whsec_abc"]},
            "endpoints.A.secrets[0]",
            "demo: true",
        ),
        ({"url": "https://h.test/", "secrets": ["vault:x"]}, "endpoints.A.secrets[0]", "env:NAME"),
        (
            {"url": "https://h.test/", "secrets": ["env:X"], "events": ["gossip"]},
            "endpoints.A.events",
            "unknown delivery kinds",
        ),
        (
            {"url": "https://h.test/", "secrets": ["env:X"], "color": 1},
            "endpoints.A",
            "unknown keys",
        ),
    ],
)
def test_bad_entries_name_the_field(
    monkeypatch: pytest.MonkeyPatch,
    spec: dict,
    field: str,
    reason: str,  # type: ignore[type-arg]
) -> None:
    monkeypatch.setenv("X", CURRENT.serialize())
    monkeypatch.delenv("UNSET_TEST_VAR", raising=False)
    with pytest.raises(ConfigError, match=reason) as err:
        Registry.parse({"endpoints": {"A": spec}})
    assert err.value.field == field


def test_https_can_be_required() -> None:
    doc = {
        "demo": True,
        "endpoints": {"A": {"url": "http://h.test/", "secrets": [f"demo:{CURRENT.serialize()}"]}},
    }
    with pytest.raises(ConfigError, match="scheme"):
        Registry.parse(doc, require_https=True)


def test_the_demo_registry_loads() -> None:
    from homeward import paths

    reg = Registry.load(paths.REPO_ROOT / "topology" / "webhooks.yaml")
    assert len(reg) >= 1
    assert all(e.url.startswith("http://127.0.0.1:") for e in reg.endpoints.values())


def test_a_shard_index_must_be_below_the_count() -> None:
    from pydantic import ValidationError

    from homeward_gateway.webhooks.settings import WebhookSettings

    assert WebhookSettings(shard_count=3, shard_index=2).shard_index == 2
    with pytest.raises(ValidationError, match="shard_index 3 must be below shard_count 3"):
        WebhookSettings(shard_count=3, shard_index=3)
