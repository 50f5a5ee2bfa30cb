"""Every `edgedrift` command either works or explains itself in one line.

Each case runs the real command as a subprocess with a mistake a user makes (a data dir that
does not exist, a typo in the config, a bad flag, a port already taken, a file that is not
there, a broker that is down) and checks: the exit code, no traceback, exactly one line on
stderr, and that the line names what is wrong. Global flags work before or after the
command. (The base install without the server extra is covered in tests/test_packaging.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def edgedrift(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m edgedrift ARGV`` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    for name in ("EDGEDRIFT_CONFIG", "EDGEDRIFT_DATA_DIR", "EDGEDRIFT_LOG_LEVEL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "edgedrift", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A port another process (here: a socket of this one) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with an empty data dir, a config with a typo and a too-small CSV."""
    root = tmp_path_factory.mktemp("cli")
    (root / "data").mkdir()
    (root / "typo.toml").write_text("[gatway]\nport = 8081\n")
    (root / "badkey.toml").write_text("[gateway]\nprot = 8081\n")
    (root / "tiny.csv").write_text("rms,mic\n0.1,front\n")
    (root / "edgedrift.toml").write_text("# exists\n")
    return root


# (argv, expected exit code, a fragment the one line must hold)
CASES: list[tuple[list[str], int, str]] = [
    # a data dir that does not exist: read-only commands refuse it, before or after the command
    (["--data-dir", "nodir", "keys", "list"], 1, "--data-dir nodir does not exist"),
    (["keys", "list", "--data-dir", "nodir"], 1, "--data-dir nodir does not exist"),
    (["analyze", "--once", "--data-dir", "nodir"], 1, "--data-dir nodir does not exist"),
    (["status", "--data-dir", "nodir"], 1, "--data-dir nodir does not exist"),
    (["alerts", "list", "--data-dir", "nodir"], 1, "--data-dir nodir does not exist"),
    (["compact", "--data-dir", "nodir"], 1, "--data-dir nodir does not exist"),
    (["--data-dir", "nodir", "compact", "--dry-run"], 1, "--data-dir nodir does not exist"),
    # config files
    (["--config", "typo.toml", "keys", "list", "--data-dir", "data"], 1,
     "unknown section [gatway]; valid sections are"),
    (["gateway", "--config", "badkey.toml", "--port", "0"], 1,
     "gateway.prot: unknown setting; valid settings are"),
    (["--config", "missing.toml", "keys", "list", "--data-dir", "data"], 1,
     "--config: cannot read missing.toml"),
    # bad flags and values
    (["analyze", "--bogus"], 2, "edgedrift analyze: unrecognized arguments: --bogus"),
    (["--bogus"], 2, "unrecognized arguments: --bogus"),
    (["keys", "bogus"], 2, "invalid choice: 'bogus'"),
    (["nocommand"], 2, "invalid choice: 'nocommand'"),
    (["--log-level", "LOUD", "status"], 2, "--log-level: invalid choice"),
    (["analyze", "--once", "--window", "7x", "--data-dir", "data"], 1, "analytics.window"),
    (["analyze", "--every", "-5", "--data-dir", "data"], 1, "--every: got -5.0"),
    (["gateway", "--port", "99999"], 1, "port: got 99999"),
    (["gateway", "--port", "0", "--tls-cert", "no.pem", "--tls-key", "no.pem"], 1,
     "--tls-cert no.pem: no such file"),
    (["webhook", "listen", "--port", "0"], 1, "--secret"),
    # input files
    (["reference", "build", "kws", "1.0", "--input", "missing.csv", "--data-dir", "data"], 1,
     "--input: got 'missing.csv'"),
    (["reference", "build", "kws", "1.0", "--input", "tiny.csv", "--data-dir", "data"], 1,
     "expected at least 200 rows"),
    (["backtest", "--input", "missing.csv", "--timestamp", "ts", "--model", "m", "--version",
      "1", "--reference", "tiny.csv"], 1, "--input"),
    (["alerts", "show", "42", "--data-dir", "data"], 1, "alert 42: not found"),
    (["init"], 1, "edgedrift.toml already exists"),
    # unreachable services
    (["demo", "--kafka", "127.0.0.1:1", "--quiet", "--data-dir", "demo-data"], 1,
     "Kafka broker unreachable at 127.0.0.1:1"),
]


def _check(run: subprocess.CompletedProcess, code: int, fragment: str, where: str) -> None:
    assert "Traceback" not in run.stderr + run.stdout, where
    assert run.returncode == code, where
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, where
    assert fragment in lines[0], where
    assert lines[0].startswith("edgedrift"), where


def test_every_failure_is_one_line_without_a_traceback(work: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda case: edgedrift(*case[0], cwd=work), CASES))
    for (argv, code, fragment), run in zip(CASES, runs, strict=True):
        _check(run, code, fragment, f"edgedrift {' '.join(argv)} -> {run.returncode}: "
                                    f"{run.stderr!r}")
    assert not (work / "nodir").exists(), "a refused command created the data dir"
    assert not (work / "edgedrift-backtest").exists(), "the refused backtest wrote its --out"
    assert not (work / "demo-data").exists(), "the refused demo created its data dir"


@pytest.mark.parametrize("argv", [["gateway"], ["webhook", "listen", "--secret",
                                                "whsec_" + "A" * 44], ["dashboard"]])
def test_a_port_in_use_is_named(argv: list[str], taken_port: int, work: Path) -> None:
    run = edgedrift(*argv, "--port", str(taken_port), "--data-dir", "data", cwd=work)
    _check(run, 1, f"--port {taken_port}: 127.0.0.1:{taken_port} is already in use",
           f"{argv}: {run.stderr!r}")
    assert "gateway ready" not in run.stdout + run.stderr


def test_global_flags_work_before_and_after_the_command(tmp_path: Path) -> None:
    work = tmp_path
    (work / "data").mkdir()
    before = edgedrift("--data-dir", "data", "--log-level", "WARNING", "keys", "list", cwd=work)
    after = edgedrift("keys", "list", "--data-dir", "data", "--log-level=WARNING", cwd=work)
    middle = edgedrift("keys", "--data-dir", "data", "list", cwd=work)
    for run in (before, after, middle):
        assert run.returncode == 0, run.stderr
        assert run.stdout == before.stdout
    assert not (work / "edgedrift-data").exists(), "--data-dir was ignored"
