"""One endpoint's tries (httpx's in-process transport as the endpoint): signed,
same id and body every try, retried, redirects and 410 not retried."""

from __future__ import annotations

import json
import random
import threading

import httpx
from standardwebhooks.webhooks import Webhook

from homeward.codec import Codec
from homeward.webhook_signing import Secret
from homeward_agency.delivery import decode_delivery
from homeward_gateway.webhooks.backoff import Backoff
from homeward_gateway.webhooks.records import Job, body_of, dead_letter_record, from_dead_letter
from homeward_gateway.webhooks.registry import Endpoint
from homeward_gateway.webhooks.sender import Policy, deliver
from tests.unit.agency import samples as s

SECRET = Secret.generate()
ENDPOINT = Endpoint("PS-1", "https://agency.example.test/in", (SECRET,))
POLICY = Policy(4, Backoff(0.0001, 0.001))
codec = Codec()


def job() -> Job:
    raw = s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1"), offset=7)
    return Job.of(raw, decode_delivery(codec, raw, recipient="PS-1"), "PS-1")


def run(replies: list[httpx.Response | Exception], policy: Policy = POLICY):  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []
    it = iter(replies)

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = next(it)
        if isinstance(r, Exception):
            raise r
        return r

    client = httpx.Client(transport=httpx.MockTransport(reply), follow_redirects=False)
    j = job()
    failed: list[int] = []
    outcome = deliver(
        client,
        ENDPOINT,
        j.webhook_id,
        j.body,
        policy,
        threading.Event(),
        lambda a, n: failed.append(n),
        random.Random(1),
    )
    return outcome, seen, failed


def test_retries_until_delivered_with_the_same_id_and_body_each_try() -> None:
    outcome, seen, failed = run(
        [httpx.Response(503), httpx.ConnectError("refused"), httpx.Response(202)]
    )
    assert outcome is not None and outcome.delivered and outcome.attempts == 3
    assert failed == [1, 2]
    assert {r.headers["webhook-id"] for r in seen} == {"D-1"}
    assert len({r.content for r in seen}) == 1
    for r in seen:
        assert json.loads(r.content)["delivery_id"] == "D-1"
        Webhook(SECRET.serialize()).verify(r.content, dict(r.headers))


def test_out_of_tries_says_why_with_the_last_status() -> None:
    outcome, seen, _ = run([httpx.Response(500)] * 4)
    assert outcome is not None and not outcome.delivered
    assert (outcome.attempts, outcome.last_status, outcome.reason) == (4, 500, "HTTP 500")
    assert len(seen) == 4


def test_no_answer_has_no_status() -> None:
    outcome, _, _ = run([httpx.ConnectTimeout("slow")] * 4)
    assert (
        outcome is not None and outcome.last_status is None and outcome.reason == "ConnectTimeout"
    )


def test_a_redirect_or_gone_is_not_followed_nor_retried() -> None:
    for status in (301, 307, 410):
        outcome, seen, _ = run(
            [httpx.Response(status, headers={"Location": "http://169.254.169.254/"})]
        )
        assert outcome is not None and not outcome.delivered and outcome.attempts == 1
        assert [str(r.url) for r in seen] == [ENDPOINT.url]


def test_a_stop_leaves_it_unsettled() -> None:
    stop = threading.Event()
    stop.set()
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    j = job()
    assert deliver(client, ENDPOINT, j.webhook_id, j.body, POLICY, stop) is None


def test_a_dead_letter_gives_back_the_same_record_and_body() -> None:
    j = job()
    letter = dead_letter_record(j, 4, 503, "HTTP 503")
    headers = dict(letter.headers)
    assert headers["dlq_reason"] == b"HTTP 503" and headers["dlq_attempts"] == b"4"
    assert headers["dlq_last_status"] == b"503" and headers["dlq_webhook_id"] == b"D-1"

    class Message:
        key, value, timestamp = letter.key, letter.value, 0
        headers = letter.headers

    original = from_dead_letter(Message())
    assert (original.topic, original.offset) == (j.record.topic, 7)
    again = decode_delivery(codec, original, recipient="PS-1")
    assert body_of(again) == j.body
