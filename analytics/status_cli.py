"""``edgedrift status [--json] [--model M]``: current verdicts and alerts, without the dashboard.

For every model / version / segment and kind (drift, quality, latency, accuracy): the
newest window's state, since when it has held (the start of the run of equal states), and
the drifted features with their effect sizes, intervals and thresholds; then the alerts
of the open incidents and how their webhooks were delivered. Reads the published snapshot
of the results database (never blocks a running ``analyze``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgedrift.command import CommandError, existing_data_dir
from edgedrift.paths import DataPaths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    parser.add_argument("--model", action="append", default=[], help="only this model "
                                                                     "(repeatable)")


def current(db_path: Path, models: tuple[str, ...] = ()) -> dict[str, Any]:
    """{"last_pass": ..., "verdicts": [...]}: the newest verdict per stream and since when."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        where = f"WHERE model IN ({', '.join('?' * len(models))})" if models else ""
        rows = con.execute(f"""
            WITH v AS (SELECT *, window_start AS ws FROM verdicts {where}),
            runs AS (SELECT *, SUM((state <> lag_state)::INT) OVER (PARTITION BY model, version,
                            segment_tag, segment_value, kind ORDER BY ws) AS run
                     FROM (SELECT *, lag(state, 1, state) OVER (PARTITION BY model, version,
                                  segment_tag, segment_value, kind ORDER BY ws) AS lag_state
                           FROM v)),
            latest AS (SELECT model, version, segment_tag, segment_value, kind,
                              arg_max(run, ws) AS run, max(ws) AS newest
                       FROM runs GROUP BY ALL)
            SELECT * FROM (
            SELECT r.model, r.version, r.segment_tag, r.segment_value, r.kind,
                   arg_max(r.state, r.ws) AS state, min(r.ws) AS since, max(r.ws) AS newest,
                   arg_max(r.drifted_features, r.ws) AS drifted_features,
                   arg_max(r.note, r.ws) AS note
            FROM runs r JOIN latest l USING (model, version, segment_tag, segment_value, kind)
            WHERE r.run = l.run GROUP BY ALL)
            ORDER BY state = 'ok', model, version, segment_tag, segment_value, kind""",
                           list(models)).fetchall()
        last = con.execute("SELECT max(finished_at), count(*) FROM runs").fetchone()
    finally:
        con.close()
    verdicts = []
    for m, v, tag, val, kind, state, since, newest, feats, note in rows:
        verdicts.append({"model": m, "version": v, "segment": f"{tag}={val}" if tag else "",
                         "kind": kind, "state": state, "since": _iso(since),
                         "newest_window": _iso(newest), "note": note or "",
                         "features": json.loads(feats or "[]") if state != "ok" else []})
    return {"last_pass": _iso(last[0]) if last and last[0] else None,
            "passes": int(last[1]) if last else 0, "verdicts": verdicts}


def run(args: argparse.Namespace) -> int:
    from analytics.results import snapshot_path

    paths = DataPaths(existing_data_dir(args.data_dir))
    db = snapshot_path(paths.analytics_db)
    if not db.exists():
        db = Path(paths.analytics_db)
    if not db.exists():
        raise CommandError(f"no analysis results under {paths.base}: run `edgedrift analyze "
                           f"--data-dir {paths.base}` first")
    state = current(db, tuple(args.model))
    state["alerts"] = _alerts(paths, tuple(args.model))
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    print(f"last analysis pass: {state['last_pass'] or 'never'} ({state['passes']} passes)")
    print(f"{'STATE':6} {'MODEL':12} {'VERSION':10} {'SEGMENT':16} {'KIND':9} {'SINCE (UTC)':17} "
          "FEATURES (method score [lower, upper] > threshold)")
    for v in state["verdicts"]:
        feats = "; ".join(f"{f.get('feature')} {f.get('method')} {_g(f.get('score'))} "
                          f"[{_g(f.get('lower'))}, {_g(f.get('upper'))}] > {_g(f.get('threshold'))}"
                          for f in v["features"]) or v["note"]
        print(f"{v['state'].upper():6} {v['model']:12} {v['version']:10} "
              f"{v['segment'] or '(fleet)':16} {v['kind']:9} {v['since'][:16]:17} {feats}")
    if not state["verdicts"]:
        print("no verdicts yet (no closed window computed)")
    print(f"\nalerts ({len(state['alerts'])} newest):" if state["alerts"] else "\nno alerts")
    for a in state["alerts"]:
        print(f"  #{a['id']:<4} {a['event_type']:18} {a['model']} {a['version']} "
              f"{a['segment'] or '(fleet)'}  {a['deliveries']}")
    return 0


def _alerts(paths: DataPaths, models: tuple[str, ...], limit: int = 10) -> list[dict[str, Any]]:
    if not Path(paths.outbox).exists():
        return []
    from analytics.alerts.outbox import Outbox

    out = []
    for r in Outbox(paths.outbox).list_alerts(limit=200):
        if models and r["model"] not in models:
            continue
        states = ", ".join(f"{r[k]} {k}" for k in ("delivered", "pending", "failed", "disabled")
                           if r[k])
        out.append({"id": r["id"], "event_type": r["event_type"], "model": r["model"],
                    "version": r["version"], "segment": r["segment"],
                    "created_at": r["created_at"], "deliveries": states or "no endpoint"})
        if len(out) >= limit:
            break
    return out


def _iso(t: Any) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(t, "strftime") else str(t or "")


def _g(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"
