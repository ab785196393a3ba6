"""Flood control (limits' moving window, per hashed client and for the line)
and the form's one-time tokens."""

from __future__ import annotations

import limits.storage.memory
import pytest

from homeward_gateway.tips.csrf import FormTokens
from homeward_gateway.tips.ratelimit import TipRateLimiter


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # limits' in-memory storage reads time.time(): the test sets it.
    c = Clock()
    monkeypatch.setattr(limits.storage.memory.time, "time", c)
    return c


def test_a_client_gets_its_allowance_then_429_with_when_to_retry(clock: Clock) -> None:
    rl = TipRateLimiter("3/minute", "100/minute", clock=clock)
    assert [rl.hit("198.51.100.7").allowed for _ in range(3)] == [True] * 3
    refused = rl.hit("198.51.100.7")
    assert (refused.allowed, refused.scope) == (False, "client")
    assert 1 <= refused.retry_after <= 60
    assert rl.hit("198.51.100.8").allowed  # another client is not held up
    clock.t += 61
    assert rl.hit("198.51.100.7").allowed  # the window moved on


def test_the_line_as_a_whole_is_capped_across_clients(clock: Clock) -> None:
    rl = TipRateLimiter("10/minute", "5/minute", clock=clock)
    answers = [rl.hit(f"203.0.113.{n}") for n in range(8)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
    assert {a.scope for a in answers[5:]} == {"global"}


def test_a_refused_flood_keeps_itself_out_not_everyone_else(clock: Clock) -> None:
    rl = TipRateLimiter("2/minute", "10/minute", clock=clock)
    flood = [rl.hit("192.0.2.1").allowed for _ in range(500)]
    assert flood.count(True) == 2
    assert rl.hit("192.0.2.2").allowed  # the flood did not spend the global allowance


def test_the_address_is_kept_only_as_a_keyed_hash() -> None:
    a, b = TipRateLimiter("1/minute", "1/minute"), TipRateLimiter("1/minute", "1/minute")
    key = a.client_key("198.51.100.7")
    assert "198.51.100.7" not in key and len(key) == 64
    assert key == a.client_key("198.51.100.7") != b.client_key("198.51.100.7")


def test_a_form_token_is_good_once_until_it_expires() -> None:
    clock = Clock()
    tokens = FormTokens(ttl_seconds=600, clock=clock)
    token = tokens.issue()
    assert tokens.redeem(token) is None
    assert "already used" in (tokens.redeem(token) or "")
    late = tokens.issue()
    clock.t += 601
    assert "expired" in (tokens.redeem(late) or "")


@pytest.mark.parametrize("forged", ["", "abc", "1.2.3", "1800000000.nonce.c2lnbmF0dXJl"])
def test_a_token_not_issued_here_is_refused(forged: str) -> None:
    tokens = FormTokens(clock=Clock())
    assert tokens.redeem(forged) is not None
    other = FormTokens(clock=Clock()).issue()  # another instance's key
    assert "not one this server issued" in (tokens.redeem(other) or "")
