"""No Faust agent shares a topic with another agent of its app: a record
handed to two agents wedges a rebalance (`homeward.faust_app.shared_topics`;
found by the detector's rebalance row of the full fault suite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import faust
import pytest

from homeward.faust_app import shared_topics

ROOT = Path(__file__).resolve().parents[3]


def test_two_agents_on_one_topic_are_reported() -> None:
    app = faust.App("shared-topics-test", broker="kafka://127.0.0.1:1")
    ticks = app.topic("ticks", value_type=bytes)
    both = app.topic("records", "ticks", value_type=bytes)

    @app.agent(ticks)
    async def first(stream):  # type: ignore[no-untyped-def]
        async for _ in stream:
            pass

    @app.agent(both)
    async def second(stream):  # type: ignore[no-untyped-def]
        async for _ in stream:
            pass

    assert shared_topics(app) == {"ticks": sorted([first.name, second.name])}


@pytest.mark.parametrize("service", ["detector", "fanout", "referrals"])
def test_no_service_hands_one_record_to_two_agents(service: str) -> None:
    # A process of its own: the service's modules read their settings and build
    # their app when imported, as the worker does.
    code = (
        "import json\n"
        f"from homeward_{service}.agents import app\n"
        "from homeward.faust_app import shared_topics\n"
        "print(json.dumps([shared_topics(app), sorted(app.agents)]))\n"
    )
    env = {
        **os.environ,
        "HOMEWARD_FANOUT_DIRECTORY": str(ROOT / "deploy/demo/agencies.csv"),
        "HOMEWARD_REFERRALS_DIRECTORY": str(ROOT / "deploy/demo/agencies.csv"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shared, agents = json.loads(done.stdout.strip().splitlines()[-1])
    assert agents, f"{service} defines no agent"
    assert shared == {}
