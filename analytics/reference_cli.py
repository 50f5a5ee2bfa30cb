"""``edgedrift reference build MODEL VERSION --input FILE`` (or ``--from-telemetry START END``).

Writes the reference profile, the SDK spec file and reference samples under
``DataPaths(data_dir).references/<model>/<version>/``. Shows a progress bar on
large inputs (stderr, when it is a terminal or ``--progress`` is given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from edgedrift.command import CommandError
from edgedrift.paths import DataPaths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    b = sub.add_parser("build", help="build a reference profile and the SDK spec file")
    b.add_argument("model")
    b.add_argument("version")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE", help="training data: .csv or .parquet")
    src.add_argument("--from-telemetry", nargs=2, metavar=("START", "END"),
                     help="promote live telemetry in [START, END) (ISO dates/times, UTC)")
    b.add_argument("--prediction", metavar="COL", help="column holding the model's prediction")
    b.add_argument("--label", metavar="COL", help="column holding the true label")
    b.add_argument("--latency", metavar="COL", help="column holding latency in ms")
    b.add_argument("--task", choices=["classification", "binary", "regression"])
    b.add_argument("--categorical", metavar="COL", action="append", default=[],
                   help="treat a numeric-looking column as categorical (repeatable)")
    b.add_argument("--exclude", metavar="COL", action="append", default=[],
                   help="ignore a column (repeatable)")
    b.add_argument("--min-rows", type=int, default=200, metavar="N",
                   help="refuse inputs with fewer rows (default 200, the analytics' "
                        "min_samples)")
    b.add_argument("--na-value", action="append", default=[], metavar="TEXT",
                   help="a CSV cell text to read as missing, besides empty, NaN, nan, NULL, "
                        "null (repeatable; 'n/a' or 'NA' stay categories otherwise)")
    b.add_argument("--sample-rows", type=int, default=5000,
                   help="raw rows kept for Evidently reports (default 5000)")
    b.add_argument("--progress", action="store_true", help="always show the progress bar")
    # the common options are accepted after the action too (not overriding earlier ones)
    b.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file")
    b.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="data directory")
    b.add_argument("--log-level", default=argparse.SUPPRESS,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) != "build":
        raise CommandError("choose an action: edgedrift reference build MODEL VERSION ...")
    from .reference import ReferenceStore
    paths = DataPaths(args.data_dir)
    store = ReferenceStore(paths.references)
    if args.from_telemetry:
        from .analyze_cli import parse_time
        from .reference_telemetry import build_from_telemetry
        start, end = (parse_time(v, "--from-telemetry") for v in args.from_telemetry)
        built = build_from_telemetry(_dataset(args, paths), store, args.model, args.version,
                                     start, end)
    else:
        from .reference_build import BuildOptions, build_reference
        opts = BuildOptions(prediction=args.prediction, label=args.label, latency=args.latency,
                            task=args.task, categorical=tuple(args.categorical),
                            exclude=tuple(args.exclude), sample_rows=args.sample_rows,
                            min_rows=args.min_rows,
                            na_values=(*BuildOptions.na_values, *args.na_value))
        bar = ProgressBar(force=args.progress)
        built = build_reference(args.input, args.model, args.version, opts, progress=bar)
        bar.close()
    written = built.save(store)
    prof = built.profile
    print(f"reference {prof.model} {prof.version}: {prof.records} records, "
          f"{len(built.spec.features)} features, spec {built.spec.spec_id}")
    if not args.from_telemetry:
        from .reference_checks import summary
        for line in summary(built):
            print(f"  {line}")
    for kind, path in written.items():
        print(f"  {kind}: {path}")
    return 0


def _dataset(args: argparse.Namespace, paths: DataPaths) -> str:
    from edgedrift.config import load_toml, section
    cfg = section(load_toml(args.config), "analytics")
    return str(cfg.get("dataset") or paths.dataset)


class ProgressBar:
    """A one-line text progress bar on stderr (only on a terminal unless forced).

    >>> bar = ProgressBar(force=False)
    >>> bar("profile", 10, 100); bar.close()
    """

    def __init__(self, force: bool = False, width: int = 30) -> None:
        self.enabled = force or sys.stderr.isatty()
        self.width = width
        self._last = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if total:
            frac = min(done / total, 1.0)
            filled = int(frac * self.width)
            line = f"\r{phase:<10} [{'#' * filled}{'.' * (self.width - filled)}] " \
                   f"{frac:6.1%} {done:,}/{total:,} rows"
        else:
            line = f"\r{phase:<10} {done:,} rows"
        if line != self._last:
            sys.stderr.write(line)
            sys.stderr.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
