from __future__ import annotations

import io
import json

import pytest

from homeward.codec import Codec
from homeward_agency.cli import build_parser, main, make_handler
from homeward_agency.delivery import decode_delivery
from homeward_agency.settings import AgencySettings
from tests.unit.agency import samples as s


def test_settings_come_from_the_agency_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_AGENCY_AGENCY_ID", "PS-ENV")
    monkeypatch.setenv("HOMEWARD_AGENCY_AGENCY_TYPE", "transport")
    monkeypatch.setenv("HOMEWARD_AGENCY_FORWARD_ATTEMPTS", "5")
    settings = AgencySettings()
    assert (settings.agency_id, settings.agency_type, settings.forward_attempts) == (
        "PS-ENV",
        "transport",
        5,
    )
    args = build_parser(settings).parse_args([])
    assert args.agency_id == "PS-ENV" and args.agency_type == "transport" and args.ack


def test_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_AGENCY_AGENCY_ID", "PS-ENV")
    args = build_parser(AgencySettings()).parse_args(
        ["--agency-id", "PS-CLI", "--agency-type", "media", "--json", "--no-ack"]
    )
    assert (args.agency_id, args.agency_type, args.json, args.ack) == (
        "PS-CLI",
        "media",
        True,
        False,
    )


def test_missing_agency_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HOMEWARD_AGENCY_AGENCY_ID", raising=False)
    monkeypatch.delenv("HOMEWARD_AGENCY_AGENCY_TYPE", raising=False)
    assert main(["--agency-type", "police"]) == 2
    assert "--agency-id" in capsys.readouterr().err


def test_unknown_agency_type_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser(AgencySettings()).parse_args(["--agency-id", "X", "--agency-type", "pirates"])


def test_handler_prints_one_line_or_one_json_object() -> None:
    codec = Codec()
    d = decode_delivery(codec, s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1")))
    text, as_json = io.StringIO(), io.StringIO()
    make_handler(text, as_json=False, forwarder=None)(d)
    make_handler(as_json, as_json=True, forwarder=None)(d)
    assert text.getvalue().count("\n") == 1 and "Test Child Alpha" in text.getvalue()
    assert json.loads(as_json.getvalue())["delivery_id"] == "D-1"
