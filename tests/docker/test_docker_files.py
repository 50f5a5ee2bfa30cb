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
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import io
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support import free_port

from edgedrift.cli import COMMANDS, build_parser
from edgedrift.config import build_config, section  # noqa: E402
from edgedrift.paths import DEFAULT_DATA_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
TOML_FILE = DOCKER / "edgedrift.toml"
PACKAGES = ("edge_sdk", "collector", "analytics", "dashboard", "edgedrift")
BUILD_DIRS = ("build_backend", "sdk")     # edgedrift's build backend; edgedrift-sdk's project

TEST_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
COMPOSE_ENV = {"EDGEDRIFT_WEBHOOK_SECRET": TEST_SECRET}

# Environment variables the code reads that are not EDGEDRIFT_<SECTION>_<FIELD>
# settings, with the file that reads each (checked below, so the list cannot go stale).
GLOBAL_ENV = {
    "EDGEDRIFT_CONFIG": "edgedrift/cli.py",
    "EDGEDRIFT_DATA_DIR": "edgedrift/cli.py",
    "EDGEDRIFT_LOG_LEVEL": "edgedrift/cli.py",
    "EDGEDRIFT_WEBHOOK_SECRET": "analytics/webhook_cli.py",
}
# Long-running services every deployment has; the one-shot jobs are kafka-init and cli.
LONG_RUNNING = {"kafka", "gateway", "sink", "compact", "analyze", "dashboard", "webhook"}


# -- reading the files ----------------------------------------------------------------------
_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
                  r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` variable is unset."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$`` on every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op") or "", m.group("arg") or ""
        have = env.get(name)
        unset = have is None or (op.startswith(":") and have == "")
        if op.endswith("-"):
            return arg if unset else have
        if op.endswith("?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return have
        return "" if have is None else have

    return _VAR.sub(one, value)


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(raw, COMPOSE_ENV if env is None else env)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def toml() -> dict[str, Any]:
    return tomllib.loads(TOML_FILE.read_text())


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def is_edgedrift(svc: dict[str, Any]) -> bool:
    """Runs the edgedrift image (whose ENTRYPOINT is ``edgedrift``)."""
    return "build" in svc or str(svc.get("image", "")).startswith("edgedrift")


def edgedrift_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services(compose).items() if is_edgedrift(s)}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def parse(svc_name: str, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with the real parser, failing the test with argparse's message."""
    parser = build_parser(argv)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return parser.parse_args(argv)
        except SystemExit:
            pass
    pytest.fail(f"service {svc_name}: `edgedrift {' '.join(argv)}` is refused by the CLI: "
                f"{err.getvalue().strip()}")


def parse_dockerfile() -> list[dict[str, Any]]:
    """Stages of the Dockerfile: base, name, and instructions (continuations joined)."""
    text = DOCKERFILE.read_text()
    lines, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        lines.append(buf + line)
        buf = ""
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif instr == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            base = interpolate(parts[0], args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            stages.append({"base": base, "name": name, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instr, rest.strip()))
    return stages


def dockerfile_env(stage: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instr, rest in stage["instructions"]:
        if instr == "ENV":
            for token in shlex.split(rest):
                if "=" in token:
                    k, _, v = token.partition("=")
                    env[k] = v
    return env


# -- what a service listens on and where its files are ----------------------------------------
@dataclasses.dataclass(frozen=True)
class Mount:
    target: str
    source: str          # volume name, or "bind:<path>"
    read_only: bool


def mounts(svc: dict[str, Any]) -> list[Mount]:
    out = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, str):
            parts = vol.split(":")
            source, target = parts[0], parts[1]
            ro = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            source, target = vol.get("source", ""), vol["target"]
            ro = bool(vol.get("read_only"))
            kind = vol.get("type", "volume")
        out.append(Mount(target.rstrip("/") or "/", f"bind:{source}" if kind == "bind" else source,
                         ro))
    return out


def locate(svc: dict[str, Any], path: str) -> tuple[str, str, bool]:
    """(volume, path inside it, read-only) of a container path: the longest mount prefix."""
    path = posixpath.normpath(path)
    best = None
    for m in mounts(svc):
        if path == m.target or path.startswith(m.target + "/"):
            if best is None or len(m.target) > len(best.target):
                best = m
    if best is None:
        return ("<container filesystem>", path, False)
    return (best.source, posixpath.relpath(path, best.target), best.read_only)


def runtime_env() -> dict[str, str]:
    return dockerfile_env(parse_dockerfile()[-1])


def data_dir(svc: dict[str, Any], args: argparse.Namespace) -> str:
    if "--data-dir" in command(svc):
        return args.data_dir
    return environment(svc).get("EDGEDRIFT_DATA_DIR") or runtime_env().get(
        "EDGEDRIFT_DATA_DIR") or DEFAULT_DATA_DIR


def config_classes() -> dict[str, type]:
    """Section name -> config dataclass, for every section read with build_config."""
    from analytics.alerts.config import _FlatAlerts
    from analytics.config import AnalyticsConfig
    from collector.compaction import CompactionConfig
    from collector.gateway_config import GatewayConfig
    from collector.sink_config import KafkaConfig, SinkConfig
    from collector.storage import StorageConfig
    from dashboard.config import DashboardConfig
    return {"gateway": GatewayConfig, "kafka": KafkaConfig, "sink": SinkConfig,
            "compact": CompactionConfig, "storage": StorageConfig,
            "analytics": AnalyticsConfig, "alerts": _FlatAlerts, "dashboard": DashboardConfig}


LISTEN_SECTION = {"gateway": "gateway", "dashboard": "dashboard"}


def listen_address(name: str, svc: dict[str, Any]) -> tuple[str, int]:
    """(host, port) the service's command listens on, as the code resolves it."""
    argv = command(svc)
    args = parse(name, argv)
    host, port = getattr(args, "host", None), getattr(args, "port", None)
    sec = LISTEN_SECTION.get(argv[0])
    if sec is not None:
        cls = config_classes()[sec]
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        env = environment(svc)
        host = host or env.get(f"EDGEDRIFT_{sec.upper()}_HOST") or defaults["host"]
        port = port or int(env.get(f"EDGEDRIFT_{sec.upper()}_PORT") or defaults["port"])
    assert host is not None and port is not None, f"service {name}: no listen address found"
    return str(host), int(port)


def container_ports(svc: dict[str, Any]) -> list[tuple[str | None, int]]:
    """(published host port or None, container port) of every ``ports`` entry."""
    out = []
    for p in svc.get("ports", []):
        if isinstance(p, dict):
            out.append((str(p["published"]) if p.get("published") else None, int(p["target"])))
            continue
        parts = str(p).split("/")[0].split(":")
        out.append((parts[-2] if len(parts) >= 2 else None, int(parts[-1])))
    return out


def healthcheck_text(svc: dict[str, Any]) -> str:
    test = (svc.get("healthcheck") or {}).get("test", "")
    return " ".join(test) if isinstance(test, list) else str(test)


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


# -- tests: the Dockerfile --------------------------------------------------------------------
def test_dockerfile_is_multi_stage_slim_and_non_root():
    stages = parse_dockerfile()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder["name"] == "builder"
    assert any(i == "RUN" and "pip wheel" in r for i, r in builder["instructions"])
    assert runtime["base"] == "python:3.11-slim"
    instrs = runtime["instructions"]
    installs = [r for i, r in instrs if i == "RUN" and "pip install" in r]
    assert installs and all("--no-index" in r and "edgedrift[server]" in r for r in installs)
    assert any("from=builder" in r for r in installs), "wheels come from the builder stage"
    run_text = " ".join(r for i, r in instrs if i == "RUN")
    for tool in ("build-essential", "gcc", "g++", "make ", "git "):
        assert tool not in run_text, f"{tool.strip()} in the runtime stage"
    # the builder compiles the sink's C accelerator into the wheel (its build is optional:
    # without a compiler the image would silently get the slow path)
    builder_runs = " ".join(r for i, r in builder["instructions"] if i == "RUN")
    assert "gcc" in builder_runs and "libc6-dev" in builder_runs
    users = [r for i, r in instrs if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [r for i, r in instrs if i == "ENTRYPOINT"] == ['["edgedrift"]']
    health = [r for i, r in instrs if i == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert not [i for i, _ in instrs if i == "VOLUME"], "VOLUME leaves anonymous volumes"
    assert dockerfile_env(runtime).get("EDGEDRIFT_DATA_DIR") == "/data"


def test_dockerfile_copies_only_what_the_wheel_needs_and_the_context_keeps_it():
    stages = parse_dockerfile()
    copied = []
    for instr, rest in stages[0]["instructions"]:
        if instr == "COPY" and "--from" not in rest:
            copied += rest.split()[:-1]
    names = {c.rstrip("/") for c in copied}
    assert names == {"pyproject.toml", "setup.py", "README.md", *BUILD_DIRS, *PACKAGES}, names
    for name in names:
        assert (ROOT / name).exists(), name
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for name in names:
        assert f"!{name}" in ignore or f"!{name}/" in ignore, f"{name} is excluded from the context"


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for pkg in (*BUILD_DIRS, *PACKAGES):
        shutil.copytree(ROOT / pkg, dest / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return dest


def test_packaging_config_ships_every_module(tmp_path):
    """The packages setup.py's ``find_packages`` selects (the server's four; sdk/ ships
    edge_sdk) cover every module (no folder left out)."""
    import setuptools

    src = _copy_sources(tmp_path / "src")
    assert tomllib.loads((src / "sdk" / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"] == ["edge_sdk"]
    found = set(setuptools.find_packages(where=str(src), include=[
        f"{p}{tail}" for p in PACKAGES if p != "edge_sdk" for tail in ("", ".*")]))
    found |= {"edge_sdk"}
    missing = sorted({str(p.parent.relative_to(src)).replace("/", ".") for pkg in PACKAGES
                      for p in (src / pkg).rglob("*.py")} - found)
    assert not missing, f"packages left out of the wheel (no __init__.py?): {missing}"


def test_builder_wheel_packages_every_module(tmp_path):
    """The builder's ``pip wheel`` on the real sources (offline, no deps): every module ships."""
    src = _copy_sources(tmp_path / "src")
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(out), str(src / "sdk"), str(src)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sdk_whl,) = out.glob("edgedrift_sdk-*.whl")
    (whl,) = out.glob("edgedrift-*.whl")
    archive = zipfile.ZipFile(whl)
    names = set(archive.namelist()) | set(zipfile.ZipFile(sdk_whl).namelist())
    missing = sorted(str(p.relative_to(src)) for pkg in PACKAGES
                     for p in (src / pkg).rglob("*.py") if str(p.relative_to(src)) not in names)
    assert not missing, f"not in the wheel (a folder without __init__.py?): {missing}"
    meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))  # server's
    assert "Provides-Extra: server" in archive.read(meta).decode()
    entry = archive.read(meta.replace("METADATA", "entry_points.txt")).decode()
    assert "edgedrift = edgedrift.cli:main" in entry


# -- tests: the documentation's commands --------------------------------------------------------
def _shell_lines(path: Path) -> list[str]:
    """Lines of the shell code blocks (```bash, ```sh, ```console or bare ```), comments cut."""
    lines, lang, buf = [], None, ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            lang = None if lang is not None else (stripped[3:].strip() or "bash")
            continue
        if lang not in ("bash", "sh", "console"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        line = (buf + stripped).split(" #", 1)[0].strip()
        buf = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _doc_commands(path: Path) -> list[list[str]]:
    """``edgedrift ...`` argument lists in the shell blocks (also ``compose run ... cli ...``)."""
    out = []
    for line in _shell_lines(path):
        words = shlex.split(line)
        if "run" in words and "cli" in words[words.index("run"):]:
            out.append(words[words.index("cli", words.index("run")) + 1:])
        elif words[0] == "edgedrift" and len(words) > 1:
            out.append(words[1:])
    return out


@pytest.mark.parametrize("doc", ["docker/README.md", "docs/operations.md"])
def test_commands_in_the_docs_are_accepted_by_the_cli(doc):
    path = ROOT / doc
    commands = _doc_commands(path)
    assert commands, f"{doc} shows no edgedrift command"
    for argv in commands:
        if argv and argv[0] in ("--help", "--version"):
            continue
        parse(doc, argv)


def test_readme_names_real_services(compose):
    names = set(services(compose))
    seen = 0
    for line in _shell_lines(DOCKER / "README.md"):
        words = shlex.split(line)
        if words[:2] != ["docker", "compose"]:
            continue
        for scaled in re.findall(r"--scale (\S+)=\d+", line):
            assert scaled in names, line
            seen += 1
        verb = next((w for w in words[2:] if not w.startswith("-")), "")
        if verb in ("logs", "exec", "restart", "stop", "cp"):
            rest = [w for w in words[words.index(verb) + 1:] if not w.startswith("-")]
            targets = rest[:1] if verb in ("exec", "cp") else rest
            for target in targets:
                assert target.split(":")[0] in names, line
                seen += 1
    assert seen


# -- optional: the docker client validates the file offline ---------------------------------------
def test_docker_compose_config_when_the_client_can_run_offline():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True,
                           timeout=20)
    if probe.returncode != 0:
        pytest.skip(f"docker compose plugin unavailable: {probe.stderr.strip()[:200]}")
    env = {**os.environ, **COMPOSE_ENV}
    proc = subprocess.run([docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
                          capture_output=True, text=True, timeout=30, env=env)
    if proc.returncode != 0 and re.search(r"daemon|docker\.sock|connect", proc.stderr, re.I):
        pytest.skip(f"docker compose config needs an engine here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr


# -- the health checks' programs against the real services ---------------------------------------


def _check_code(svc: dict[str, Any], listen_port: int, port: int) -> str:
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3].replace(f":{listen_port}/", f":{port}/")


def _run_check(code: str) -> int:
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          timeout=15).returncode


def _healthy_then_unhealthy(name: str, argv: list[str], env: dict[str, str], code: str) -> None:
    """Start the service's real command; its health check must pass, then fail once it stops."""
    import time
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    full_env.update(env)
    proc = subprocess.Popen([sys.executable, "-m", "edgedrift", *argv], env=full_env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 25
        while _run_check(code) != 0:
            assert proc.poll() is None, f"{name} exited: {proc.stderr.read().decode()[-1500:]}"
            assert time.monotonic() < deadline, f"{name}: health check never passed"
            time.sleep(0.3)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert _run_check(code) != 0, f"{name}: health check passes with the service stopped"


def _with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def test_webhook_health_check_tracks_the_real_receiver(compose, tmp_path):
    svc = services(compose)["webhook"]
    _, listen_port = listen_address("webhook", svc)
    port = free_port()
    argv = _with_flag(_with_flag(_with_flag(command(svc), "--host", "127.0.0.1"),
                                 "--port", str(port)), "--out", str(tmp_path / "events.jsonl"))
    env = {"EDGEDRIFT_WEBHOOK_SECRET": environment(svc)["EDGEDRIFT_WEBHOOK_SECRET"]}
    _healthy_then_unhealthy("webhook", argv, env, _check_code(svc, listen_port, port))


@pytest.mark.kafka
def test_gateway_health_check_tracks_the_real_gateway(compose, tmp_path, kafka_bootstrap):
    """The compose gateway's environment, on loopback and the test broker: /readyz answers."""
    svc = services(compose)["gateway"]
    _, listen_port = listen_address("gateway", svc)
    port = free_port()
    env = {k: v for k, v in environment(svc).items() if k not in ("EDGEDRIFT_CONFIG",)}
    env.update({"EDGEDRIFT_DATA_DIR": str(tmp_path), "EDGEDRIFT_GATEWAY_HOST": "127.0.0.1",
                "EDGEDRIFT_GATEWAY_PORT": str(port), "EDGEDRIFT_GATEWAY_KAFKA": kafka_bootstrap,
                "EDGEDRIFT_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "EDGEDRIFT_GATEWAY_KEYS_PATH": str(tmp_path / "keys.json")})
    _healthy_then_unhealthy("gateway", command(svc), env, _check_code(svc, listen_port, port))


def test_dashboard_health_check_tracks_the_real_dashboard(compose, tmp_path):
    svc = services(compose)["dashboard"]
    _, listen_port = listen_address("dashboard", svc)
    port = free_port()
    argv = _with_flag(_with_flag(command(svc), "--host", "127.0.0.1"), "--port", str(port))
    env = {k: v for k, v in environment(svc).items() if k != "EDGEDRIFT_CONFIG"}
    env["EDGEDRIFT_DATA_DIR"] = str(tmp_path)
    env["HOME"] = str(tmp_path)           # Streamlit keeps its state under ~/.streamlit
    _healthy_then_unhealthy("dashboard", argv, env, _check_code(svc, listen_port, port))
