"""The stream processors' Faust producer is idempotent (issue 12: production defaults)."""

from __future__ import annotations

from homeward.faust_app import make_app
from homeward.faust_transport import IdempotentProducer
from homeward.settings import KafkaSettings
from homeward.topology import Topology


def test_a_homeward_faust_app_gets_an_idempotent_acks_all_producer() -> None:
    source = Topology.load(prefix="").get("alert_events")
    app = make_app("unit-idempotent", KafkaSettings(bootstrap_servers="127.0.0.1:1"), source)
    producer = app.producer_transport.create_producer()
    assert isinstance(producer, IdempotentProducer)
    extra = producer._settings_extra()
    assert extra["enable_idempotence"] is True
    assert extra["acks"] == "all"
