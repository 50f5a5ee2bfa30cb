"""The two distributions built from this repository, as a user gets them.

- ``edgedrift-sdk`` (``sdk/pyproject.toml``): the ``edge_sdk`` modules and a msgpack
  dependency, nothing else; a pure-Python wheel of at most 100 KB.
- ``edgedrift`` (the root): the server packages' modules, depending on ``edgedrift-sdk`` of
  the same version, with the ``server``, ``s3`` and ``dev`` extras; an editable install of a
  checkout (the README's commands) covers ``edge_sdk`` too and needs no index serving
  edgedrift-sdk.

Neither wheel carries anything from the working tree (the default data dir with device keys,
stray TOML files). The wheels are built offline (``--no-build-isolation``) in a throwaway venv
holding setuptools and wheel, then installed into fresh venvs: the SDK wheel adds exactly
two distributions, and on the base install of the server (no extras) every server command
exits 2 with one line naming the extra, never a traceback.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_PACKAGES = ("collector", "analytics", "dashboard", "edgedrift")
SDK_MAX_BYTES = 100 * 1024
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVER_HINT = "pip install 'edgedrift[server]'"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Built:
    src: Path                   # the checkout copy the wheels were built from
    files: tuple[str, ...]      # its files (relative paths)
    sdk: Path                   # edgedrift_sdk-*.whl
    server: Path                # edgedrift-*.whl
    build_python: Path          # the build venv's interpreter


def _pip(python: Path | str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """pip of this interpreter acting on ``python``'s environment (pip --python)."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *args],
                          capture_output=True, text=True, timeout=timeout)


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=60)
    return path / "bin" / "python"


def _metadata(wheel: Path) -> email.message.Message:
    archive = zipfile.ZipFile(wheel)
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(archive.read(name).decode())


def _base_requirements(meta: email.message.Message) -> list[str]:
    return [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Both wheels, built from a copy of the checkout with a data dir full of secrets."""
    base = tmp_path_factory.mktemp("packaging")
    build_python = _venv(base / "buildenv")
    proc = _pip(build_python, "install", "-q", "setuptools>=68", "wheel")
    if proc.returncode != 0:
        pytest.skip(f"setuptools/wheel not installable here (no package index): "
                    f"{proc.stderr.strip()[-300:]}")
    src = base / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    files = [f for f in files if (ROOT / f).is_file()]
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    secrets = src / "edgedrift-data"                 # what `edgedrift demo` leaves behind
    secrets.mkdir()
    (secrets / "keys.json").write_text('{"keys": [{"key": "edk_secret"}]}')
    (secrets / "edgedrift.toml").write_text("[alerts]\n")
    (src / "edgedrift" / "local.toml").write_text("x = 1\n")     # untracked, in a package
    (src / "edge_sdk" / "local.toml").write_text("x = 1\n")
    out = base / "dist"
    env = {**os.environ, "EDGEDRIFT_NO_EXT": "1"}
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(build_python), "wheel",
                           "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                           str(src / "sdk"), str(src)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [sdk] = out.glob("edgedrift_sdk-*.whl")
    [server] = out.glob("edgedrift-*.whl")
    return Built(src, tuple(files), sdk, server, build_python)


def test_sdk_wheel_is_edge_sdk_and_msgpack_only(built: Built) -> None:
    assert built.sdk.name == f"edgedrift_sdk-{VERSION}-py3-none-any.whl"   # pure Python
    names = zipfile.ZipFile(built.sdk).namelist()
    shipped = {n for n in names if ".dist-info/" not in n}
    tracked = {f for f in built.files if f.startswith("edge_sdk/") and f.endswith(".py")}
    assert shipped == tracked                         # every SDK module, nothing else
    assert "Root-Is-Purelib: true" in zipfile.ZipFile(built.sdk).read(
        next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    meta = _metadata(built.sdk)
    assert (meta["Name"], meta["Version"]) == ("edgedrift-sdk", VERSION)
    assert meta.get_all("Requires-Dist") == ["msgpack>=1.0"]
    assert not meta.get_all("Provides-Extra")
    size = built.sdk.stat().st_size
    assert size <= SDK_MAX_BYTES, f"SDK wheel is {size} bytes"


def test_server_wheel_holds_the_server_packages_and_depends_on_the_sdk(built: Built) -> None:
    names = zipfile.ZipFile(built.server).namelist()
    shipped = [n for n in names if ".dist-info/" not in n]
    assert shipped and all(n.endswith(".py") for n in shipped), \
        [n for n in shipped if not n.endswith(".py")]
    assert {n.split("/")[0] for n in shipped} == set(SERVER_PACKAGES)
    assert not any("edgedrift-data" in n or "keys.json" in n for n in names)
    tracked = {f for f in built.files if f.endswith(".py") and f.split("/")[0] in SERVER_PACKAGES}
    assert set(shipped) == tracked                    # every module, nothing else
    meta = _metadata(built.server)
    assert (meta["Name"], meta["Version"]) == ("edgedrift", VERSION)
    assert _base_requirements(meta) == [f"edgedrift-sdk=={VERSION}"]
    assert set(meta.get_all("Provides-Extra") or []) == {"server", "s3", "dev"}
    server = [r.split(";")[0].strip() for r in meta.get_all("Requires-Dist") or []
              if 'extra == "server"' in r]
    for needed in ("uvicorn", "pyarrow", "duckdb", "streamlit", "httpx"):
        assert any(r.startswith(needed) for r in server), needed
    entry = zipfile.ZipFile(built.server).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "edgedrift = edgedrift.cli:main" in entry


def test_sdk_and_server_versions_are_equal() -> None:
    sdk = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]
    assert sdk["version"] == VERSION
    assert sdk["dependencies"] == ["msgpack>=1.0"]


def test_an_editable_checkout_install_covers_edge_sdk_without_the_sdk_distribution(
        built: Built, tmp_path: Path) -> None:
    """The README's `pip install -e '.[dev]'` on a clean clone: no index serves edgedrift-sdk,
    so the editable install provides edge_sdk from the checkout and depends on msgpack."""
    script = (
        "import sys, zipfile; sys.path.insert(0, 'build_backend')\n"
        "import edgedrift_build as b\n"
        f"d = b.prepare_metadata_for_build_editable({str(tmp_path)!r})\n"
        f"meta = open({str(tmp_path)!r} + '/' + d + '/METADATA').read()\n"
        f"w = b.build_editable({str(tmp_path)!r})\n"
        f"z = zipfile.ZipFile({str(tmp_path)!r} + '/' + w)\n"
        "finder = [z.read(n).decode() for n in z.namelist() if n.endswith('finder.py')]\n"
        "print('=META=' + meta.split('\\n\\n')[0] + '=FINDER=' + ''.join(finder))\n")
    proc = subprocess.run([str(built.build_python), "-c", script], cwd=built.src,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EDGEDRIFT_NO_EXT": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta_text, finder = proc.stdout.split("=META=", 1)[1].split("=FINDER=", 1)
    meta = email.parser.Parser().parsestr(meta_text + "\n")
    assert _base_requirements(meta) == ["msgpack>=1.0"]
    assert f"'edge_sdk': '{built.src / 'edge_sdk'}'" in finder   # from the checkout


def test_installing_the_sdk_wheel_adds_exactly_two_distributions(built: Built,
                                                                 tmp_path: Path) -> None:
    python = _venv(tmp_path / "device")
    proc = _pip(python, "install", "-q", str(built.sdk))
    if proc.returncode != 0 and "msgpack" in proc.stderr:
        pytest.skip(f"msgpack not installable here (no package index): {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = _pip(python, "list", "--format=freeze").stdout.split()
    assert sorted(line.split("==")[0].lower() for line in listed) == ["edgedrift-sdk", "msgpack"]
    check = subprocess.run([str(python), "-I", "-c", (
        "import edge_sdk, importlib.util as u; from edge_sdk import Monitor\n"
        "print([m for m in ('collector', 'analytics', 'edgedrift', 'numpy') if u.find_spec(m)])")],
        capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "[]"


# every server command with arguments that would otherwise get it going
SERVER_COMMANDS = [
    ["demo"], ["gateway"], ["sink", "--kafka", "127.0.0.1:1"], ["compact"],
    ["compact", "--dry-run"],
    ["reference", "build", "kws", "1.0", "--input", "train.csv"], ["analyze", "--once"],
    ["backtest", "--input", "h.csv", "--timestamp", "ts", "--model", "m", "--version", "1",
     "--reference", "r.csv"],
    ["status"], ["alerts", "list"], ["webhook", "listen"], ["dashboard"],
    ["--data-dir", "somewhere", "analyze", "--once"],
]


def test_server_commands_on_the_base_install_name_the_extra(built: Built, tmp_path: Path) -> None:
    python = _venv(tmp_path / "base")
    proc = _pip(python, "install", "-q", str(built.sdk), str(built.server))
    if proc.returncode != 0 and "msgpack" in proc.stderr:
        pytest.skip(f"msgpack not installable here (no package index): {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = _pip(python, "list", "--format=freeze").stdout.split()
    assert sorted(line.split("==")[0].lower() for line in listed) == [
        "edgedrift", "edgedrift-sdk", "msgpack"]
    edgedrift = str(python.parent / "edgedrift")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for argv in SERVER_COMMANDS:
        run = subprocess.run([edgedrift, *argv], cwd=work, capture_output=True, text=True,
                             timeout=60, env=env)
        where = f"edgedrift {' '.join(argv)}: {run.stderr!r}"
        assert run.returncode == 2, where
        assert "Traceback" not in run.stderr + run.stdout, where
        assert len(run.stderr.strip().splitlines()) == 1 and SERVER_HINT in run.stderr, where
    assert not list(work.iterdir()), "a refused command left files behind"
    # what needs the standard library only works
    for argv in (["--help"], ["--version"], ["keys", "add", "dev-1"], ["keys", "list"],
                 ["init"]):
        run = subprocess.run([edgedrift, *argv], cwd=work, capture_output=True, text=True,
                             timeout=60, env=env)
        assert run.returncode == 0, (argv, run.stderr)
    assert (work / "edgedrift.toml").exists() and (work / "edgedrift-data" / "keys.json").exists()
