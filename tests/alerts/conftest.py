"""Fixtures for the alerts tests: real loopback HTTP receivers and real processes.

``receiver`` starts a scripted HTTP server on a free loopback port. Its
``script`` is a list of behaviours consumed one per request (then ``default``):
an int status code, ``"timeout"`` (hold the request past the client's
timeout), ``"close"`` (drop the connection), ``("retry-after", 429, "2")``,
``("redirect", url)``. Every request is recorded; ``unique_ids()`` is the
receiver's dedupe on ``webhook-id`` and every signature is checked with the
independent ``standardwebhooks`` library.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
ROOT = Path(__file__).resolve().parents[2]


class ScriptedReceiver:
    def __init__(self, script: list[Any] | None = None, default: Any = 200,
                 secret: str = SECRET, hold_s: float = 3.0) -> None:
        self.script = list(script or [])
        self.default = default
        self.hold_s = hold_s
        self.verifier = Webhook(secret)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set to end "block" behaviours early
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    outer.verifier.verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                with outer.lock:
                    action = outer.script.pop(0) if outer.script else outer.default
                    outer.requests.append({"headers": headers, "body": body,
                                           "verified": verified, "action": action,
                                           "path": self.path, "at": time.time()})
                if action == "timeout":
                    outer.release.wait(outer.hold_s)
                    self.close_connection = True
                    return
                if action == "block":
                    outer.release.wait(60)
                    action = 200
                if action == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                extra: dict[str, str] = {}
                code = action
                if isinstance(action, tuple) and action[0] == "retry-after":
                    code, extra = action[1], {"Retry-After": action[2]}
                elif isinstance(action, tuple) and action[0] == "redirect":
                    code, extra = 302, {"Location": action[1]}
                self.send_response(int(code))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        with self.lock:
            return [r["headers"].get("webhook-id", "") for r in self.requests]

    def unique_ids(self) -> set[str]:
        """The receiver's dedupe: ids of verified requests it answered 2xx."""
        with self.lock:
            return {r["headers"]["webhook-id"] for r in self.requests
                    if r["verified"] and (r["action"] == "block" or (
                        isinstance(r["action"], int) and 200 <= r["action"] < 300))}

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_receiver() -> Iterator[Any]:
    made: list[ScriptedReceiver] = []

    def make(*args: Any, **kwargs: Any) -> ScriptedReceiver:
        r = ScriptedReceiver(*args, **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def toml_config(endpoints: list[dict[str, Any]], **alerts: Any) -> str:
    """A TOML text with an [alerts] section (loopback allowed by default)."""
    alerts.setdefault("allow_loopback", True)
    lines = ["[alerts]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in alerts.items()]
    for ep in endpoints:
        lines.append("[[alerts.endpoints]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in ep.items()]
    return "\n".join(lines) + "\n"


def run_cli(args: list[str], timeout: float = 60, env: dict[str, str] | None = None,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgedrift", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, input=input_text,
                          env=dict(os.environ, **(env or {})))


class Listener:
    """A real ``edgedrift webhook listen`` process on a free port."""

    def __init__(self, tmp: Path, secrets: list[str], extra: list[str] | None = None,
                 out: Path | None = None) -> None:
        self.out = out or tmp / f"received-{time.monotonic_ns()}.jsonl"
        args = [sys.executable, "-m", "edgedrift", "webhook", "listen", "--port", "0",
                "--out", str(self.out)]
        for s in secrets:
            args += ["--secret", s]
        self.proc = subprocess.Popen(args + (extra or []), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"listener did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.split("listening on ", 1)[1].strip() + "hook"

    def events(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Any]:
    made: list[Listener] = []

    def make(secrets: list[str] | None = None, extra: list[str] | None = None,
             out: Path | None = None) -> Listener:
        li = Listener(tmp_path, secrets or [SECRET], extra, out)
        made.append(li)
        return li

    yield make
    for li in made:
        if li.proc.poll() is None:
            li.stop()
