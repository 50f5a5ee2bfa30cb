"""A wheel built from a checkout holds the five packages' modules and nothing from the working
tree: not the default data dir (device keys, webhook secrets), no JSON or TOML files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_sdk", "collector", "analytics", "dashboard", "edgedrift")


@pytest.mark.slow
def test_a_wheel_from_a_checkout_ships_no_data_dir(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    secrets = src / "edgedrift-data"                 # what `edgedrift demo` leaves behind
    secrets.mkdir()
    (secrets / "keys.json").write_text('{"keys": [{"key": "edk_secret"}]}')
    (secrets / "edgedrift.toml").write_text("[alerts]\n")
    (src / "edgedrift" / "local.toml").write_text("x = 1\n")     # untracked, in a package
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(out), str(src)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "EDGEDRIFT_NO_EXT": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = out.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = [n for n in names if ".dist-info/" not in n]
    assert shipped and all(n.endswith(".py") for n in shipped), \
        [n for n in shipped if not n.endswith(".py")]
    assert {n.split("/")[0] for n in shipped} == set(PACKAGES)
    assert not any("edgedrift-data" in n or "keys.json" in n for n in names)
    tracked = {f for f in files if f.endswith(".py") and f.split("/")[0] in PACKAGES}
    assert set(shipped) == tracked                    # every module, nothing else
