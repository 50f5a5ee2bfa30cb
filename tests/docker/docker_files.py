"""Reading docker/ (compose, Dockerfile, TOML) the way the tests of this folder check it:
interpolation as compose does it, services, mounts, listen addresses, health checks."""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import io
import posixpath
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgedrift.cli import build_parser
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


