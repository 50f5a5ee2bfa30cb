"""Fixtures for the dashboard tests.

``pipeline_dir`` (session): a data dir filled by the real pipeline (see
``dashboard_fleet.py``). ``demo`` (session): ``edgedrift demo`` run in a subprocess (40
devices x 12 h: drift injected in kws ``rms`` on firmware 2.1, alerts delivered to the
demo's webhook receiver). ``chromium`` (session): the path of Debian's chromium; on a
CI machine (``CI=true``) running as root with apt-get it is installed (bounded by a
timeout), otherwise the browser tests are skipped with the reason. ``dashboard_server``
starts ``edgedrift dashboard`` in a subprocess and yields its URL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dashboard_fleet import build_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """A data dir built by SDK -> embedded sink -> analytics -> alerts (and what was built)."""
    root = tmp_path_factory.mktemp("dashboard-data")
    return build_data_dir(root)


@pytest.fixture(scope="session")
def pipeline_dir(pipeline) -> Path:
    return Path(pipeline["paths"].root)


@pytest.fixture(scope="session")
def chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    can_install = (os.environ.get("CI") == "true" and hasattr(os, "geteuid")
                   and os.geteuid() == 0 and shutil.which("apt-get"))
    if not can_install:
        pytest.skip(f"{CHROMIUM} is missing; install Debian's chromium "
                    "(apt-get install -y chromium) or run with CI=true as root")
    try:
        subprocess.run(["apt-get", "update"], check=True, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       check=True, timeout=600, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env={**os.environ,
                                                       "DEBIAN_FRONTEND": "noninteractive"})
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install chromium: {exc}")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium installed but {CHROMIUM} is missing")
    return CHROMIUM




@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict[str, object]:
    """``edgedrift demo`` (the real pipeline end to end) on a small fleet."""
    root = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run([sys.executable, "-m", "edgedrift", "demo", "--data-dir", str(root),
                          "--devices", "40", "--hours", "12", "--quiet"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    data = root / "demo"
    return {"data_dir": data, "config": data / "edgedrift.toml", "summary": out.stdout}
