"""docker-compose.yml: the whole system on one machine, consistent with the code,
the agreed ports and the Prometheus and Grafana files it mounts."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.unit.deploy.support import (
    AGREED_PORTS,
    GRAFANA_DASHBOARDS,
    GRAFANA_PROVISIONING,
    PORT_ENV,
    PROMETHEUS_CONFIG,
    PROMETHEUS_RULES,
    ROLES,
    ROOT,
    TOPOLOGY_COMMAND,
    compose,
    compose_binds,
    compose_env,
    compose_homeward_services,
    load_yaml,
    module_exists,
    module_of,
    project_version,
    repo_path_in_image,
    unknown,
)


def test_compose_runs_every_service_role_by_its_module() -> None:
    services = compose_homeward_services()
    assert set(ROLES) <= services.keys(), sorted(set(ROLES) - services.keys())
    for role in ROLES:
        assert module_of(services[role]["command"]) == f"homeward_{role}"
    for name, service in services.items():
        module = module_of(service["command"])
        assert module_exists(module), f"{name}: no package {module} under services/"


def test_compose_applies_the_topology_once_before_the_services() -> None:
    services = compose()["services"]
    topology = services["topology"]
    assert topology["command"] == TOPOLOGY_COMMAND
    assert topology["restart"] == "no"  # the string: a bare `no` is YAML for false
    assert topology["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for role in ROLES:
        assert services[role]["depends_on"]["topology"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[role]["restart"] == "unless-stopped"


def test_compose_depends_only_on_services_it_has() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= services.keys() - {name}, name


def test_compose_kafka_is_a_single_kraft_node_of_the_official_image() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.2"
    env = compose_env(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert set(env["KAFKA_LISTENERS"].split(",")) == {"PLAINTEXT://:9092", "CONTROLLER://:9093"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    test = kafka["healthcheck"]["test"]
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in test
    assert "localhost:9092" in test


def test_compose_homeward_services_reach_the_advertised_broker() -> None:
    advertised = compose_env(compose()["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    address = advertised.split("://", 1)[1]
    for name, service in compose_homeward_services().items():
        assert compose_env(service).get("KAFKA_BOOTSTRAP_SERVERS") == address, name


def test_compose_sets_only_variables_the_code_reads() -> None:
    for name, service in compose_homeward_services().items():
        assert unknown(set(compose_env(service))) == [], name


def test_compose_image_is_this_version() -> None:
    for name, service in compose_homeward_services().items():
        assert service["image"] == f"homeward:{project_version()}", name


def test_compose_services_serve_on_the_agreed_ports_and_are_health_checked() -> None:
    services = compose()["services"]
    for role in ROLES:
        env = compose_env(services[role])
        port = AGREED_PORTS[role]
        assert env[PORT_ENV[role]] == str(port), role
        check = " ".join(services[role]["healthcheck"]["test"])
        # /healthz is liveness; the slim image has no curl.
        assert f"http://127.0.0.1:{port}/healthz" in check, role
        assert "urllib" in check


def test_compose_publishes_intake_and_the_gateway_and_nothing_else_of_homeward() -> None:
    services = compose()["services"]
    intake = services["intake"]
    assert compose_env(intake)["HOMEWARD_INTAKE_HOST"] == "0.0.0.0"
    assert [str(p) for p in intake["ports"]] == [f"{AGREED_PORTS['intake']}:8080"]
    gateway = services["gateway"]
    assert compose_env(gateway)["HOMEWARD_GATEWAY_HOST"] == "0.0.0.0"
    assert [str(p) for p in gateway["ports"]] == [f"{AGREED_PORTS['gateway']}:8090"]
    for name, service in compose_homeward_services().items():
        if name not in ("intake", "gateway"):
            assert "ports" not in service, f"{name} publishes a port"
    assert "ports" not in services["kafka"]


def test_compose_monitoring_is_reachable_from_this_machine_only() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_directories_are_in_the_image() -> None:
    services = compose()["services"]
    for role, var in (
        ("fanout", "HOMEWARD_FANOUT_DIRECTORY"),
        ("referrals", "HOMEWARD_REFERRALS_DIRECTORY"),
    ):
        path = compose_env(services[role])[var]
        repo_path = repo_path_in_image(path)
        assert repo_path is not None and repo_path.is_file(), (role, path)


# --------------------------------------------------------------------------- Prometheus


def test_compose_prometheus_mounts_the_agreed_config_and_rules() -> None:
    prometheus = compose()["services"]["prometheus"]
    binds = compose_binds(prometheus)
    config = "/etc/prometheus/prometheus.yml"
    assert (ROOT / binds[config]).resolve() == PROMETHEUS_CONFIG
    assert f"--config.file={config}" in prometheus["command"]
    # rule_files are relative to the configuration file's directory.
    for pattern in load_yaml(PROMETHEUS_CONFIG).get("rule_files", []):
        directory = pattern.rsplit("/", 1)[0]
        assert (ROOT / binds[f"/etc/prometheus/{directory}"]).resolve() == PROMETHEUS_RULES


def test_prometheus_scrapes_every_service_at_its_compose_name_and_agreed_port() -> None:
    targets = {
        target
        for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    services = compose()["services"]
    for role in ROLES:
        assert f"{role}:{AGREED_PORTS[role]}" in targets, role
        assert role in services


# --------------------------------------------------------------------------- Grafana


def test_compose_grafana_mounts_the_agreed_provisioning_and_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    binds = compose_binds(grafana)
    assert (ROOT / binds["/etc/grafana/provisioning"]).resolve() == GRAFANA_PROVISIONING
    providers = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "homeward.yml")["providers"]
    for provider in providers:
        target = provider["options"]["path"]
        assert (ROOT / binds[target]).resolve() == GRAFANA_DASHBOARDS, target


def test_grafana_datasource_points_at_the_compose_prometheus() -> None:
    services = compose()["services"]
    datasources = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    urls = [d["url"] for d in datasources["datasources"] if d["type"] == "prometheus"]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in services, url
        assert services[parts.hostname]["image"].startswith("prom/prometheus:"), url
        assert parts.port == 9090, url  # Prometheus's own port, inside the compose network
