"""The docs' docker commands, the README's service names, ``docker compose config`` and the
health checks against the real services.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docker_files import (
    COMPOSE_ENV,
    COMPOSE_FILE,
    DOCKER,
    ROOT,
    command,
    environment,
    listen_address,
    parse,
    services,
)
from support import free_port


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

