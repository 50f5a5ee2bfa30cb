"""``edgedrift compact``: merge the batch files of closed days (see :mod:`collector.compaction`).

Settings come from ``[compact]`` in the TOML config, then the flags below. Safe to
run while sinks, gateways and analysis passes run (e.g. daily from cron); run one
compaction at a time per dataset.

Also runnable as ``python -m collector.compact_cli ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from edgedrift.command import CommandError, existing_data_dir
from edgedrift.config import build_config, load_toml, section
from edgedrift.paths import DataPaths

from .compaction import CompactionBusy, CompactionConfig, CompactionReport, compact
from .storage import configure_from

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="PATH",
                        help="Parquet dataset root (default <data-dir>/telemetry)")
    parser.add_argument("--before", metavar="YYYY-MM-DD",
                        help="compact dates before this one (default: today, UTC)")
    parser.add_argument("--min-age-s", type=float, metavar="S",
                        help="leave batch files younger than this alone (default 600)")
    parser.add_argument("--dry-run", action="store_true", default=None,
                        help="report what would be merged, change nothing")
    parser.add_argument("--every", type=float, metavar="SECONDS",
                        help="compact again every SECONDS until interrupted (a failed run is "
                             "logged and retried at the next one)")


def build(args: argparse.Namespace) -> CompactionConfig:
    doc = load_toml(args.config)
    values = dict(section(doc, "compact"))
    storage = configure_from(doc)
    if storage.uri and "dataset" not in values:
        values["dataset"] = storage.uri          # the dataset on object storage
    if not args.dataset and "dataset" not in values:
        existing_data_dir(args.data_dir)     # nothing to compact: say so, create nothing
    values.setdefault("dataset", str(DataPaths(args.data_dir).dataset))
    config = build_config(CompactionConfig, values,
                          {"dataset": args.dataset, "before": args.before,
                           "min_age_s": args.min_age_s, "dry_run": args.dry_run},
                          section="compact")
    config.before_date()        # a bad date is reported before any work
    return config


def run(args: argparse.Namespace) -> int:
    config = build(args)
    if args.every is not None and not 0 < args.every < float("inf"):
        raise ValueError(f"--every: expected a positive number of seconds, got {args.every}")
    while True:
        try:
            _summarise(config, compact(config))
        except (OSError, CompactionBusy) as exc:
            if args.every is None:
                raise CommandError(str(exc)) from None
            log.error("compaction failed (retried in %.0f s): %s", args.every, exc)
        if args.every is None:
            return 0
        time.sleep(args.every)


def _summarise(config: CompactionConfig, report: CompactionReport) -> None:
    verb = "would merge" if config.dry_run else "merged"
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
    print(f"{verb} {report.batch_files} batch files into {report.compacted_files} files "
          f"in {report.directories} directories ({report.rows} rows, "
          f"{report.bytes_before} -> {report.bytes_after or report.bytes_before} bytes); "
          f"left alone: {skipped}; leftovers of an interrupted run removed: "
          f"{report.leftovers_removed}"
          + (f"; FAILED (left as they are): {report.failed}" if report.failed else ""),
          flush=True)


if __name__ == "__main__":      # the `edgedrift compact` command, by the dispatcher
    import runpy

    sys.argv[1:1] = ["compact"]
    runpy.run_module("edgedrift", run_name="__main__")
