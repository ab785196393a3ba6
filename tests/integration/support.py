"""Helpers for integration tests: run a service as a subprocess, and read
topics until a condition holds (bounded by a deadline, never a sleep)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, TopicPartition

from homeward.codec import Codec, Decoded
from homeward.settings import KafkaSettings
from homeward.webhook_signing import Secret
from homeward_demo.processes import ServiceProcess


def service(args: list[str], env: dict[str, str], log_path: Path) -> ServiceProcess:
    # Faust keeps scratch data in the working directory unless told otherwise.
    env = {"F_DATADIR": str(log_path.with_suffix(".faust-data")), **env}
    return ServiceProcess(name=args[-1], args=args, env=env, log_path=log_path)


class TopicReader:
    """Reads topics from the beginning and keeps everything decoded so far."""

    def __init__(self, settings: KafkaSettings, topics: Iterable[str], codec: Codec | None = None):
        self.codec = codec or Codec()
        self.consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"test-reader-{uuid.uuid4().hex[:6]}",
            **settings.kafka_python(),
        )
        parts = []
        for t in topics:
            ps = None
            deadline = time.monotonic() + 30
            while not ps and time.monotonic() < deadline:
                ps = self.consumer.partitions_for_topic(t)
                if not ps:
                    self.consumer.poll(timeout_ms=100)
            assert ps, f"topic {t} not found"
            parts += [TopicPartition(t, p) for p in ps]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning()
        self.records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        self.decoded: list[tuple[str, Decoded]] = []

    def poll(self) -> None:
        for tp, msgs in self.consumer.poll(timeout_ms=200).items():
            for m in msgs:
                headers = list(m.headers or [])
                self.records.append((tp.topic, m.key, m.value, headers))
                with contextlib.suppress(Exception):
                    self.decoded.append((tp.topic, self.codec.decode(m.value, headers)))

    def until(
        self, cond: Callable[[TopicReader], bool], timeout: float = 60, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not cond(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
            self.poll()

    def close(self) -> None:
        self.consumer.close()


class WebhookSink:
    """An agency's webhook endpoint for tests: takes every POST with 204 and keeps
    its body (no signature check: test_webhooks.py verifies with the reference
    library); `registry` writes the gateway's endpoint registry pointing here."""

    def __init__(self) -> None:
        sink = self
        self.count = 0
        self.bodies: list[bytes] = []
        self._cv = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(204)
                self.end_headers()
                with sink._cv:
                    sink.bodies.append(body)
                    sink.count += 1
                    sink._cv.notify_all()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, n: int, timeout: float) -> None:
        with self._cv:
            assert self._cv.wait_for(lambda: self.count >= n, timeout), "no webhook arrived"

    def registry(self, directory: Path, agency_id: str) -> Path:
        secret_file = directory / f"webhook-secret-{agency_id}"
        secret_file.write_text(Secret.generate().serialize() + "\n")
        path = directory / "webhooks.yaml"
        endpoint = {"url": self.url, "secrets": [f"file:{secret_file}"]}
        path.write_text(yaml.safe_dump({"endpoints": {agency_id: endpoint}}))
        return path
