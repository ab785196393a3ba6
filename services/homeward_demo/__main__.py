"""`python -m homeward_demo`: the main job.

Starts a local Kafka broker (or uses $KAFKA_BOOTSTRAP_SERVERS) and the project's
Keycloak (or uses $HOMEWARD_OIDC_ISSUER), applies the topology, starts intake, the
audit sequencer, the fan-out, the referral router and the detector as their own
processes, simulates the agencies of the synthetic directory with the subscriber
SDK, plays one case from the alert to the rescued children's referrals (the
police system and the reporting persons each log in), verifies the audit chain,
prints a summary, and stops everything, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from homeward import paths
from homeward.agencies import AgencyType, load_directory
from homeward.broker import KafkaCluster
from homeward.cli import prog_name
from homeward.idp import keycloak_version
from homeward.idp.realm import staff_username
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.acls import apply_acls
from homeward.topology.admin import apply
from homeward.topology.model import DEVELOPMENT_ENV
from homeward.topology.principals import load_principals
from homeward.topology.users import apply_users, password_env_name
from homeward.version import version_line
from homeward_agency.fleet import Fleet
from homeward_demo import audit, health, identity, reports, rescue, summary
from homeward_demo.monitor import Monitor
from homeward_demo.processes import KafkaIdentities, ServiceProcess
from homeward_demo.reach import GATEWAY, SDK, WEBHOOK, GatewayAgencies, channel_of
from homeward_demo.scenario import CENTRE, Scenario
from homeward_fanout.rules import RadiusSchedule, agencies_in_ring
from homeward_health import HealthRecorder
from homeward_intake.client import IntakeClient


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_demo"), description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--version", action="version", version=version_line())
    p.add_argument("--directory", type=Path, default=paths.demo_directory_file())
    p.add_argument(
        "--clock-speed",
        type=float,
        default=1200.0,
        help="1 real second counts as this many seconds since last seen (1200: 1 h in 3 s)",
    )
    p.add_argument("--ack-timeout", type=float, default=3.0, help="seconds before a resend")
    p.add_argument(
        "--run-dir", type=Path, default=None, help="logs and summary (default .run/demo-<time>)"
    )
    return p.parse_args(argv)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _identities(settings: KafkaSettings, topology: Topology) -> KafkaIdentities:
    """Create every declared principal (passwords from HOMEWARD_KAFKA_PASSWORD_<NAME>, else
    random for this run) and its grants, when the admin is a SASL user; else none."""
    if not settings.sasl_username:
        return KafkaIdentities(settings)
    principals = load_principals()
    passwords = {
        p.name: os.environ.get(password_env_name(p.name)) or uuid.uuid4().hex for p in principals
    }
    apply_users(principals, passwords, settings)
    apply_acls(topology, settings, principals)
    return KafkaIdentities(settings, passwords)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM (a supervisor, `kill`) stops as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    logging.basicConfig(level=logging.WARNING)
    # kafka-python warns while topics' metadata is still arriving; not news here.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    run_dir = (
        args.run_dir or paths.REPO_ROOT / ".run" / time.strftime("demo-%Y%m%d-%H%M%S")
    ).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    say = lambda text: print(f"[demo] {text}", flush=True)  # noqa: E731
    agencies = list(load_directory(args.directory))
    schedule = RadiusSchedule()
    with ExitStack() as stack:
        try:
            issuer = identity.external_issuer()
            keycloak = None
            if issuer:
                say(f"using the OpenID Connect provider at {issuer}")
            else:
                say("starting Keycloak (the Homeward realm's identities) ...")
                keycloak = identity.spawn_keycloak(run_dir / "keycloak")
                stack.callback(keycloak.stop)
            external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            if external:
                bootstrap = external
                admin = KafkaSettings(bootstrap_servers=bootstrap)  # HOMEWARD_KAFKA_*: the admin
                prefix = (
                    os.environ.get("HOMEWARD_TOPIC_PREFIX")
                    or f"homeward-demo-{uuid.uuid4().hex[:6]}."
                )
                say(f"using the Kafka at {bootstrap}, topics under {prefix!r}")
            else:
                say("starting a local Apache Kafka broker (KRaft) from its jars ...")
                # One broker holds one replica: the development floor, for the demo's
                # topics and the services' own (Faust's changelogs).
                os.environ[DEVELOPMENT_ENV] = "1"
                # Secured: SCRAM users, the standard authorizer, deny by default.
                cluster = KafkaCluster(run_dir=run_dir / "kafka", security="scram").start()
                stack.callback(cluster.stop)
                bootstrap, prefix = cluster.bootstrap_servers, ""
                assert cluster.security is not None
                admin = KafkaSettings(
                    bootstrap_servers=bootstrap, **cluster.security.admin_env_kw()
                )
                say(f"Kafka {cluster.version} at {bootstrap} (logs in {cluster.run_dir})")
            settings = admin.model_copy(update={"topic_prefix": prefix})
            topology = Topology.load(prefix=prefix)
            report = apply(topology, settings)
            say(
                f"topology applied: {len(report.created)} topics created, {len(report.existing)} present"
                + (f", DRIFT: {report.drift}" if report.drift else "")
            )
            kafka = _identities(settings, topology)
            if kafka.secured:
                say(
                    f"{len(kafka.passwords)} Kafka principals created with their grants; "
                    "every service runs as its own"
                )
            if keycloak is not None:
                keycloak.wait_ready()  # spawned before the broker: it started meanwhile
                issuer = keycloak.issuer
                say(f"Keycloak {keycloak_version()} at {issuer} (log {keycloak.log_file})")
            people = identity.Identities(issuer, identity.realm_secrets())

            env = dict(
                os.environ,
                KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                HOMEWARD_TOPIC_PREFIX=prefix,
                PYTHONUNBUFFERED="1",
                F_DATADIR=str(run_dir / "faust-data"),  # Faust's scratch data, not in the cwd
                HOMEWARD_INTAKE_PORT="0",
                HOMEWARD_OIDC_ISSUER=issuer,
                HOMEWARD_FANOUT_DIRECTORY=str(args.directory),
                HOMEWARD_FANOUT_CLOCK_SPEED=str(args.clock_speed),
                HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS=str(args.ack_timeout),
                HOMEWARD_FANOUT_MAX_RESENDS="1",
                HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS="0.25",
                HOMEWARD_REFERRALS_DIRECTORY=str(args.directory),
                HOMEWARD_REFERRALS_DEADLINES=rescue.DEMO_DEADLINES,
                HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
                HOMEWARD_REFERRALS_REPORT_ACK_WITHIN=reports.REPORT_ACK_WITHIN,
                HOMEWARD_DETECTOR_LATENESS=health.LATENESS,
                HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS=health.TICK_INTERVAL,
            )
            # Before intake: its first entries are chained as soon as they are written.
            sequencer = ServiceProcess(
                "audit",
                ["-m", "homeward_audit"],
                audit.sequencer_env(kafka.env(env, "audit"), run_dir),
                run_dir / "audit.log",
            )
            stack.callback(sequencer.stop)
            sequencer.start("AUDIT_READY")
            say("audit sequencer started (chains intake's audit entries, signs checkpoints)")
            intake = ServiceProcess(
                "intake",
                ["-m", "homeward_intake"],
                kafka.env(env, "intake"),
                run_dir / "intake.log",
            )
            stack.callback(intake.stop)
            intake.start("INTAKE_READY")
            url = intake.ready_line().split()[-1]
            say(f"intake serving {url} (OpenAPI at {url}/docs)")
            fanout = ServiceProcess(
                "fanout",
                ["-m", "homeward_fanout"],
                kafka.env(env, "fanout"),
                run_dir / "fanout.log",
            )
            stack.callback(fanout.stop)
            fanout.start("FANOUT_READY")
            say(f"fan-out worker started with {len(agencies)} agencies")
            router = ServiceProcess(
                "referrals",
                ["-m", "homeward_referrals"],
                kafka.env(env, "referrals"),
                run_dir / "referrals.log",
            )
            stack.callback(router.stop)
            router.start("REFERRALS_READY")
            say("referral router started (rules: topology/referrals.yaml)")
            detector = ServiceProcess(
                "detector",
                ["-m", "homeward_detector"],
                kafka.env(env, "detector"),
                run_dir / "detector.log",
            )
            stack.callback(detector.stop)
            detector.start("DETECTOR_READY")
            say(f"health-record anomaly detector started (lateness {health.LATENESS})")

            # The agencies without a Kafka consumer: by webhook and on the gateway's API.
            reach = GatewayAgencies(
                "http://unset",  # the gateway's address, once it listens
                agencies,
                lambda client_id: people.system(client_id),
                answer_policy=rescue.answers_to,
                initial_ring_km=schedule.radius_km(40 / 60),
            )
            hooks = reach.write_registry(run_dir / "webhooks.yaml", reach.start_webhooks())
            gateway = ServiceProcess(
                "gateway",
                ["-m", "homeward_gateway"],
                kafka.env(
                    dict(
                        env,
                        HOMEWARD_GATEWAY_PORT="0",
                        HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE=str(hooks),
                        HOMEWARD_GATEWAY_WEBHOOKS_BACKOFF_BASE_SECONDS="0.2",
                    ),
                    "gateway",
                ),
                run_dir / "gateway.log",
            )
            stack.callback(gateway.stop)
            gateway.start("GATEWAY_READY")
            reach.set_url(gateway.ready_line().split()[-1])
            say(
                f"agency gateway serving {reach.url} (console at {reach.url}/console, "
                f"CAP feed at {reach.url}/public/cap/index.atom)"
            )

            # Two agencies near the centre never answer, to show resend and escalation.
            near = agencies_in_ring(agencies, CENTRE.latitude, CENTRE.longitude, -1, 100)
            silent = {
                r.agency.id
                for r in near
                if r.agency.type in (AgencyType.CULTURE_TOURISM, AgencyType.EDUCATION)
            }
            silent = set(sorted(silent)[:2])
            rng = random.Random(7)
            delays = {a.id: rng.uniform(0.05, 1.5) for a in agencies}
            reach.silent = frozenset(silent)
            reach.ack_delay = delays.__getitem__
            reach.start_streams()
            stack.callback(reach.stop)
            fleet = Fleet(
                # The simulated agencies of every type in one client, so as the admin: no
                # declared principal serves every type (a real site runs one per type).
                settings,
                topology=topology,
                silent=silent,
                ack_delay=delays,
                group_id=f"{prefix}homeward-demo-agencies",
                answer_policy=rescue.answers,
                elsewhere=reach.agencies,
            ).start()
            stack.callback(fleet.stop)
            monitor = Monitor(settings, topology).start()
            stack.callback(monitor.stop)
            ways = Counter(channel_of(a) for a in agencies)
            say(
                f"{len(agencies)} simulated agencies: {ways[SDK]} on the SDK (Kafka), "
                f"{ways[WEBHOOK]} by signed webhook, {ways[GATEWAY]} on the gateway's live "
                f"stream; silent (never acknowledge): {', '.join(sorted(silent))}"
            )

            desk = reports.PoliceDesk(
                kafka.settings("police"), topology, f"{prefix}homeward-police-report-desk"
            )
            desk.start()
            stack.callback(desk.stop)
            watch = health.AnomalyWatch(settings, topology).start()
            stack.callback(watch.stop)
            # The hospitals' records go first: the detector works on them while the case plays.
            recorder = stack.enter_context(
                HealthRecorder(kafka.settings("health"), topology=topology)
            )
            hospital = health.play(recorder, say)
            # Every caller logs in: the police system by its client credentials, the
            # teacher and the hotel clerk as persons (their agencies' staff).
            client = stack.enter_context(IntakeClient(url, token_provider=people.police()))
            filers = {
                sector: reports.Filer(
                    agency,
                    stack.enter_context(IntakeClient(url, token_provider=people.person(agency.id))),
                )
                for sector, agency in reports.reporter_agencies(agencies).items()
            }
            say(
                f"intake callers log in: {identity.POLICE_SYSTEM} ({identity.POLICE_AGENCY}), "
                + ", ".join(
                    f"{staff_username(f.agency.id)} ({s.value} report)" for s, f in filers.items()
                )
            )
            marks = Scenario(client, monitor, agencies, schedule, desk=desk, reporters=filers).play(
                silent
            )
            # Count only once every agency that answers has answered, as the
            # monitor sees it on the acks topic (bounded: a slow machine still ends).
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                obs = monitor.snapshot()
                alert = [
                    d for d, s in obs.deliveries.items() if s.source_event_id == marks["alert"]
                ]
                waiting = [
                    d
                    for d in alert
                    if d not in obs.acked and obs.deliveries[d].agency_id not in silent
                ]
                if not waiting and not fleet.pending_acks() and not reach.pending():
                    break
                time.sleep(0.2)
            stats = fleet.stop()
            received = reach.stop()
            anomalies = watch.wait_for(hospital, 30, say)
            audited = audit.figures(
                kafka.settings("audit"), topology, audit.key_files(run_dir)[1], say=say
            )
            initial = schedule.radius_km(40 / 60)
            figures = summary.build(
                monitor.snapshot(),
                marks,
                stats,
                initial,
                desk.stats,
                health.figures(hospital, anomalies),
                audited,
                channels=summary.channels(monitor.snapshot(), agencies, received),
            )
            print(summary.render(figures), flush=True)
            (run_dir / "summary.json").write_text(json.dumps(figures, indent=2))
            say(f"logs and summary.json in {run_dir}")
            return 0
        except KeyboardInterrupt:
            say("interrupted: stopping every service")
            return 130
        except Exception as exc:
            say(f"failed: {type(exc).__name__}: {exc}")
            return 1


if __name__ == "__main__":
    sys.exit(main())
