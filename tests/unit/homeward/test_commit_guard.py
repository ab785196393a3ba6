"""homeward.faust_app.CommitGuard: a worker stopped while it handles records
commits nothing more, so the records it acknowledged without carrying them out
(Faust acks the current event in a `finally`) are redelivered, not lost."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from homeward.faust_app import CommitGuard


class Consumer:
    def __init__(self) -> None:
        self.commits = 0

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        self.commits += 1
        return True

    async def force_commit(self, *args: Any, **kwargs: Any) -> bool:
        self.commits += 1
        return True


def test_a_stop_in_the_middle_of_a_batch_holds_every_later_commit() -> None:
    consumer = Consumer()
    guard = CommitGuard(SimpleNamespace(consumer=consumer))
    handling = asyncio.Event()

    async def agent() -> None:
        with guard.carrying_out():
            handling.set()
            await asyncio.sleep(3600)  # waiting for the broker to have the batch's output

    async def run() -> None:
        assert await consumer.commit()  # before: commits go through
        task = asyncio.create_task(agent())
        await handling.wait()
        task.cancel()  # the app stopping its agents (SIGTERM)
        with pytest.raises(asyncio.CancelledError):
            await task
        # The consumer's stop commits what was acknowledged: now nothing.
        assert not await consumer.commit(start_new_transaction=False)
        assert not await consumer.force_commit()

    asyncio.run(run())
    assert guard.held and consumer.commits == 1


def test_a_batch_carried_out_or_failing_otherwise_leaves_commits_alone() -> None:
    consumer = Consumer()
    guard = CommitGuard(SimpleNamespace(consumer=consumer))
    with guard.carrying_out():
        pass
    with pytest.raises(RuntimeError), guard.carrying_out():
        raise RuntimeError("a bug: the supervisor restarts the agent, which goes on")
    assert asyncio.run(consumer.commit()) and not guard.held
