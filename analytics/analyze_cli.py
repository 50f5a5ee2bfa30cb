"""``edgedrift analyze [--once | --every SECONDS] [--since TIME]``: run drift analysis passes.

Settings come from the ``[analytics]`` section of ``--config``; ``--window``
overrides the evaluation window. Each pass prints one summary line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from edgedrift.command import CommandError, existing_data_dir
from edgedrift.paths import DataPaths

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one pass and exit (default)")
    mode.add_argument("--every", type=float, metavar="SECONDS",
                      help="run a pass every SECONDS until interrupted")
    parser.add_argument("--since", metavar="TIME",
                        help="recompute every closed window since TIME (ISO date/time, UTC, "
                             "or a duration such as 6h, 2d)")
    parser.add_argument("--window", metavar="WINDOW",
                        help="evaluation window: SECONDS, or 15m, 1h, 1d, 1w, 1mo on calendar "
                             "boundaries (overrides analytics.window / window_s)")
    parser.add_argument("--timezone", metavar="TZ",
                        help="where days, weeks and months begin, e.g. Europe/Berlin "
                             "(overrides analytics.timezone; default UTC)")
    parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
    parser.add_argument("--include-open", action="store_true", default=None,
                        help="also compute the still-open current window")
    parser.add_argument("--no-alerts", action="store_true",
                        help="do not turn verdicts into alerts (default: alert when the config "
                             "has an [alerts] section)")


def parse_time(value: str, field: str = "--since", now_ms: int | None = None) -> int:
    """Unix ms of an ISO date/time (UTC unless it says otherwise) or a duration back from now.

    >>> parse_time("2025-11-24T16:00:00")
    1764000000000
    >>> parse_time("2h", now_ms=10_000_000)
    2800000
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return int(now_ms - float(value[:-1]) * units[value[-1]] * 1000)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{field}: got {value!r}, expected an ISO date/time such as "
                           "2025-11-24T16:00 or a duration such as 6h") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def build(args: argparse.Namespace):
    """The frozen AnalyticsConfig from the TOML section plus command-line overrides."""
    from edgedrift.config import build_config, load_toml, section

    from .config import AnalyticsConfig
    overrides = {"include_open_windows": args.include_open, "timezone": args.timezone}
    if args.window is not None:
        seconds = args.window.strip().isdigit()
        overrides["window_s" if seconds else "window"] = int(args.window) if seconds \
            else args.window
        if seconds:
            overrides["window"] = ""
    from collector.storage import configure_from

    toml = load_toml(args.config)
    configure_from(toml)         # [storage]: where the dataset is (uri), endpoint, region
    return build_config(AnalyticsConfig, section(toml, "analytics"),
                        overrides, section="analytics")


def alerts_config(args: argparse.Namespace):
    """The AlertsConfig when the config file has an ``[alerts]`` section (else None)."""
    from edgedrift.config import load_toml, section

    table = section(load_toml(args.config), "alerts")
    if args.no_alerts or not table:
        return None
    from .alerts import alerts_config_from_toml
    return alerts_config_from_toml(table)


def run(args: argparse.Namespace) -> int:
    import threading

    from .job import run_analysis
    config = build(args)
    if args.every is not None and not 0 < args.every < float("inf"):
        raise CommandError(f"--every: got {args.every}, expected a positive number of seconds")
    alerting = alerts_config(args)
    paths = DataPaths(existing_data_dir(args.data_dir))
    since = parse_time(args.since) if args.since else None
    models = tuple(args.model)
    deliverer = stop = None
    if alerting is not None:
        from .alerts import Deliverer
        deliverer, stop = Deliverer(alerting, paths.outbox), threading.Event()
        if args.every is not None:  # retries keep running between passes
            threading.Thread(target=deliverer.run_forever, args=(stop,), daemon=True,
                             name="edgedrift-deliverer").start()
    try:
        return _loop(args, config, alerting, deliverer, paths, since, models, run_analysis)
    finally:
        if stop is not None:
            stop.set()


def _loop(args, config, alerting, deliverer, paths, since, models, run_analysis) -> int:
    from .errors import DatasetError

    while True:
        try:
            summary = run_analysis(config, paths, since_ms=since, models=models)
        except DatasetError as exc:   # e.g. files kept vanishing under the pass: next pass
            if args.every is None:
                raise
            log.error("analysis pass skipped: %s", exc)
            time.sleep(max(args.every, 0.1))
            continue
        if alerting is not None:
            from .alerts.from_verdicts import raise_alerts
            stored = raise_alerts(summary.verdicts, alerting, paths.outbox)
            for alert in stored:
                print(f"  alert #{alert.id} {alert.event_type} stored for delivery", flush=True)
            if args.every is None and stored:
                deliverer.run_once()
        drift = summary.drift_verdicts()
        print(f"analyze: {summary.windows_computed} windows, {summary.feature_rows} metric rows, "
              f"{len(summary.verdicts)} verdicts ({len(drift)} drift, "
              f"{len(summary.changes())} changed), {len(summary.reports)} reports "
              f"in {summary.seconds:.2f} s", flush=True)
        for note in summary.notes:
            print(f"  {note}", flush=True)
        for v in summary.changes():
            seg = f"{v['segment_tag']}={v['segment_value']}" if v["segment_tag"] else "fleet"
            at = dt.datetime.fromtimestamp(v["window_start_ms"] / 1000, dt.UTC)
            print(f"  {v['model']} {v['version']} {seg} {v['kind']}: {v['previous_state']} -> "
                  f"{v['state']} at {at:%Y-%m-%d %H:%M}Z", flush=True)
        if args.every is None:
            return 0
        since = None          # later passes compute only new windows
        time.sleep(max(args.every, 0.1))
