"""``edgedrift dashboard``: run the Streamlit app over a data dir (a child process).

The child is ``python -m streamlit run dashboard/app.py`` with headless mode on and
usage statistics off; the data dir and config file reach the app through
``EDGEDRIFT_DATA_DIR`` / ``EDGEDRIFT_CONFIG``. SIGINT/SIGTERM are passed on.

>>> cmd = streamlit_command(DashboardConfig(host="127.0.0.1", port=8600))
>>> cmd[1:4], cmd[cmd.index("--server.port") + 1], cmd[cmd.index("--browser.gatherUsageStats") + 1]
(['-m', 'streamlit', 'run'], '8600', 'false')
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from edgedrift.command import ensure_port_free

from .config import ENV_CONFIG, ENV_DATA_DIR, DashboardConfig, load

APP = Path(__file__).resolve().parent / "app.py"
ROOT = APP.parent.parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8501)")
    parser.add_argument("--refresh-s", type=float, dest="refresh_s",
                        help="pages refresh this often (default 30)")


def streamlit_command(cfg: DashboardConfig) -> list[str]:
    """The child process's command line."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.address", cfg.host, "--server.port", str(cfg.port),
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer", "--client.showSidebarNavigation", "false"]


def child_env(cfg: DashboardConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: data dir and config as absolute paths, the project importable."""
    env = dict(os.environ if base is None else base)
    env[ENV_DATA_DIR] = str(Path(cfg.data_dir).resolve())
    if cfg.config_file:
        env[ENV_CONFIG] = str(Path(cfg.config_file).resolve())
    else:
        env.pop(ENV_CONFIG, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def run(args: argparse.Namespace) -> int:
    cfg = load(args.data_dir, args.config, {"host": args.host, "port": args.port,
                                            "refresh_s": args.refresh_s})
    ensure_port_free(cfg.host, cfg.port)
    print(f"edgedrift dashboard: http://{cfg.host}:{cfg.port}/  (data dir {cfg.data_dir})",
          flush=True)
    child = subprocess.Popen(streamlit_command(cfg), env=child_env(cfg))

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
