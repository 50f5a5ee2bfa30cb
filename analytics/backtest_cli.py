"""``edgedrift backtest``: which alerts would have fired on historical data?

    edgedrift backtest --input history.parquet --timestamp ts --model kws --version 1.3.0 \\
        --reference train.csv [--prediction score] [--segment firmware] [--devices 20] \\
        [--window 1d] [--timezone Europe/Berlin] [--out DIR] [--config edgedrift.toml]

The ``[analytics]`` and ``[alerts]`` sections of ``--config`` apply (thresholds, CUSUM,
policies); nothing is delivered. Without ``--reference`` the reference already built for
the model and version under ``--data-dir`` is used. See :mod:`analytics.backtest`.
"""

from __future__ import annotations

import argparse
import os

from edgedrift.command import CommandError
from edgedrift.paths import DataPaths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="FILE",
                        help="historical rows: .csv or .parquet with a timestamp column")
    parser.add_argument("--timestamp", required=True, metavar="COL",
                        help="the column with each row's time (ISO 8601, or Unix s / ms)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--reference", metavar="FILE",
                        help="training data to build the reference from (default: the "
                             "reference of MODEL VERSION under --data-dir)")
    parser.add_argument("--prediction", metavar="COL", help="column holding the prediction")
    parser.add_argument("--segment", action="append", default=[], metavar="COL",
                        help="a column whose values segment the fleet, e.g. firmware "
                             "(repeatable)")
    parser.add_argument("--devices", type=int, default=20,
                        help="simulated devices per segment value (default 20)")
    parser.add_argument("--window", default="1d", metavar="WINDOW",
                        help="evaluation window: SECONDS or 1h, 1d, 1w, 1mo (default 1d)")
    parser.add_argument("--timezone", metavar="TZ", help="where days, weeks, months begin")
    parser.add_argument("--out", default="edgedrift-backtest", metavar="DIR",
                        help="data dir the replay writes (replaced on each run; default "
                             "./edgedrift-backtest)")


def run(args: argparse.Namespace) -> int:
    for flag, path in (("--input", args.input), ("--reference", args.reference)):
        if path is not None and not os.path.isfile(path):     # before --out is replaced
            raise CommandError(f"{flag}: got {path!r}, expected an existing .csv or .parquet "
                               "file")
    import pandas as pd

    from edgedrift.config import build_config, load_toml, section

    from .backtest import backtest
    from .config import AnalyticsConfig

    toml = load_toml(args.config)
    overrides = {"timezone": args.timezone}
    if args.window.strip().isdigit():
        overrides.update(window_s=int(args.window), window="")
    else:
        overrides["window"] = args.window
    config = build_config(AnalyticsConfig, section(toml, "analytics"), overrides,
                          section="analytics")
    alerting = None
    if section(toml, "alerts"):
        from .alerts import alerts_config_from_toml
        alerting = alerts_config_from_toml(section(toml, "alerts"))
    reference = args.reference
    if reference is None:
        from .reference import ReferenceStore
        from .reference_build import BuiltReference
        store = ReferenceStore(DataPaths(args.data_dir).references)
        profile = store.find(args.model, args.version)
        if profile is None:
            raise CommandError(f"--reference: no reference for {args.model} {args.version} "
                               f"under {args.data_dir}; give --reference TRAINING_FILE or run "
                               "`edgedrift reference build` first")
        from edge_sdk.spec import Spec
        spec = Spec.load(store.spec_path(args.model, args.version))
        reference = BuiltReference(profile, spec, samples=pd.DataFrame())
    result = backtest(args.input, args.timestamp, args.model, args.version, reference,
                      args.out, config, devices=args.devices, segments=tuple(args.segment),
                      prediction=args.prediction, alerts_config=alerting)
    took = sum(result.seconds.values())
    print(f"backtest {args.model} {args.version}: {result.rows:,} rows -> "
          f"{result.device_windows:,} device windows from {args.devices} simulated devices "
          f"per segment, {config.cadence.label} evaluation windows, {len(result.alerts)} "
          f"alert(s) in {took:.1f} s (data in {result.out_dir})")
    for note in result.notes:
        print(f"  {note}")
    for line in result.timeline():
        print(f"  {line}")
    if not result.alerts:
        print("  no alert would have fired")
    return 0
