"""`python -m homeward_audit [run]`: the sequencer (prints `AUDIT_READY` once it
holds its partitions). `python -m homeward_audit verify [--file DUMP] [--dump OUT]`:
check the chain and its signatures (from the topic, or from a JSON-lines dump);
exits 1 naming the first bad entry. `python -m homeward_audit keygen DIR`: a
throwaway key pair, for the demo and tests only."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import pydantic

from homeward.audit.chain import ChainError, Item, Signer, from_json, load_public_keys, to_json
from homeward.audit.chain import verify as verify_items
from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.metrics import set_build_info
from homeward.probes import Probes, ProbeServer, print_line, wsgi_app
from homeward.settings import KafkaSettings, ServiceSettings
from homeward.topology import Topology
from homeward.version import version_line
from homeward_audit import logio
from homeward_audit.sequencer import Sequencer
from homeward_audit.settings import AuditSettings

SERVICE = "audit"
READY_LINE = "AUDIT_READY"
log = logging.getLogger("homeward_audit")


def _need(path: Path | None, setting: str) -> bytes:
    if path is None:
        raise ChainError(f"{setting}: not set (HOMEWARD_AUDIT_{setting.upper()})")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ChainError(f"{setting}: cannot read {path}: {exc.strerror}") from exc


def demo_key(settings: AuditSettings) -> None:
    """The throwaway key of generate_key, made once (a restart keeps signing with it)."""
    path = settings.signing_key_file
    if not settings.generate_key or path is None or path.exists():
        return
    signer = Signer.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(signer.private_pem())
    path.chmod(0o600)
    if settings.public_keys_file is not None:
        with settings.public_keys_file.open("ab") as f:
            f.write(signer.public_pem())
    log.warning("generated a throwaway signing key %s at %s (demo only)", signer.key_id, path)


def run(settings: AuditSettings) -> int:
    demo_key(settings)
    signer = Signer.from_pem(_need(settings.signing_key_file, "signing_key_file"))
    kafka_settings = KafkaSettings()
    sequencer = Sequencer(settings, kafka_settings, signer)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    set_build_info(SERVICE)
    server = None
    if settings.metrics_port:
        probes = Probes(SERVICE)
        probes.add_liveness("loop", lambda: None if sequencer.loop_ok() else "loop stalled")
        probes.add_readiness(
            "group", lambda: None if sequencer.joined.is_set() else "no partitions yet"
        )
        server = ProbeServer(wsgi_app(probes), settings.metrics_port).start()

    def announce() -> None:
        sequencer.joined.wait()
        if not stop.is_set():
            print_line(READY_LINE)

    threading.Thread(target=announce, daemon=True).start()
    log.info("signing checkpoints with key id %s", signer.key_id)
    try:
        sequencer.run(stop)
    finally:
        if server:
            server.stop()
    return 0


def verify(settings: AuditSettings, file: Path | None, dump: Path | None) -> int:
    keys = load_public_keys(_need(settings.public_keys_file, "public_keys_file"))
    items: list[Item]
    if file is not None:
        items = []
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    items.append(from_json(json.loads(line)))
                except (ValueError, ChainError) as exc:
                    print(f"{file}:{n}: unreadable: {exc}")
                    return 1
    else:
        kafka_settings = KafkaSettings()
        topic = Topology.load(prefix=kafka_settings.topic_prefix).get("audit_log").name
        try:
            items = logio.read_all(kafka_settings, topic)
        except logio.UnreadableLog as exc:
            print(f"FIRST BAD: {exc}")
            return 1
    if dump is not None:
        dump.write_text("".join(json.dumps(to_json(i)) + "\n" for i in items), encoding="utf-8")
    report = verify_items(items, keys)
    for p, rep in sorted(report.partitions.items()):
        state = "ok" if rep.finding is None else "BAD"
        print(
            f"partition {p}: {rep.entries} entries, {rep.checkpoints} checkpoints verified "
            f"(last seq {rep.last_seq}) {state}"
        )
    first = report.first
    if first is not None:
        print(f"FIRST BAD: {first}")
        return 1
    total = sum(r.entries for r in report.partitions.values())
    checkpoints = sum(r.checkpoints for r in report.partitions.values())
    print(f"VERIFIED {total} entries, {checkpoints} checkpoints")
    return 0


def keygen(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate()
    (directory / "audit-signing.pem").write_bytes(signer.private_pem())
    (directory / "audit-signing.pem").chmod(0o600)
    (directory / "audit-public.pem").write_bytes(signer.public_pem())
    print(f"key id {signer.key_id}: {directory}/audit-signing.pem, {directory}/audit-public.pem")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_audit"), description=__doc__
    )
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the sequencer (the default)")
    v = sub.add_parser("verify", help="verify the chain and its checkpoints")
    v.add_argument("--file", type=Path, help="verify a JSON-lines dump instead of the topic")
    v.add_argument("--dump", type=Path, help="also write what was read as JSON lines")
    k = sub.add_parser("keygen", help="write a throwaway key pair (demo and tests only)")
    k.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=ServiceSettings().log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        if args.command == "keygen":
            return keygen(args.directory)
        settings = AuditSettings()
        if args.command == "verify":
            # Its output is the report: the client's connection chatter would bury it.
            logging.getLogger("kafka").setLevel(logging.WARNING)
            return verify(settings, args.file, args.dump)
        return run(settings)
    except (ChainError, HomewardError) as exc:
        print(f"homeward_audit: {exc}", file=sys.stderr)
        return 2
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "HOMEWARD_AUDIT_" + "_".join(str(p) for p in first["loc"]).upper()
        print(f"homeward_audit: {where.rstrip('_')}: {first['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
