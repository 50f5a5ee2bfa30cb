"""`edgedrift reference build` (CSV and --from-telemetry) and `edgedrift analyze --once`."""

from __future__ import annotations

from itertools import pairwise

from analytics_fleet import BASE_MS, fleet, training_frame, write

from analytics.reference import ReferenceProfile
from edge_sdk.spec import Spec
from edgedrift.cli import main
from edgedrift.paths import DataPaths


def test_reference_build_from_csv_then_analyze(tmp_path, capsys):
    csv = tmp_path / "train.csv"
    training_frame(3000).to_csv(csv, index=False)
    rc = main(["reference", "build", "kws", "1.0", "--input", str(csv), "--prediction", "score",
               "--latency", "latency", "--data-dir", str(tmp_path), "--progress"])
    assert rc == 0
    paths = DataPaths(tmp_path)
    spec = Spec.load(paths.references / "kws" / "1.0" / "spec.json")
    assert set(spec.features) == {"temp", "rms", "mic"}
    edges = spec.features["temp"].layout.edges
    assert len(edges) == 63 and all(b > a for a, b in pairwise(edges))
    assert spec.features["mic"].categories[0] == "front"
    assert "histograms" in capsys.readouterr().err            # the progress bar
    write(paths.dataset, fleet(spec, windows=3, devices=2, records=150, window_ms=3_600_000,
                               start_ms=BASE_MS - 5 * 3_600_000))
    cfg = tmp_path / "edgedrift.toml"
    cfg.write_text('[analytics]\nsegment_tags = ["firmware"]\nreports = false\n')
    assert main(["analyze", "--once", "--since", "2025-10-01", "--config", str(cfg),
                 "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "analyze: 3 windows" in out
    # promote the telemetry to the reference of version 1.1
    start = "2025-10-01T00:00:00"
    rc = main(["reference", "build", "kws", "1.0", "--from-telemetry", start, "2030-01-01",
               "--data-dir", str(tmp_path)])
    assert rc == 0
    prof = ReferenceProfile.load(paths.references / "kws" / "1.0" / "profile.json")
    assert prof.features["temp"].n == 900 and prof.source.startswith("telemetry")


def test_bad_input_names_the_field(tmp_path, capsys):
    rc = main(["reference", "build", "kws", "1.0", "--input", str(tmp_path / "nope.csv"),
               "--data-dir", str(tmp_path)])
    assert rc == 1
    assert "--input" in capsys.readouterr().err
    cfg = tmp_path / "c.toml"
    cfg.write_text('[analytics]\nnumeric_effect = ["hellinger"]\n')
    assert main(["analyze", "--config", str(cfg), "--data-dir", str(tmp_path)]) == 1
    assert "jensen_shannon, ks, psi" in capsys.readouterr().err


def test_a_scheduled_pass_that_cannot_read_the_dataset_is_retried():
    """A pass that could not read the dataset (e.g. files kept vanishing under it while a
    compaction ran) fails; on a schedule the next pass runs, it does not stop the service."""
    import argparse

    import pytest

    from analytics.analyze_cli import _loop
    from analytics.errors import DatasetError

    calls = []

    def run_analysis(*_args, **_kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise DatasetError("dataset", "ds", "files that stay listed")
        raise KeyboardInterrupt      # stop the loop after the retry

    args = argparse.Namespace(every=0.01)
    with pytest.raises(KeyboardInterrupt):
        _loop(args, None, None, None, None, None, (), run_analysis)
    assert len(calls) == 2
    with pytest.raises(DatasetError):
        _loop(argparse.Namespace(every=None), None, None, None, None, None, (),
              lambda *a, **k: (_ for _ in ()).throw(DatasetError("dataset", "ds", "x")))


def test_reference_build_prints_what_it_read(tmp_path, capsys):
    csv = tmp_path / "train.csv"
    frame = training_frame(400)
    frame["code"] = ([16, 3, None, 7] * 100)       # integer codes with a gap: read as float64
    frame["code"] = frame["code"].astype("Int64")
    frame.to_csv(csv, index=False)
    assert main(["reference", "build", "kws", "1.0", "--input", str(csv), "--prediction",
                 "score", "--categorical", "code", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header, *rows = [line.strip() for line in out.splitlines()[1:] if line.startswith("  ")
                     and not line.strip().startswith(("profile:", "spec:", "samples:"))]
    assert header.split()[:6] == ["column", "kind", "values", "missing", "mismatched", "distinct"]
    code = next(r.split() for r in rows if r.startswith("code "))
    assert code[:6] == ["code", "categorical", "300", "100", "0", "3"]
    assert "16 100" in " ".join(code)                    # '16', not '16.0'
    temp = next(r.split() for r in rows if r.startswith("temp "))
    assert temp[1:4] == ["numeric", "400", "0"]


def test_reference_build_refuses_what_would_monitor_nothing(tmp_path, capsys):
    def build(name: str, text: str, *extra: str) -> str:
        csv = tmp_path / f"{name}.csv"
        csv.write_text(text)
        rc = main(["reference", "build", "kws", "1.0", "--input", str(csv),
                   "--data-dir", str(tmp_path), *extra])
        err = capsys.readouterr().err
        assert rc == 1 and "Traceback" not in err
        return err

    assert "at least 200 rows" in build("one_row", "x,y\n1.0,a\n")
    rows = "".join(f"{i},,blue\n" for i in range(300))
    err = build("empty_column", "x,gone,c\n" + rows)
    assert "column 'gone'" in err and "--exclude gone" in err
    rows = "".join(f"{i},{i % 2 + 0.5}\n" for i in range(300))
    err = build("not_categories", "x,ratio\n" + rows, "--categorical", "ratio")
    assert "column 'ratio'" in err and "300 of another type" in err
    assert not (tmp_path / "references" / "kws").exists()      # nothing half-written


def test_read_only_commands_refuse_a_data_dir_that_does_not_exist(tmp_path, capsys):
    missing = str(tmp_path / "typo")
    for argv in (["analyze", "--once"], ["alerts", "list"], ["keys", "list"]):
        rc = main([*argv, "--data-dir", missing])
        err = capsys.readouterr().err
        assert rc != 0 and f"--data-dir {missing} does not exist" in err, (argv, err)
    assert not (tmp_path / "typo").exists()            # nothing created


def test_a_typo_in_a_config_section_is_an_error(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[analytic]\nwindow_s = 60\n")
    assert main(["analyze", "--once", "--config", str(cfg), "--data-dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "unknown section [analytic]" in err and "[analytics]" in err


def test_status_prints_the_current_verdicts_since_when_and_the_features(
        tmp_path, capsys, built):  # noqa: F811
    import datetime as dt
    import json

    from analytics.config import AnalyticsConfig
    from analytics.job import run_analysis
    from analytics.reference import ReferenceStore

    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    write(paths.dataset, fleet(built.spec, windows=8, devices=3, records=150, window_ms=600_000,
                               drift_from=5))
    run_analysis(AnalyticsConfig(window_s=600, reports=False, segment_tags=()), paths,
                 now_ms=BASE_MS + 24 * 3_600_000)
    assert main(["status", "--json", "--data-dir", str(tmp_path)]) == 0
    state = json.loads(capsys.readouterr().out)
    [drift] = [v for v in state["verdicts"] if v["kind"] == "drift"]
    onset = dt.datetime.fromtimestamp((BASE_MS + 5 * 600_000) / 1000, dt.UTC)
    assert drift["state"] == "drift" and drift["since"] == f"{onset:%Y-%m-%dT%H:%M:%SZ}"
    assert [f["feature"] for f in drift["features"]] == ["temp"]
    assert state["passes"] == 1 and state["last_pass"]
    assert main(["status", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("DRIFT"))
    assert "kws" in line and "temp wasserstein" in line and f"{onset:%Y-%m-%dT%H:%M}" in line
