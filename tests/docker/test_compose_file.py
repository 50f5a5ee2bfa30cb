"""The docker/ deployment, checked against the real code (no Docker engine needed).

Nothing here builds or runs an image. Instead every claim the files make is
checked against what the code accepts: each service's command is parsed by the
real ``edgedrift`` argparse parser, each ``EDGEDRIFT_<SECTION>_<FIELD>`` variable
is a field of that section's config dataclass and the configs build with the
compose environment plus docker/edgedrift.toml, published ports and health
checks point at the port the command listens on, the Parquet dataset / results
database / outbox / key registry resolve to the same named volume for their
writers and readers, Kafka runs in KRaft mode, and the Dockerfile is a slim,
non-root, multi-stage build whose ``pip wheel`` really packages every module.
``docker compose config`` runs too when the installed client can do it offline.

This module: the compose file.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from docker_files import (
    DOCKER,
    GLOBAL_ENV,
    LONG_RUNNING,
    ROOT,
    TEST_SECRET,
    TOML_FILE,
    MissingVariable,
    command,
    config_classes,
    container_ports,
    data_dir,
    edgedrift_services,
    environment,
    healthcheck_text,
    listen_address,
    load_compose,
    locate,
    mounts,
    parse,
    services,
)

from edgedrift.cli import COMMANDS
from edgedrift.config import build_config, section


# -- tests: the compose file ------------------------------------------------------------------
def test_compose_has_every_component(compose):
    names = set(services(compose))
    assert LONG_RUNNING | {"kafka-init", "cli"} <= names, sorted(names)
    assert not [n for n in names if "zookeeper" in n.lower()]


def test_webhook_secret_is_required_not_defaulted():
    with pytest.raises(MissingVariable, match="EDGEDRIFT_WEBHOOK_SECRET"):
        load_compose(env={})


def test_every_service_command_is_a_real_edgedrift_command(compose):
    checked = []
    for name, svc in edgedrift_services(compose).items():
        argv = command(svc)
        assert argv and argv[0] in COMMANDS, f"service {name}: {argv[:1]} is not one of " \
                                            f"{sorted(COMMANDS)}"
        args = parse(name, argv)
        missing = getattr(args, "_import_error", None)
        assert missing is None, f"service {name}: `edgedrift {argv[0]}` cannot import its " \
                                f"module {COMMANDS[argv[0]][0]}: {missing}"
        assert callable(getattr(args, "_run", None)), f"service {name}: {argv} names no runnable " \
                                                      "command (a group without its action?)"
        checked.append(argv[0])
    assert {"gateway", "sink", "analyze", "dashboard", "webhook"} <= set(checked)


def test_analyze_is_a_schedule_that_raises_and_delivers_alerts(compose, monkeypatch):
    from analytics.analyze_cli import alerts_config

    svcs = services(compose)
    analyze = parse("analyze", command(svcs["analyze"]))
    assert analyze.every and analyze.every > 0, "the analytics service must run --every N"
    env = environment(svcs["analyze"])
    analyze.config = str(TOML_FILE)     # EDGEDRIFT_CONFIG is the mounted copy of this file
    monkeypatch.setenv("EDGEDRIFT_WEBHOOK_SECRET", env["EDGEDRIFT_WEBHOOK_SECRET"])
    config = alerts_config(analyze)
    assert config is not None and config.endpoints, "analyze would raise no alerts"
    webhook = parse("webhook", command(svcs["webhook"]))
    assert webhook.webhook_command == "listen"


def test_environment_variables_are_real_config_fields(compose):
    classes = config_classes()
    for name, svc in edgedrift_services(compose).items():
        for key in environment(svc):
            if not key.startswith("EDGEDRIFT_") or key in GLOBAL_ENV:
                continue
            sec = next((s for s in classes if key.startswith(f"EDGEDRIFT_{s.upper()}_")), None)
            assert sec is not None, f"service {name}: {key} names no config section " \
                                    f"(sections: {', '.join(classes)})"
            field = key[len(f"EDGEDRIFT_{sec}_"):].lower()
            fields = {f.name for f in dataclasses.fields(classes[sec])}
            assert field in fields, f"service {name}: {key}: {classes[sec].__name__} has no " \
                                    f"field {field!r} (fields: {', '.join(sorted(fields))})"


def test_global_environment_variables_are_read_by_the_code():
    for key, path in GLOBAL_ENV.items():
        assert f'"{key}"' in (ROOT / path).read_text(), f"{key} is not read in {path}"


def test_configs_build_from_compose_environment_and_toml(compose, toml, monkeypatch):
    """What each service will build at start-up, built here with its environment."""
    from analytics.alerts.config import alerts_config_from_toml

    classes = config_classes()
    for name, svc in edgedrift_services(compose).items():
        with monkeypatch.context() as mp:
            for key in list(os.environ):
                if key.startswith("EDGEDRIFT_"):
                    mp.delenv(key)
            for key, value in environment(svc).items():
                mp.setenv(key, value)
            for sec, cls in classes.items():
                if sec == "alerts":
                    continue
                try:
                    build_config(cls, section(toml, sec), section=sec)
                except ValueError as exc:
                    pytest.fail(f"service {name}: [{sec}] does not build: {exc}")
            try:
                alerts_config_from_toml(section(toml, "alerts"))
            except ValueError as exc:
                pytest.fail(f"service {name}: [alerts] does not build: {exc}")


def test_published_ports_and_health_checks_match_what_commands_listen_on(compose):
    svcs = services(compose)
    for name in ("gateway", "dashboard", "webhook"):
        svc = svcs[name]
        host, port = listen_address(name, svc)
        assert host == "0.0.0.0", f"service {name} listens on {host}: unreachable from outside " \
                                  "its container"
        published = container_ports(svc)
        assert published, f"service {name} publishes no port"
        for _, target in published:
            assert target == port, f"service {name} publishes container port {target} but " \
                                   f"listens on {port}"
        hc = healthcheck_text(svc)
        urls = re.findall(r"https?://(?:127\.0\.0\.1|localhost):(\d+)", hc)
        assert urls and all(int(u) == port for u in urls), \
            f"service {name}: health check {hc!r} does not probe port {port}"
    assert "/readyz" in healthcheck_text(svcs["gateway"])
    assert "/_stcore/health" in healthcheck_text(svcs["dashboard"])
    assert "/healthz" in healthcheck_text(svcs["webhook"])


def test_routes_probed_by_health_checks_exist():
    from collector.gateway import create_app  # noqa: F401  (module imports cleanly)
    gateway_src = (ROOT / "collector" / "gateway.py").read_text()
    assert 'Route("/readyz"' in gateway_src and 'Route("/healthz"' in gateway_src
    assert "/healthz" in (ROOT / "analytics" / "alerts" / "receiver.py").read_text()


def test_named_volumes_are_declared_and_binds_exist(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in services(compose).items():
        for m in mounts(svc):
            if m.source.startswith("bind:"):
                path = (DOCKER / m.source[5:]).resolve()
                assert path.exists(), f"service {name}: bind source {m.source[5:]} is missing"
            else:
                assert m.source in declared, f"service {name}: volume {m.source!r} is not " \
                                             f"declared (declared: {sorted(declared)})"
                used.add(m.source)
    assert used == declared, f"declared but unused volumes: {sorted(declared - used)}"
    for name, svc in edgedrift_services(compose).items():
        env = environment(svc)
        if env.get("EDGEDRIFT_CONFIG"):
            vol, _, _ = locate(svc, env["EDGEDRIFT_CONFIG"])
            assert vol == f"bind:./{TOML_FILE.name}", f"service {name}: EDGEDRIFT_CONFIG " \
                                                      f"{env['EDGEDRIFT_CONFIG']} is not mounted"


def _dataset_path(name: str, svc: dict[str, Any], toml: dict[str, Any]) -> str:
    argv = command(svc)
    args = parse(name, argv)
    env = environment(svc)
    base = data_dir(svc, args)
    if argv[0] == "sink":
        return (getattr(args, "dataset", None) or env.get("EDGEDRIFT_SINK_DATASET")
                or section(toml, "sink").get("dataset") or f"{base}/telemetry")
    if argv[0] == "analyze":
        return (env.get("EDGEDRIFT_ANALYTICS_DATASET") or section(toml, "analytics").get("dataset")
                or f"{base}/telemetry")
    return f"{base}/telemetry"


def test_dataset_and_results_paths_line_up_between_writers_and_readers(compose, toml):
    svcs = services(compose)
    # Parquet dataset: written by the sinks, read by analyze and the dashboard.
    sink = locate(svcs["sink"], _dataset_path("sink", svcs["sink"], toml))
    assert not sink[0].startswith(("<", "bind:")), f"sink writes the dataset to {sink}, not a " \
                                                   "named volume"
    assert not sink[2], "sink's dataset volume is read-only"
    for reader in ("analyze", "dashboard"):
        got = locate(svcs[reader], _dataset_path(reader, svcs[reader], toml))
        assert got[:2] == sink[:2], f"{reader} reads the dataset at {got[:2]}, the sink " \
                                    f"writes it at {sink[:2]}"
    # Results database: written by analyze, read by the dashboard.
    def db(name: str) -> tuple[str, str, bool]:
        svc = svcs[name]
        return locate(svc, data_dir(svc, parse(name, command(svc))) + "/analytics.duckdb")
    writer = db("analyze")
    assert not writer[0].startswith("<") and not writer[2], writer
    assert db("dashboard")[:2] == writer[:2]
    # Alert outbox: analyze (alerts + deliverer), the dashboard (redeliver) and the cli.
    def outbox(name: str) -> tuple[str, str, bool]:
        svc = svcs[name]
        return locate(svc, data_dir(svc, parse(name, command(svc))) + "/alerts.sqlite")
    ref = outbox("analyze")
    assert not ref[0].startswith("<") and not ref[2], ref
    for name in ("dashboard", "cli"):
        assert outbox(name) == ref, f"{name} sees the outbox at {outbox(name)}, analyze at {ref}"
    # Key registry: written by `cli keys add`, read by the gateway.
    def keys(name: str) -> tuple[str, str, bool]:
        svc = svcs[name]
        path = (environment(svc).get("EDGEDRIFT_GATEWAY_KEYS_PATH")
                or section(toml, "gateway").get("keys_path")
                or data_dir(svc, parse(name, command(svc))) + "/keys.json")
        return locate(svc, path)
    assert keys("cli")[:2] == keys("gateway")[:2] and not keys("cli")[2]
    assert not keys("gateway")[0].startswith("<")
    # The receiver keeps its events (and its dedupe memory) on a volume.
    listen = parse("webhook", command(svcs["webhook"]))
    assert not locate(svcs["webhook"], listen.out)[0].startswith("<")


def test_keys_path_env_is_not_relied_on(compose):
    """`edgedrift keys` reads keys_path from the TOML only, so the path must live there."""
    for name, svc in edgedrift_services(compose).items():
        assert "EDGEDRIFT_GATEWAY_KEYS_PATH" not in environment(svc), name


def test_kafka_runs_in_kraft_mode_without_zookeeper(compose):
    kafka = services(compose)["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:")
    env = environment(kafka)
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert any(v.startswith(f"{node}@") for v in voters), voters
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://" in env["KAFKA_LISTENERS"]
    cluster = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster + "==")) == 16, "CLUSTER_ID: a base64 UUID"
    text = json.dumps(compose).lower()   # keys and values, not the comments
    assert "zookeeper" not in text
    hc = healthcheck_text(kafka)
    assert re.search(r"kafka-(broker-api-versions|topics)\.sh", hc), hc
    port = re.search(r"--bootstrap-server \S+:(\d+)", hc).group(1)
    assert f":{port}" in env["KAFKA_LISTENERS"]


def test_edgedrift_services_use_an_advertised_kafka_listener(compose):
    svcs = services(compose)
    advertised = {u.split("://", 1)[1] for u in
                  environment(svcs["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    kafka_host = svcs["kafka"].get("hostname", "kafka")
    seen = []
    for name, svc in edgedrift_services(compose).items():
        env = environment(svc)
        args = parse(name, command(svc))
        for value in (env.get("EDGEDRIFT_KAFKA_BOOTSTRAP"), env.get("EDGEDRIFT_GATEWAY_KAFKA"),
                      getattr(args, "kafka", None)):
            if value:
                for addr in value.split(","):
                    assert addr in advertised, f"{name}: {addr} is not an advertised listener"
                    assert addr.split(":")[0] == kafka_host, f"{name}: {addr}"
                seen.append(name)
    assert {"gateway", "sink"} <= set(seen)


def test_topics_created_match_the_kafka_config(compose):
    from collector.sink_config import KafkaConfig

    svcs = services(compose)
    env = environment(svcs["sink"])
    defaults = KafkaConfig()
    topic = env.get("EDGEDRIFT_KAFKA_TOPIC", defaults.topic)
    dlq = env.get("EDGEDRIFT_KAFKA_DLQ_TOPIC", defaults.dlq_topic)
    partitions = int(env.get("EDGEDRIFT_KAFKA_PARTITIONS", defaults.partitions))
    script = " ".join(command(svcs["kafka-init"]))
    creates = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"--create[^&]*?--topic (\S+) --partitions (\d+)", script)}
    assert creates.get(topic) == partitions, creates
    assert dlq in creates, creates
    assert environment(svcs["gateway"]).get("EDGEDRIFT_KAFKA_TOPIC", defaults.topic) == topic
    assert environment(svcs["kafka"]).get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"


def test_long_running_services_have_health_checks_and_dependencies_wait_for_them(compose):
    svcs = services(compose)
    for name in LONG_RUNNING:
        hc = svcs[name].get("healthcheck") or {}
        assert hc.get("test") and not hc.get("disable"), f"service {name} has no health check"
        assert svcs[name].get("restart") in ("unless-stopped", "always", "on-failure")
    for name, svc in svcs.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"service {name}: depends_on needs conditions"
        for dep, how in deps.items():
            cond = how.get("condition")
            assert cond in ("service_healthy", "service_completed_successfully"), (name, dep)
            if cond == "service_healthy":
                assert (svcs[dep].get("healthcheck") or {}).get("test"), (name, dep)
            else:
                assert svcs[dep].get("restart") == "no", (name, dep)


def test_analyze_health_check_allows_for_its_schedule(compose):
    svc = services(compose)["analyze"]
    every = parse("analyze", command(svc)).every
    limit = re.search(r"> (\d+)\)", healthcheck_text(svc))
    assert limit and float(limit.group(1)) >= 2 * every, healthcheck_text(svc)
    db = data_dir(svc, parse("analyze", command(svc))) + "/analytics.duckdb"
    assert db in healthcheck_text(svc)


def test_sink_is_scalable(compose):
    svcs = services(compose)
    sink = svcs["sink"]
    assert "container_name" not in sink
    assert all(host is None for host, _ in container_ports(sink)), "a fixed host port " \
                                                                  "prevents scaling"
    replicas = int(sink["deploy"]["replicas"])
    partitions = int(environment(sink).get("EDGEDRIFT_KAFKA_PARTITIONS", 6))
    assert 1 <= replicas <= partitions
    group = environment(sink).get("EDGEDRIFT_KAFKA_GROUP_ID")
    assert group and "{" not in group, "all replicas must share one consumer group"


def test_alert_endpoint_reaches_the_example_receiver(compose, toml, monkeypatch):
    from analytics.alerts.config import alerts_config_from_toml

    svcs = services(compose)
    monkeypatch.setenv("EDGEDRIFT_WEBHOOK_SECRET", TEST_SECRET)
    config = alerts_config_from_toml(section(toml, "alerts"))
    _, port = listen_address("webhook", svcs["webhook"])
    url = urlsplit(config.endpoints[0].url)
    assert url.hostname == "webhook" and url.port == port
    assert config.allow_private_networks, "compose networks are private addresses"
    refs = [s[4:] for ep in section(toml, "alerts").get("endpoints", [])
            for s in ep.get("secrets", []) if s.startswith("env:")]
    assert refs, "the example endpoint's secret should come from the environment"
    for svc in ("webhook", "analyze", "dashboard", "cli"):
        env = environment(svcs[svc])
        for ref in refs:
            assert env.get(ref) == TEST_SECRET, f"service {svc} lacks {ref}"


