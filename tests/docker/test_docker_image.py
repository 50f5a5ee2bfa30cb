"""The Dockerfile: a slim, non-root, multi-stage build whose ``pip wheel`` really packages
every module (see test_compose_file.py for what the folder is checked against).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from docker_files import (
    BUILD_DIRS,
    DOCKER,
    PACKAGES,
    ROOT,
    dockerfile_env,
    parse_dockerfile,
)


# -- tests: the Dockerfile --------------------------------------------------------------------
def test_dockerfile_is_multi_stage_slim_and_non_root():
    stages = parse_dockerfile()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder["name"] == "builder"
    assert any(i == "RUN" and "pip wheel" in r for i, r in builder["instructions"])
    assert runtime["base"] == "python:3.11-slim"
    instrs = runtime["instructions"]
    installs = [r for i, r in instrs if i == "RUN" and "pip install" in r]
    assert installs and all("--no-index" in r and "edgedrift[server]" in r for r in installs)
    assert any("from=builder" in r for r in installs), "wheels come from the builder stage"
    run_text = " ".join(r for i, r in instrs if i == "RUN")
    for tool in ("build-essential", "gcc", "g++", "make ", "git "):
        assert tool not in run_text, f"{tool.strip()} in the runtime stage"
    # the builder compiles the sink's C accelerator into the wheel (its build is optional:
    # without a compiler the image would silently get the slow path)
    builder_runs = " ".join(r for i, r in builder["instructions"] if i == "RUN")
    assert "gcc" in builder_runs and "libc6-dev" in builder_runs
    users = [r for i, r in instrs if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [r for i, r in instrs if i == "ENTRYPOINT"] == ['["edgedrift"]']
    health = [r for i, r in instrs if i == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert not [i for i, _ in instrs if i == "VOLUME"], "VOLUME leaves anonymous volumes"
    assert dockerfile_env(runtime).get("EDGEDRIFT_DATA_DIR") == "/data"


def test_dockerfile_copies_only_what_the_wheel_needs_and_the_context_keeps_it():
    stages = parse_dockerfile()
    copied = []
    for instr, rest in stages[0]["instructions"]:
        if instr == "COPY" and "--from" not in rest:
            copied += rest.split()[:-1]
    names = {c.rstrip("/") for c in copied}
    assert names == {"pyproject.toml", "setup.py", "README.md", *BUILD_DIRS, *PACKAGES}, names
    for name in names:
        assert (ROOT / name).exists(), name
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for name in names:
        assert f"!{name}" in ignore or f"!{name}/" in ignore, f"{name} is excluded from the context"


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for pkg in (*BUILD_DIRS, *PACKAGES):
        shutil.copytree(ROOT / pkg, dest / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return dest


def test_packaging_config_ships_every_module(tmp_path):
    """The packages setup.py's ``find_packages`` selects (the server's four; sdk/ ships
    edge_sdk) cover every module (no folder left out)."""
    import setuptools

    src = _copy_sources(tmp_path / "src")
    assert tomllib.loads((src / "sdk" / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"] == ["edge_sdk"]
    found = set(setuptools.find_packages(where=str(src), include=[
        f"{p}{tail}" for p in PACKAGES if p != "edge_sdk" for tail in ("", ".*")]))
    found |= {"edge_sdk"}
    missing = sorted({str(p.parent.relative_to(src)).replace("/", ".") for pkg in PACKAGES
                      for p in (src / pkg).rglob("*.py")} - found)
    assert not missing, f"packages left out of the wheel (no __init__.py?): {missing}"


def test_builder_wheel_packages_every_module(tmp_path):
    """The builder's ``pip wheel`` on the real sources (offline, no deps): every module ships."""
    src = _copy_sources(tmp_path / "src")
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(out), str(src / "sdk"), str(src)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sdk_whl,) = out.glob("edgedrift_sdk-*.whl")
    (whl,) = out.glob("edgedrift-*.whl")
    archive = zipfile.ZipFile(whl)
    names = set(archive.namelist()) | set(zipfile.ZipFile(sdk_whl).namelist())
    missing = sorted(str(p.relative_to(src)) for pkg in PACKAGES
                     for p in (src / pkg).rglob("*.py") if str(p.relative_to(src)) not in names)
    assert not missing, f"not in the wheel (a folder without __init__.py?): {missing}"
    meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))  # server's
    assert "Provides-Extra: server" in archive.read(meta).decode()
    entry = archive.read(meta.replace("METADATA", "entry_points.txt")).decode()
    assert "edgedrift = edgedrift.cli:main" in entry


# -- tests: the documentation's commands --------------------------------------------------------
