"""Helpers for the agency subscriber's broker tests
(tests/integration/test_agency_subscriber.py): producing into the bus,
reading a topic to a condition, running a subscriber or the CLI, and a local
HTTP endpoint for --forward. Every wait is a poll against a deadline."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kafka import TopicPartition

from homeward import kafka
from homeward.codec import Codec, Record
from homeward_agency import Delivery, Subscriber
from tests.fixtures.bus import Bus

codec = Codec()
WAIT = 30.0


def same_and_other_partition(agency: str, partitions: int) -> tuple[str, str]:
    """An agency id hashing to `agency`'s partition, and one hashing elsewhere."""
    mine = kafka.partition_for(agency.encode(), partitions)
    same = other = None
    for i in range(1000):
        candidate = f"PS-TEST-{i}"
        if candidate == agency:
            continue
        if kafka.partition_for(candidate.encode(), partitions) == mine:
            same = same or candidate
        else:
            other = other or candidate
        if same and other:
            return same, other
    raise AssertionError("no agency ids found for both partitions")


def produce(bus: Bus, topic: str, records: list[Record]) -> None:
    producer = kafka.producer(bus.settings)
    try:
        kafka.send_all(producer, [(topic, r) for r in records])
    finally:
        producer.close()


def read_topic(
    bus: Bus, topic: str, until: Callable[[list[Any]], bool] | None = None, timeout: float = WAIT
) -> list[Any]:
    """Every record of `topic` from the start, once `until(records)` holds,
    or (no `until`) up to the end the topic had when called."""
    consumer = kafka.consumer(bus.settings, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)

        def at_end(_records: list[Any]) -> bool:
            return all(consumer.position(tp) >= ends[tp] for tp in tps)

        done = until or at_end
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if done(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met; {len(records)} records")
    finally:
        consumer.close()


def acks(bus: Bus, count: int | None = None) -> list[tuple[Any, Any]]:
    """The first `count` acknowledgements, or all there are now: (record, decoded)."""
    until = None if count is None else (lambda rs: len(rs) >= count)
    records = read_topic(bus, bus.topic("alert_acks"), until)
    return [(r, codec.decode(r.value, r.headers)) for r in records]


class Collector:
    """A handler that records what it is shown and lets a test wait for it.

    It raises for the first `fail_on[id]` calls with a delivery id; every
    call, failed or not, is in `calls`, and `on_call(delivery)` runs first."""

    def __init__(
        self,
        fail_on: dict[str, int] | None = None,
        on_call: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.shown: list[Delivery] = []
        self.calls: list[str] = []
        self.fail_on = dict(fail_on or {})
        self.on_call = on_call
        self._cond = threading.Condition()

    def __call__(self, delivery: Delivery) -> None:
        self.calls.append(delivery.delivery_id)
        if self.on_call is not None:
            self.on_call(delivery)
        if self.fail_on.get(delivery.delivery_id, 0) > 0:
            self.fail_on[delivery.delivery_id] -= 1
            raise RuntimeError("test handler refuses this one for now")
        with self._cond:
            self.shown.append(delivery)
            self._cond.notify_all()

    def ids(self) -> list[str]:
        return [d.delivery_id for d in self.shown]

    def wait_for(self, count: int, timeout: float = WAIT) -> list[str]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.shown) >= count, timeout):
                raise AssertionError(f"shown {self.ids()}, wanted {count}")
        return self.ids()


@contextmanager
def running(sub: Subscriber, handler: Collector, **run_kw: Any) -> Iterator[Subscriber]:
    """Run `sub` in a thread; on exit stop it, join it and close it."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            sub.run(handler, stop, poll_timeout=0.2, **run_kw)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield sub
    finally:
        stop.set()
        thread.join(WAIT)
        sub.close()
    assert not thread.is_alive(), "subscriber did not stop"
    assert not errors, errors


def committed(bus: Bus, group: str, tp: TopicPartition, want: int) -> int | None:
    consumer = kafka.consumer(bus.settings, group_id=group)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            offset = consumer.committed(tp)
            if offset == want or time.monotonic() > deadline:
                return offset
    finally:
        consumer.close()


def drain(pipe: Any, put: Callable[[str], Any]) -> None:
    for line in pipe:
        put(line)


class CliRun:
    """The CLI as a subprocess: its stdout lines as they come, its stderr."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        self.readers = [
            threading.Thread(target=drain, args=(proc.stdout, self.lines.put), daemon=True),
            threading.Thread(target=drain, args=(proc.stderr, self.errors.append), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def take(self, count: int) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + WAIT
        while len(got) < count:
            try:
                got.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"CLI printed {got}; stderr: {self.stderr}") from None
        return got

    @property
    def stderr(self) -> str:
        return "".join(self.errors)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for reader in self.readers:
            reader.join(WAIT)
        return code


@contextmanager
def cli(bus: Bus, *args: str, **env: str) -> Iterator[CliRun]:
    """Run `python -m homeward_agency ARGS` on the bus; SIGTERM it on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeward_agency", *args],
        env=bus.env(args[args.index("--agency-type") + 1], **env),  # the type's principal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(__file__),
    )
    run = CliRun(proc)
    try:
        yield run
    finally:
        if proc.poll() is None:
            run.stop()


class Endpoint:
    """An agency's HTTP endpoint on localhost: answers 503 to the first
    `refuse[id]` POSTs of a delivery id, takes everything else (204); records
    every POST's delivery id in order."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.posts: list[str] = []
        self.refuse = dict(refuse or {})
        self._cond = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib names it so
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                delivery_id = body["delivery_id"]
                with endpoint._cond:
                    refused = endpoint.posts.count(delivery_id) < endpoint.refuse.get(
                        delivery_id, 0
                    )
                    endpoint.posts.append(delivery_id)
                    endpoint._cond.notify_all()
                self.send_response(503 if refused else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deliveries"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, want: dict[str, int]) -> None:
        def done() -> bool:
            return all(self.posts.count(k) >= n for k, n in want.items())

        with self._cond:
            if not self._cond.wait_for(done, WAIT):
                raise AssertionError(f"endpoint got {self.posts}, wanted {want}")
