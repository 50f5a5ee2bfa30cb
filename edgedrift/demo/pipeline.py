"""``edgedrift demo``: the real pipeline, end to end, on a simulated fleet.

Devices (the real SDK, over HTTP) -> gateway -> Parquet (embedded sink, or
Kafka + a sink process with ``--kafka``) -> reference profiles -> DuckDB
analytics -> alert outbox -> signed webhook -> a local ``edgedrift webhook
listen`` receiver. Time is compressed: window timestamps follow a simulated
clock (``--hours`` of fleet time), signatures use the real clock.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from ..command import CommandError
from ..paths import DataPaths
from .fleet import DRIFT_FEATURE, DRIFT_MODEL, DRIFT_SEGMENT, Fleet
from .progress import Progress

MARKER = ".edgedrift-demo"
WEBHOOK_SECRET = "whsec_ZWRnZWRyaWZ0LWRlbW8td2ViaG9vay1zZWNyZXQ="


@dataclass(frozen=True)
class DemoOptions:
    """Size and shape of the simulated run."""

    devices: int = 200
    hours: int = 24
    window_minutes: int = 20
    records_per_window: int = 25
    drift_at: float = 0.6           # fraction of the span after which the drift starts
    send_every: int = 8             # device windows between deliveries (devices batch backlog)
    seed: int = 7
    kafka: str | None = None
    # the demo's own topic and consumer group: its windows never reach a production sink,
    # and a production sink's group never takes the demo's partitions
    kafka_topic: str = "edgedrift-demo.windows"
    kafka_group: str = "edgedrift-demo-sink"
    quiet: bool = False


@dataclass
class DemoResult:
    """What the demo found (also what tests assert on)."""

    data_dir: Path
    windows_sent: int = 0
    drift_start_ms: int = 0
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def detections(self) -> list[dict[str, Any]]:
        """Verdicts that turned to drift (the first drifted window of each stream)."""
        return [v for v in self.verdicts if v["state"] == "drift" and v["changed"]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=DemoOptions.devices,
                        help="simulated devices (default 200)")
    parser.add_argument("--hours", type=int, default=DemoOptions.hours,
                        help="simulated hours of fleet time (default 24)")
    parser.add_argument("--window-minutes", type=int, default=DemoOptions.window_minutes,
                        help="device window length in simulated minutes (default 20)")
    parser.add_argument("--records", type=int, default=DemoOptions.records_per_window,
                        help="inferences per device window (default 25)")
    parser.add_argument("--seed", type=int, default=DemoOptions.seed)
    parser.add_argument("--kafka", metavar="HOST:PORT",
                        help="run through this Kafka broker with separate gateway and sink "
                             f"processes (topic {DemoOptions.kafka_topic}, consumer group "
                             f"{DemoOptions.kafka_group}: apart from production's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.log_level != "DEBUG":  # the progress bar and summary say what happens
        logging.getLogger().setLevel(logging.WARNING)
    options = DemoOptions(devices=args.devices, hours=args.hours,
                          window_minutes=args.window_minutes,
                          records_per_window=args.records, seed=args.seed, kafka=args.kafka,
                          quiet=args.quiet)
    if options.devices < 8 or options.hours < 6:
        raise CommandError("--devices must be >= 8 and --hours >= 6 for a meaningful demo")
    root = Path(args.data_dir) / "demo"
    result = run_demo(options, root)
    print(summary_text(result, options))
    return 0 if result.detections() and result.webhooks else 1


# -- the run -------------------------------------------------------------------------
def run_demo(options: DemoOptions, root: Path) -> DemoResult:
    """Run the whole demo under ``root`` (wiped first if it holds an earlier demo)."""
    started = time.monotonic()
    if options.kafka:
        _check_kafka(options.kafka)         # before anything is written
    paths = _prepare(root)
    result = DemoResult(root)
    say = ((lambda msg: None) if options.quiet
           else (lambda msg: print(msg, file=sys.stderr, flush=True)))
    fleet = Fleet(options.devices, options.seed)
    say(f"edgedrift demo: {options.devices} devices, 2 models, {options.hours} h of fleet time "
        f"in {options.window_minutes}-minute windows, data in {root}")

    say("[1/6] creating device keys and reference profiles from training data")
    keys = _make_keys(paths, fleet)
    specs = _build_references(paths, fleet, options.seed)

    say("[2/6] starting the gateway" + (" and a sink" if options.kafka else "") +
        " and a webhook receiver")
    with _Services(paths, options, say) as services:
        say(f"[3/6] {options.devices} devices log inferences through the SDK over HTTP")
        end_ms = int(time.time() // 3600 * 3600 * 1000)
        start_ms = end_ms - options.hours * 3600 * 1000
        result.drift_start_ms = start_ms + int(options.drift_at * (end_ms - start_ms))
        result.windows_sent = _simulate(fleet, keys, specs, services.gateway_url, paths, options,
                                        start_ms, end_ms, result.drift_start_ms)
        if options.kafka:
            services.wait_for_sink(result.windows_sent)

        say("[4/6] analysing drift with DuckDB over the Parquet dataset")
        summary = _analyse(paths, options, start_ms, end_ms)
        result.verdicts = summary.verdicts
        result.reports = summary.reports

        say("[5/6] raising alerts and delivering signed webhooks")
        result.alerts = _alert(paths, services.webhook_url, summary.verdicts)
        result.webhooks = services.received_webhooks(expected=len(result.alerts))
    _write_config(paths, services.webhook_url)
    result.seconds = time.monotonic() - started
    say("[6/6] done")
    return result


def _prepare(root: Path) -> DataPaths:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise CommandError(f"{root} exists and was not made by the demo; choose another "
                               "--data-dir")
        shutil.rmtree(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text("made by `edgedrift demo`; deleted by the next demo run\n")
    except OSError as exc:
        raise CommandError(f"cannot write the demo data under {root}: {exc.strerror}") from None
    free = shutil.disk_usage(root).free
    if free < 300 << 20:
        raise CommandError(f"disk almost full: {free >> 20} MB free under {root}; "
                           "the demo needs about 300 MB")
    return DataPaths(root)


def _make_keys(paths: DataPaths, fleet: Fleet) -> dict[str, str]:
    from collector.keys import KeyRegistry

    registry = KeyRegistry(paths.keys)
    return {dev.device_id: registry.add(dev.device_id) for dev in fleet.devices}


def _build_references(paths: DataPaths, fleet: Fleet, seed: int) -> dict[tuple[str, str], Path]:
    import pandas as pd

    from analytics.reference import ReferenceStore
    from analytics.reference_build import build_reference

    store = ReferenceStore(paths.references)
    specs = {}
    for model, version in sorted({(d.model, d.version) for d in fleet.devices}):
        frame = pd.DataFrame(fleet.reference_rows(model, 20_000, version))
        built = build_reference(frame, model, version, prediction="prediction", seed=seed)
        specs[(model, version)] = built.save(store)["spec"]
    return specs


def _simulate(fleet: Fleet, keys: dict[str, str], specs: dict[tuple[str, str], Path],
              gateway_url: str, paths: DataPaths, options: DemoOptions, start_ms: int,
              end_ms: int, drift_ms: int) -> int:
    import numpy as np

    from edge_sdk import Monitor

    clock = {"now": start_ms / 1000}
    monitors = []
    for dev in fleet.devices:
        artifact = hashlib.sha256(f"{dev.model}-{dev.version}".encode()).hexdigest()
        monitors.append(Monitor(
            model=dev.model, version=dev.version, device_id=dev.device_id,
            endpoint=gateway_url, key=keys[dev.device_id], spec=specs[(dev.model, dev.version)],
            window_s=options.window_minutes * 60, spool_dir=paths.base / "spool" / dev.device_id,
            tags=dev.tags, model_hash="sha256:" + artifact, start=False,
            sample_rows=20 if dev.model == DRIFT_MODEL else 0, clock=lambda: clock["now"],
            timeout_s=30.0, durable=False))  # simulated fleet: no per-window fsync
    gen = np.random.default_rng(options.seed)
    step_ms = options.window_minutes * 60 * 1000
    windows = (end_ms - start_ms) // step_ms
    sent = 0
    progress = Progress(windows, "windows", enabled=not options.quiet and sys.stderr.isatty())
    with ThreadPoolExecutor(max_workers=8) as pool:
        for w in range(windows):
            clock["now"] = (start_ms + w * step_ms) / 1000
            drifted = start_ms + w * step_ms >= drift_ms
            for dev, mon in zip(fleet.devices, monitors, strict=True):
                for feats, pred, latency in dev.records(gen, options.records_per_window, drifted):
                    pid = mon.log(feats, prediction=pred, latency_ms=latency)
                    if pid % 5 == 0:  # ground truth arrives for one inference in five
                        mon.label(pid, _truth(dev.model, pred, gen))
            clock["now"] = (start_ms + (w + 1) * step_ms) / 1000
            for mon in monitors:
                mon.seal_window()
            sent += len(monitors)
            if (w + 1) % options.send_every == 0 or w == windows - 1:
                failures = [f for f in pool.map(_drain, monitors) if f]
                if failures:
                    raise CommandError(f"devices could not deliver to the gateway: {failures[0]}")
            progress.update(w + 1)
    progress.close()
    for mon in monitors:
        mon.close(timeout_s=0)
    return sent


def _truth(model: str, pred: Any, gen: Any) -> Any:
    if model == DRIFT_MODEL:
        return int(gen.random() < pred)
    return pred if gen.random() < 0.9 else "stand"


def _drain(mon: Any) -> str:
    for _ in range(1000):
        if not mon.spool.backlog()[0]:
            return ""
        if not mon.sender.send_once():
            backlog = mon.spool.backlog()[0]
            return (f"{mon.device_id}: {backlog} window(s) not accepted "
                    f"({mon.sender._last_error or 'no progress'})")
    return ""


def _analyse(paths: DataPaths, options: DemoOptions, start_ms: int, end_ms: int) -> Any:
    from analytics.config import AnalyticsConfig
    from analytics.job import run_analysis

    config = AnalyticsConfig(window_s=3600, grace_s=0, lookback_s=(options.hours + 2) * 3600,
                             segment_tags=("firmware",))
    return run_analysis(config, paths, since_ms=start_ms, now_ms=end_ms + 3600 * 1000)


def _alert(paths: DataPaths, webhook_url: str, verdicts: list[dict[str, Any]]) -> list[Any]:
    from analytics.alerts import Deliverer, alerts_config_from_toml
    from analytics.alerts.from_verdicts import raise_alerts
    from analytics.alerts.outbox import Outbox

    config = alerts_config_from_toml(_alerts_table(webhook_url))
    alerts = raise_alerts(verdicts, config, paths.outbox)
    deliverer = Deliverer(config, paths.outbox)
    outbox = Outbox(paths.outbox)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deliverer.run_once()
        if not any(a["pending"] for a in outbox.list_alerts(limit=1000)):
            break
        time.sleep(0.5)  # a retry is due later (the receiver was busy): wait for it
    return alerts


def _alerts_table(webhook_url: str) -> dict[str, Any]:
    return {"allow_loopback": True, "cooldown_s": 3 * 3600, "retry_schedule_s": [0.5, 1, 2, 4],
            "timeout_s": 10, "dashboard_url": "http://localhost:8501",
            "endpoints": [{"name": "retrain-pipeline", "url": webhook_url,
                           "secrets": [WEBHOOK_SECRET]}]}


def _write_config(paths: DataPaths, webhook_url: str) -> None:
    table = _alerts_table(webhook_url)
    lines = ["# written by `edgedrift demo`", "[analytics]", "window_s = 3600", "grace_s = 0", "",
             "[alerts]"]
    for key in ("allow_loopback", "cooldown_s", "retry_schedule_s", "timeout_s", "dashboard_url"):
        lines.append(f"{key} = {json.dumps(table[key])}")
    for ep in table["endpoints"]:
        lines += ["", "[[alerts.endpoints]]", f"name = {json.dumps(ep['name'])}",
                  f"url = {json.dumps(ep['url'])}", f"secrets = {json.dumps(ep['secrets'])}"]
    (paths.base / "edgedrift.toml").write_text("\n".join(lines) + "\n")


# -- services (real processes) ----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Services:
    """The gateway (plus a sink with Kafka) and the webhook receiver, as real processes."""

    def __init__(self, paths: DataPaths, options: DemoOptions, say: Any) -> None:
        self.paths = paths
        self.options = options
        self.say = say
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.gateway_port = free_port()
        self.webhook_port = free_port()
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}/v1/telemetry"
        self.webhook_url = f"http://127.0.0.1:{self.webhook_port}/hooks/retrain"
        self.events = paths.base / "webhooks.jsonl"
        self.logs = paths.base / "logs"

    def __enter__(self) -> _Services:
        self.logs.mkdir(exist_ok=True)
        common = ["--data-dir", str(self.paths.base), "--log-level", "WARNING"]
        gateway = ["gateway", *common, "--port", str(self.gateway_port)]
        if self.options.kafka:
            gateway += ["--kafka", self.options.kafka]
            self._start("sink", ["sink", *common, "--kafka", self.options.kafka])
        self._start("gateway", gateway)
        self._start("webhook receiver", ["webhook", "listen", "--secret", WEBHOOK_SECRET,
                                         "--port", str(self.webhook_port), "--out",
                                         str(self.events), "--log-level", "WARNING"])
        self._wait_http("gateway", f"http://127.0.0.1:{self.gateway_port}/readyz")
        self._wait_port("webhook receiver", self.webhook_port)
        return self

    def __exit__(self, *exc: object) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name.replace(' ', '-')}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "edgedrift", *argv], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=demo_environment(self.options))
        self.procs.append((name, proc))

    def _died(self, name: str) -> None:
        for n, proc in self.procs:
            if n == name and proc.poll() is not None:
                tail = (self.logs / f"{name.replace(' ', '-')}.log").read_text(errors="replace")
                raise CommandError(f"the {name} stopped (exit {proc.returncode}):\n"
                                   + "\n".join(tail.strip().splitlines()[-8:]))

    def _wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._died(name)
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            time.sleep(0.2)
        raise CommandError(f"the {name} did not become ready at {url} within {timeout:.0f} s "
                           f"(see {self.logs})")

    def _wait_port(self, name: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._died(name)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.1)
        raise CommandError(f"the {name} did not listen on port {port} within {timeout:.0f} s")

    def wait_for_sink(self, windows: int, timeout: float = 120.0) -> None:
        import duckdb

        from collector.schema import READ_OPTIONS

        glob = str(self.paths.dataset / "windows" / "**" / "*.parquet")
        deadline = time.monotonic() + timeout
        seen = 0
        con = duckdb.connect()
        try:
            while time.monotonic() < deadline:
                self._died("sink")
                with contextlib.suppress(duckdb.Error):
                    seen = con.execute(
                        "SELECT count(DISTINCT (device_id, model, seq)) FROM "
                        f"read_parquet(?, {READ_OPTIONS})", [glob]).fetchall()[0][0]
                    if seen >= windows:
                        return
                time.sleep(0.5)
        finally:
            con.close()
        raise CommandError(f"the sink wrote {seen} of {windows} windows within {timeout:.0f} s")

    def received_webhooks(self, expected: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.events.exists():
                events = [json.loads(line) for line in self.events.read_text().splitlines()
                          if line.strip()]
            if len(events) >= expected:
                break
            time.sleep(0.1)
        return events


def demo_environment(options: DemoOptions,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the demo's processes: no EDGEDRIFT_* setting of the user's (a
    production config, key registry or topic) leaks in; Kafka uses the demo's topic and group.

    >>> env = demo_environment(DemoOptions(), {"EDGEDRIFT_CONFIG": "/etc/prod.toml",
    ...                                        "EDGEDRIFT_KAFKA_TOPIC": "prod", "HOME": "/h"})
    >>> sorted(env.items())  # doctest: +NORMALIZE_WHITESPACE
    [('EDGEDRIFT_KAFKA_DLQ_TOPIC', 'edgedrift-demo.windows.dlq'),
     ('EDGEDRIFT_KAFKA_GROUP_ID', 'edgedrift-demo-sink'),
     ('EDGEDRIFT_KAFKA_TOPIC', 'edgedrift-demo.windows'), ('HOME', '/h')]
    """
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if not k.startswith("EDGEDRIFT_")}
    env.update(EDGEDRIFT_KAFKA_TOPIC=options.kafka_topic,
               EDGEDRIFT_KAFKA_DLQ_TOPIC=f"{options.kafka_topic}.dlq",
               EDGEDRIFT_KAFKA_GROUP_ID=options.kafka_group)
    return env


def _check_kafka(bootstrap: str) -> None:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return
    except (OSError, ValueError):
        raise CommandError(f"Kafka broker unreachable at {bootstrap}: start it, or run the demo "
                           "without --kafka (embedded mode)") from None


# -- summary ------------------------------------------------------------------------------
def summary_text(result: DemoResult, options: DemoOptions) -> str:
    from datetime import datetime

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")

    lines = ["", "edgedrift demo summary", "======================",
             f"{result.windows_sent} windows from {options.devices} devices through the real "
             f"pipeline in {result.seconds:.0f} s "
             f"({'Kafka ' + options.kafka if options.kafka else 'embedded mode'}).",
             f"Injected: {DRIFT_MODEL}.{DRIFT_FEATURE} on {DRIFT_SEGMENT[0]}={DRIFT_SEGMENT[1]} "
             f"from {when(result.drift_start_ms)} (simulated time)."]
    detections = result.detections()
    if not detections:
        lines.append("Detected: nothing (unexpected; see the logs under "
                     f"{result.data_dir / 'logs'}).")
    for v in detections:
        feats = ", ".join(f"{f['feature']} ({f['method']} {f['score']:.3f} > {f['threshold']})"
                          for f in json.loads(v["drifted_features"] or "[]"))
        seg = f"{v['segment_tag']}={v['segment_value']}" if v["segment_tag"] else "whole fleet"
        lag = (v["window_end_ms"] - result.drift_start_ms) / 3_600_000
        lines.append(f"Detected: {v['kind']} of {v['model']} {v['version']} [{seg}] in the "
                     f"window starting {when(v['window_start_ms'])} ({lag:.1f} h after the "
                     f"injection): {feats or 'model-level'}")
    for hook in result.webhooks:
        payload = hook.get("payload", {})
        data = payload.get("data", {})
        seg = data.get("segment") or "whole fleet"
        lines.append(f"Webhook landed: id {hook['webhook_id']} {payload.get('type')} for "
                     f"{data.get('model')} {data.get('version')} [{seg}], suggested action "
                     f"{data.get('suggested_action')} (signature verified, answered 200)")
    if not result.webhooks:
        lines.append("Webhook: none received.")
    for path in result.reports[:3]:
        lines.append(f"Evidently report: {path}")
    lines += ["", "Open the dashboard on the demo data:",
              f"  edgedrift dashboard --data-dir {result.data_dir} "
              f"--config {result.data_dir / 'edgedrift.toml'}", ""]
    return "\n".join(lines)
